"""Every edge of graysignal: sources, sinks, rule files, reports and the command line."""
