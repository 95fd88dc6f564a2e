"""``graysignal run``: the long-running evaluator, modelled on Prometheus's rule manager."""
