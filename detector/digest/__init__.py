"""The weekly drift digest: what drifted, what is still drifting, what recovered.

Gray signals are rarely worth paging anyone for; they are worth a calm weekly read. This
package turns what the engine saw (a :class:`~detector.replay.ReplayResult` over the
period and the weeks before it, plus firings a daemon recorded) into a ranked,
sectioned :class:`Digest`. It is pure: no clock, no files, no network; renderers and
delivery live in ``adapters/digest/``. The rules are documented in docs/digest.md:

- an *item* is one alert (rule x series x kind);
- **new this week**: firing at the end of the period, not at the end of the one before;
- **still drifting**: firing at the end of both; ``weeks`` counts the consecutive
  periods that ended with it firing (from the previous digest's stored summary when
  there is one, else from the evaluation of the preceding weeks). A drift the detector
  has stopped flagging (its new level is the window's normal) stays here as long as the
  series is nearer the drifted level than the level before it (the summary keeps both);
- **recovered**: firing at some time in the period, or at the end of the one before,
  and no longer firing at its end, with data showing it; a firing whose level is nearer
  the level before the drift began (the detector flagging the way back) is the recovery,
  not more of the drift;
- **unknown**: an alert whose series has no samples at the end of the period is neither
  recovered nor still drifting; it is carried in the summary and its rule is a blind
  spot;
- **acknowledged / expected**: firing at the end, but a suppression covers its latest
  finding (:func:`detector.suppressions.split_suppressed`);
- **blind spots**: rules that returned no data, failed, or whose data could not speak
  (:func:`detector.replay.data_quality_note`), and rules with a series that went silent
  in the period: no samples in it, samples ending more than :data:`SILENCE_STEPS` steps
  (at least :data:`SILENCE_MIN` seconds) before its end, or samples covering less than
  :data:`COVERAGE_MIN` of it. A rule is "watched and quiet" only with data in the period.

Items are ranked by *impact*: the size of the change times its certainty, then grouped
by the configured labels (``team``, ``service``), groups ordered by their highest-ranked
item. The size is ``|ln(after / before)|`` (``ln(1 + change)``), so halving counts as
much as doubling and a fall to zero is as large as it gets (capped at a factor of
``1 + CHANGE_CAP``); the certainty is ``ln(1 + score / FIRING_SCORE)`` (score capped at
:data:`SCORE_CAP`): a change twice as strong as what fires counts more than one that
barely fires, and a score in the hundreds does not drown the size.

The modules, one job each:

- :mod:`~detector.digest.model`: sections, firings, items, blind spots, the digest;
- :mod:`~detector.digest.build`: :func:`build_digest`, which the others serve;
- :mod:`~detector.digest.activities`: the alerts, from the evaluation and the ledger;
- :mod:`~detector.digest.history`: the weeks before and the previous digest's summary;
- :mod:`~detector.digest.tracking`: one alert's drift, its way back, still drifting or not;
- :mod:`~detector.digest.classify`: each alert's item and section;
- :mod:`~detector.digest.impact` and :mod:`~detector.digest.ranking`: impact, titles, order;
- :mod:`~detector.digest.blind_spots`: rules and series that cannot speak for the period;
- :mod:`~detector.digest.sparklines` and :mod:`~detector.digest.links`: what an item shows
  (the sparkline without the daily wave, when the series has one).

Many drifting series of one rule in one group of a section (sixty pods of a deployment)
are read as one finding: :meth:`Digest.rolled_up` lists the top few and counts the rest
(:data:`~detector.digest.model.ROLLUP_ABOVE`); the JSON rendering keeps every item.
"""

from __future__ import annotations

from detector.digest.build import build_digest
from detector.digest.impact import CHANGE_CAP, FIRING_SCORE, SCORE_CAP
from detector.digest.links import LINK_PLACEHOLDERS, check_link_template, format_link
from detector.digest.model import (
    DEFAULT_GROUP_LABELS,
    DIGEST_VERSION,
    BlindSpot,
    Digest,
    DigestItem,
    Interval,
    RecordedFiring,
    RollUp,
    Section,
    roll_up,
)

__all__ = [
    "CHANGE_CAP",
    "DEFAULT_GROUP_LABELS",
    "DIGEST_VERSION",
    "FIRING_SCORE",
    "LINK_PLACEHOLDERS",
    "SCORE_CAP",
    "BlindSpot",
    "Digest",
    "DigestItem",
    "Interval",
    "RecordedFiring",
    "RollUp",
    "Section",
    "build_digest",
    "check_link_template",
    "format_link",
    "roll_up",
]
