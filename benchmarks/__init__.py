"""graysignal's benchmarks: ``python -m benchmarks`` (``make bench``), see BENCHMARKS.md.

* :mod:`benchmarks.nab`: the Numenta Anomaly Benchmark: corpus, scoring, and the causal
  graysignal run (:mod:`benchmarks.nab.causal`);
* :mod:`benchmarks.leadtime`: slow degradations injected into real series, graysignal
  against the alert rules teams write today;
* :mod:`benchmarks.throughput`: replay, screening and daemon-cycle cost, and memory.
"""
