"""How strong evidence must be before a change is reported, by rule sensitivity.

The evidence is z-like (:mod:`detector.evidence`): the change over its standard error,
with the standard error measured on the series' own history at every time scale, so a
threshold means roughly the same thing on any series. The medium threshold keeps the
quiet corpus silent (white, autocorrelated, heavy-tailed, discrete, bimodal, low-rate
Poisson and seasonal noise: ``tests/test_quiet_corpus.py``) and raises about 5 false
alarms per 100 series-days on the lead-time benchmark's real quiet stretches
(BENCHMARKS.md); ``low`` and ``high`` trade those rates against lead time
(docs/detectors.md, "Thresholds").
"""

from __future__ import annotations

from detector.rule import Rule, Sensitivity

SCORE_THRESHOLD = {Sensitivity.LOW: 7.0, Sensitivity.MEDIUM: 6.0, Sensitivity.HIGH: 4.5}


def threshold(rule: Rule) -> float:
    return SCORE_THRESHOLD[rule.sensitivity]
