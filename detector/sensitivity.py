"""How strong evidence must be before a change is reported, by rule sensitivity.

The evidence is z-like (:mod:`detector.evidence`): the change over its standard error,
with the standard error measured on the series' own history at every time scale, so a
threshold means roughly the same false-alarm rate on any series. The values are
calibrated on noise (white, autocorrelated, wandering, bursty, discrete) to an expected
false-alarm rate per series: ``low`` about one per 90 days, ``medium`` one per 30 days,
``high`` one per 7 days (``benchmarks/calibrate.py``, docs/detectors.md).
"""

from __future__ import annotations

from detector.rule import Rule, Sensitivity

SCORE_THRESHOLD = {Sensitivity.LOW: 7.0, Sensitivity.MEDIUM: 6.0, Sensitivity.HIGH: 4.5}


def threshold(rule: Rule) -> float:
    return SCORE_THRESHOLD[rule.sensitivity]
