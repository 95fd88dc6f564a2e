"""The weekly drift digest's edges (the pure logic is :mod:`detector.digest`).

- :mod:`adapters.digest.collect` evaluates the rules over the period (the replay engine)
  and reads the daemon's ledger;
- :mod:`adapters.digest.markdown`, :mod:`adapters.digest.json_report` and
  :mod:`adapters.digest.slack_blocks` render one digest three ways;
- :mod:`adapters.digest.publish` and :mod:`adapters.digest.slack_poster` post it to Slack
  through the ledger's outbox, once per period and destination;
- :mod:`adapters.digest.settings` and :mod:`adapters.digest.schedule` configure it, and
  :mod:`adapters.digest.scheduler` runs it inside the daemon.

See docs/digest.md.
"""
