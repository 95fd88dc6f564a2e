"""Load the Numenta Anomaly Benchmark corpus: data files, anomaly windows, profiles.

A NAB checkout (MIT licence) has this layout, all of which is read here:

* ``data/<category>/<file>.csv`` -- 58 files with columns ``timestamp,value``;
  a file is named by its path relative to ``data/``, e.g.
  ``realKnownCause/nyc_taxi.csv``.
* ``labels/combined_windows.json`` -- for every file, the list of labelled
  anomaly windows as ``[start, end]`` timestamp strings (both inclusive).
* ``config/profiles.json`` -- the three application profiles (``standard``,
  ``reward_low_FP_rate``, ``reward_low_FN_rate``) and their cost matrices.

The corpus root defaults to ``shared/datasets/nab`` beside the project checkout
and can be overridden with the ``GRAYSIGNAL_NAB_ROOT`` environment variable.

NAB's scorer locates a window by the rows whose timestamps equal its limits
(the first row with that timestamp; some NAB files repeat a timestamp). Every
window of the real corpus matches rows exactly; for hand-made windows that do
not, the window is taken to cover the rows with ``start <= timestamp <= end``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

NAB_ROOT_ENV = "GRAYSIGNAL_NAB_ROOT"
"""Environment variable that overrides the corpus root directory."""

WINDOWS_FILE = "combined_windows.json"
"""The label file NAB scores against (under ``labels/``)."""

Window = tuple[np.datetime64, np.datetime64]
"""An anomaly window: inclusive ``(start, end)`` timestamps."""

_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def default_root() -> Path:
    """Return the corpus root: ``$GRAYSIGNAL_NAB_ROOT`` or ``<checkout>/../shared/datasets/nab``."""
    override = os.environ.get(NAB_ROOT_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "nab"


@dataclass(frozen=True)
class Profile:
    """One NAB application profile: the weights of its cost matrix.

    ``tn_weight`` is carried for completeness; NAB's score does not use it.
    """

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float = 1.0

    @classmethod
    def from_cost_matrix(cls, name: str, cost_matrix: Mapping[str, Any]) -> Profile:
        """Build a profile from a NAB ``CostMatrix`` mapping (``tpWeight`` ...)."""
        return cls(
            name=name,
            tp_weight=float(cost_matrix["tpWeight"]),
            fp_weight=float(cost_matrix["fpWeight"]),
            fn_weight=float(cost_matrix["fnWeight"]),
            tn_weight=float(cost_matrix.get("tnWeight", 1.0)),
        )


@dataclass(frozen=True, eq=False)
class DataFile:
    """One NAB data file with its labelled anomaly windows.

    ``timestamps`` are ``datetime64[s]`` in file order (NAB files are ordered
    but a few repeat a timestamp); ``windows`` are sorted, non-overlapping and
    inclusive. ``window_bounds`` holds, for each window, the inclusive row
    indices ``(first, last)`` it covers; it is derived from the timestamps.
    """

    name: str
    timestamps: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float64]
    windows: tuple[Window, ...] = ()
    window_bounds: tuple[tuple[int, int], ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.timestamps.shape != self.values.shape or self.timestamps.ndim != 1:
            raise ValueError(
                f"{self.name}: timestamps {self.timestamps.shape} and values "
                f"{self.values.shape} must be 1-d arrays of equal length"
            )
        object.__setattr__(self, "window_bounds", _window_bounds(self))

    @classmethod
    def from_row_windows(
        cls,
        name: str,
        timestamps: npt.NDArray[np.datetime64],
        values: npt.NDArray[np.float64],
        row_windows: Iterable[tuple[int, int]],
    ) -> DataFile:
        """Build a file whose windows are given as inclusive row-index pairs."""
        windows = tuple((timestamps[first], timestamps[last]) for first, last in row_windows)
        return cls(name=name, timestamps=timestamps, values=values, windows=windows)

    @property
    def n_rows(self) -> int:
        """Number of rows (records) in the file."""
        return int(self.timestamps.shape[0])

    @property
    def labels(self) -> npt.NDArray[np.int8]:
        """Per-row ground truth as in NAB's label column: 1 inside a window, else 0."""
        out = np.zeros(self.n_rows, dtype=np.int8)
        for first, last in self.window_bounds:
            out[first : last + 1] = 1
        return out


@dataclass(frozen=True)
class Corpus:
    """A set of NAB data files (keyed by relative name) and the scoring profiles."""

    files: Mapping[str, DataFile]
    profiles: Mapping[str, Profile]
    root: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Relative names of the data files, sorted."""
        return tuple(sorted(self.files))

    @property
    def n_windows(self) -> int:
        """Total number of labelled windows over all files."""
        return sum(len(f.window_bounds) for f in self.files.values())

    def profile(self, name: str) -> Profile:
        """Return the profile called ``name`` (KeyError listing the known ones)."""
        try:
            return self.profiles[name]
        except KeyError:
            raise KeyError(
                f"unknown NAB profile {name!r}; known: {sorted(self.profiles)}"
            ) from None


def list_data_files(root: Path | None = None) -> list[str]:
    """Relative names (``category/file.csv``, POSIX separators) of all data files, sorted."""
    data_dir = (root or default_root()) / "data"
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"NAB data directory not found: {data_dir} (set {NAB_ROOT_ENV} to the corpus root)"
        )
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.glob("*/*.csv"))


def _parse_timestamp(text: str) -> np.datetime64:
    """Parse NAB's ``YYYY-MM-DD HH:MM:SS[.ffffff]`` label timestamps."""
    return np.datetime64(text.strip().replace(" ", "T"), "us")


def load_windows(
    root: Path | None = None, windows_file: str = WINDOWS_FILE
) -> dict[str, list[Window]]:
    """Read ``labels/<windows_file>``: relative file name -> sorted list of windows."""
    path = (root or default_root()) / "labels" / windows_file
    raw: dict[str, list[Sequence[str]]] = json.loads(path.read_text())
    out: dict[str, list[Window]] = {}
    for name, pairs in raw.items():
        windows = [(_parse_timestamp(p[0]), _parse_timestamp(p[1])) for p in pairs]
        out[name] = sorted(windows)
    return out


def load_profiles(root: Path | None = None) -> dict[str, Profile]:
    """Read ``config/profiles.json``: profile name -> :class:`Profile`."""
    path = (root or default_root()) / "config" / "profiles.json"
    raw: dict[str, dict[str, Mapping[str, Any]]] = json.loads(path.read_text())
    return {name: Profile.from_cost_matrix(name, body["CostMatrix"]) for name, body in raw.items()}


def load_data_file(name: str, windows: Sequence[Window] = (), root: Path | None = None) -> DataFile:
    """Read ``data/<name>`` (columns ``timestamp,value``) and attach ``windows``."""
    path = (root or default_root()) / "data" / name
    frame = pd.read_csv(path)
    stamps = pd.to_datetime(frame["timestamp"], format=_TIMESTAMP_FORMAT)
    timestamps = stamps.to_numpy(dtype="datetime64[s]")
    values = frame["value"].to_numpy(dtype=np.float64)
    return DataFile(name=name, timestamps=timestamps, values=values, windows=tuple(windows))


def load_corpus(
    root: Path | None = None,
    names: Iterable[str] | None = None,
    windows_file: str = WINDOWS_FILE,
) -> Corpus:
    """Load data files, windows and profiles.

    ``names`` restricts the corpus to some files (default: every file under
    ``data/``). Every loaded file must have an entry in the windows file.
    """
    root = root or default_root()
    windows = load_windows(root, windows_file)
    selected = list(names) if names is not None else list_data_files(root)
    missing = [n for n in selected if n not in windows]
    if missing:
        raise KeyError(f"no labelled windows for {missing} in labels/{windows_file}")
    files = {n: load_data_file(n, windows[n], root) for n in sorted(selected)}
    return Corpus(files=files, profiles=load_profiles(root), root=root)


def _window_bounds(data: DataFile) -> tuple[tuple[int, int], ...]:
    """Map each window's timestamps to inclusive row indices (see module docstring)."""
    ts = data.timestamps
    bounds: list[tuple[int, int]] = []
    for start, end in sorted(data.windows):
        exact_first = np.flatnonzero(ts == start)
        exact_last = np.flatnonzero(ts == end)
        inside = np.flatnonzero((ts >= start) & (ts <= end))
        first = int(exact_first[0]) if exact_first.size else (int(inside[0]) if inside.size else -1)
        last = int(exact_last[0]) if exact_last.size else (int(inside[-1]) if inside.size else -1)
        if first < 0 or last < first:
            raise ValueError(f"{data.name}: window {start} .. {end} covers no rows")
        if bounds and first <= bounds[-1][1]:
            raise ValueError(f"{data.name}: window {start} .. {end} overlaps the previous window")
        bounds.append((first, last))
    return tuple(bounds)
