"""Backtests of the incident library: would today's rules have caught past incidents?

- :mod:`~adapters.backtest.library`: incident files on disk (``incidents/*.yaml``);
- :mod:`~adapters.backtest.engine`: replaying each incident through the ordinary replay
  engine, verdicts, quiet-week false alarms, trends by category;
- :mod:`~adapters.backtest.baseline`: regression-testing rule changes against a baseline;
- :mod:`~adapters.backtest.story` and :mod:`~adapters.backtest.leadlag`: the story of one
  incident (timeline, first mover, lead-lag hints, change events);
- :mod:`~adapters.backtest.wording`, ``markdown``, ``terminal``, ``json_report``: reports;
- :mod:`~adapters.backtest.scenarios`: the generated scenarios of the example library.

The schema of an incident and the service matchers are pure and live in
:mod:`detector.incident`.
"""

DEFAULT_QUIET_WEEKS = 4
"""Quiet weeks replayed for the false-alarm rate; here, not in the engine, so that
``graysignal backtest --help`` can show it without importing the engine."""
