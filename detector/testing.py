"""Builders for tests and docstring examples: a rule and a series in one line each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from detector.rule import Rule
from detector.series import Series

EPOCH = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight, so days align


def make_rule(**fields: Any) -> Rule:
    """A file-source rule with the given fields (``for`` may be passed as ``for_``)."""
    data: dict[str, Any] = {"signal": "TestSignal", "source": "file", "path": "test.csv"}
    if "for_" in fields:
        fields["for"] = fields.pop("for_")
    data.update(fields)
    return Rule.model_validate(data)


def make_series(
    values: npt.ArrayLike,
    step: int = 300,
    start: int = EPOCH,
    labels: Mapping[str, str] | None = None,
) -> Series:
    """A regular series starting at ``start`` (a midnight) with one sample per ``step``."""
    array = np.asarray(values, dtype=np.float64)
    timestamps = start + step * np.arange(array.size, dtype=np.int64)
    return Series(dict(labels or {"series": "test"}), timestamps, array, step)


def daily_pattern(n: int, step: int = 300, amplitude: float = 20.0) -> npt.NDArray[np.float64]:
    """A smooth day/night cycle: high in the afternoon, low at night."""
    seconds = np.arange(n) * step
    return np.asarray(amplitude * np.sin(2 * np.pi * seconds / 86400 - np.pi / 2), dtype=np.float64)
