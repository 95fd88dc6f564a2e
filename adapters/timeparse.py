"""Timestamps as users write them in files and logs, turned into Unix seconds.

Accepted forms (the same for one value and for a whole column):

- RFC 3339 / ISO 8601: ``2026-11-20T10:00:00Z``, ``2026-11-20T10:00:00.123+01:00``;
- the space-separated form NAB's CSVs use, ``2014-04-01 00:05:00`` (naive means UTC);
- log4j-style comma millis, ``2026-11-20 10:00:00,123``;
- Unix seconds as integer or float text, ``1795168800`` or ``1795168800.5``.

Results are whole seconds, floored (``...:00.9`` is ``...:00``), because ``Series`` keeps
integer timestamps so that window arithmetic is exact. Columns are parsed vectorised
with pandas (NAB files have ~22,000 rows, logs millions of lines); only when that fails
do we parse item by item, and then only to name the first bad values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

IntArray: TypeAlias = "npt.NDArray[np.int64]"

ACCEPTED_FORMS = (
    "RFC 3339 (2026-11-20T10:00:00Z, 2026-11-20T10:00:00.123+01:00), "
    "2026-11-20 10:00:00 (naive = UTC), 2026-11-20 10:00:00,123, "
    "or Unix seconds (1795168800 or 1795168800.5)"
)

_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_UNIT_DIVISOR = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
LATEST_TIMESTAMP = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second RFC 3339 can write: a later number is not Unix
seconds (it is usually milliseconds)."""
EARLIEST_TIMESTAMP = -62_135_596_800
"""0001-01-01T00:00:00Z: earlier times cannot even be printed."""
_OUT_OF_RANGE = 2**62
"""Unix seconds this large overflow int64 arithmetic (and are no time at all); callers
that want a tighter bound (a file reader naming milliseconds) check it themselves."""


@dataclass(frozen=True)
class BadTimestamp:
    """One value that did not parse: its position in the input and why."""

    index: int
    text: str
    message: str


class TimestampError(ValueError):
    """Some values of a column did not parse; ``errors`` lists them in input order."""

    def __init__(self, errors: list[BadTimestamp]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(f"value #{first.index}: {first.message}")


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _datetime_to_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_SECOND


def parse_timestamp(text: str, fmt: str | None = None) -> int:
    """Parse one timestamp into Unix seconds (floored).

    ``fmt`` is an optional ``strptime`` format that replaces the accepted forms (for
    logs with their own layout); naive results are UTC either way.
    """
    cleaned = text.strip()
    if fmt is not None:
        try:
            return _datetime_to_seconds(datetime.strptime(cleaned, fmt))
        except ValueError as exc:
            raise ValueError(
                f"invalid timestamp {_cut(text)!r}: does not match format {fmt!r}"
            ) from exc
    if _NUMBER.fullmatch(cleaned):
        seconds = int(cleaned) if re.fullmatch(r"[+-]?\d+", cleaned) else float(cleaned)
        if math.isfinite(seconds) and abs(seconds) < _OUT_OF_RANGE:
            return math.floor(seconds)
        raise ValueError(f"invalid timestamp {_cut(text)!r}: out of range for Unix seconds")
    elif _ISO.fullmatch(cleaned):
        try:
            moment = datetime.fromisoformat(cleaned.upper().replace(",", "."))
        except ValueError:
            pass  # e.g. month 13: same message as any other malformed value
        else:
            return _datetime_to_seconds(moment)
    raise ValueError(f"invalid timestamp {_cut(text)!r}: use {ACCEPTED_FORMS}")


def _vectorised(texts: pd.Series, fmt: str | None) -> IntArray | None:
    """The fast path; ``None`` when any value needs the per-item parser to explain it."""
    import numpy as np  # noqa: PLC0415 - only for whole columns, not for one --at
    import pandas as pd  # noqa: PLC0415

    try:
        if fmt is not None:
            parsed = pd.to_datetime(texts, format=fmt, utc=True)
        elif bool(texts.str.fullmatch(_NUMBER).all()):
            numbers: npt.NDArray[np.float64] = np.asarray(pd.to_numeric(texts), np.float64)
            if not (np.abs(numbers) < _OUT_OF_RANGE).all():  # also false for NaN and inf
                return None
            return np.floor(numbers).astype(np.int64)
        elif bool(texts.str.fullmatch(_ISO).all()):
            normalised = texts.str.upper().str.replace(",", ".", regex=False)
            parsed = pd.to_datetime(normalised, format="ISO8601", utc=True)
        else:
            return None
    except (ValueError, OverflowError, TypeError):
        return None
    index = pd.DatetimeIndex(parsed)
    if index.hasnans:
        return None
    return np.asarray(index.asi8 // _UNIT_DIVISOR[index.unit], dtype=np.int64)


def parse_timestamps(
    values: Sequence[str], fmt: str | None = None, max_errors: int = 1
) -> IntArray:
    """Parse a whole column into Unix seconds (int64, floored).

    Tries pandas on the whole column first; a mixed or faulty column falls back to
    :func:`parse_timestamp` per item, which either succeeds (mixed but valid forms) or
    raises :class:`TimestampError` listing up to ``max_errors`` bad values with their
    0-based index, so callers can point at file lines.
    """
    import numpy as np  # noqa: PLC0415 - only for whole columns, not for one --at
    import pandas as pd  # noqa: PLC0415

    if len(values) == 0:
        return np.empty(0, dtype=np.int64)

    texts = pd.Series(list(values), dtype=object).astype(str).str.strip()
    fast = _vectorised(texts, fmt)
    if fast is not None:
        return fast
    out = np.empty(len(values), dtype=np.int64)
    errors: list[BadTimestamp] = []
    for i, text in enumerate(values):
        try:
            out[i] = parse_timestamp(str(text), fmt)
        except (ValueError, OverflowError) as exc:
            errors.append(BadTimestamp(i, str(text), str(exc)))
            if len(errors) >= max_errors:
                break
    if errors:
        raise TimestampError(errors)
    return out


def format_rfc3339(ts: int) -> str:
    """Render Unix seconds as RFC 3339 in UTC, e.g. ``2026-11-20T10:00:00Z``."""
    return (_EPOCH + timedelta(seconds=int(ts))).strftime("%Y-%m-%dT%H:%M:%SZ")
