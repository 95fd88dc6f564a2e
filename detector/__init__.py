"""graysignal's pure core: series in, findings out. No network, no files, no clock."""
