"""Log lines to per-template count series: masking, mining (drain3), counting, state.

Used by ``source: logfile`` and ``source: loki`` with ``log: {by: pattern}``; see
docs/sources.md, "Log patterns". Nothing here is imported until such a rule runs.
"""
