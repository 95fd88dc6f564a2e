"""NAB scoring: reward early detection of labelled anomaly windows, punish false alarms.

Reference: A. Lavin and S. Ahmad, "Evaluating Real-time Anomaly Detection
Algorithms -- the Numenta Anomaly Benchmark", IEEE ICMLA 2015 (arXiv:1510.03336),
and the scoring code of the NAB repository (numenta/NAB: ``nab/sweeper.py``,
``nab/scorer.py``, ``nab/optimizer.py``, ``nab/runner.py``, ``nab/util.py``),
whose conventions are followed here where the paper leaves details open. This
is an independent implementation; no NAB code is reused.

How a detector is scored
------------------------
A detector emits one anomaly score per row. Rows whose score is at least a
threshold are *detections*. Every labelled anomaly window is a stretch of rows
around a real anomaly; the detector should fire inside it, the earlier the
better, and nowhere else.

* **Position weighting.** A detection's worth depends on its relative position
  ``y`` through the scaled sigmoid ``S(y) = 2 / (1 + exp(5 y)) - 1``
  (``-1`` for ``y > 3``): about ``+0.987`` at ``y = -1`` (a window's first
  row), ``0`` at ``y = 0`` (its right edge) and towards ``-1`` after it.
* **True positives.** Only the *first* detection in a window counts; later ones
  in the same window add nothing. A detection on row ``i`` of the window
  ``[s, e]`` (``w = e - s + 1`` rows) has ``y = -(e - i + 1) / w`` and is worth
  ``tpWeight * S(y) / S(-1)``: exactly ``tpWeight`` on the first row and a
  little above zero on the last (NAB's ``+ 1`` means ``y`` never reaches 0).
* **False negatives.** A window with no detection costs ``fnWeight``.
* **False positives.** Every detection outside all windows counts. After a
  window ``[s, e]`` it is worth ``fpWeight * S((i - e) / (w - 1))``: close to
  zero just after the window and ``-fpWeight`` once more than three window
  lengths have passed. Before the file's first window it costs ``-fpWeight``.
  (For a one-row window, where NAB would divide by zero, ``w - 1`` is taken
  as 1.)
* **Probation.** The first ``min(floor(0.15 n), 0.15 * 5000)`` rows of an
  ``n``-row file (at most 750) let the detector learn: detections there are
  ignored, and a window lying wholly inside probation is not scored at all.
* **Raw score.** The sum of all those terms over all files.
* **Threshold.** One threshold for the whole corpus and profile, chosen to
  maximise the corpus raw score. NAB's optimiser sweeps every distinct anomaly
  score from high to low; so does :func:`sweep_corpus`, vectorised, so all 58
  files times 3 profiles take well under a second. Ties go to the highest threshold.
* **Normalisation.** ``100 * (raw - null) / (perfect - null)``, where *null* is
  the raw score of a detector that never fires (``-fnWeight`` per scored
  window) and *perfect* that of one firing on the first row of every window
  (``tpWeight`` per labelled window, as NAB's ``runner.normalize`` counts it).
  So the null detector scores 0 and the perfect one 100. (NAB takes *null* from
  its constant-score "null" detector after threshold optimisation; on the NAB
  corpus that optimum is "never fire", the same number.)
* **Profiles.** ``config/profiles.json`` gives three cost matrices:
  ``standard`` (tp 1, fp 0.11, fn 1), ``reward_low_FP_rate`` (fp 0.22) and
  ``reward_low_FN_rate`` (fn 2).

NAB's result files (``results/<detector>/<category>/<detector>_<file>.csv``,
columns ``timestamp,value,anomaly_score,label``) are written and read by
:func:`write_results_dir` and :func:`read_results_dir`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from benchmarks.nab.corpus import Corpus, DataFile, Profile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PROBATION_PERCENT = 0.15
"""Fraction of each file that NAB treats as probationary (``probationPercent``)."""

PROBATION_ROW_SCALE = 5000
"""NAB caps probation at ``probation_percent * 5000`` rows (750 rows at 15 %)."""

NO_DETECTION_THRESHOLD = 1.1
"""Threshold NAB reports for "detect nothing" (above every score in [0, 1])."""

_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
RESULT_COLUMNS = ("timestamp", "value", "anomaly_score", "label")


# --------------------------------------------------------------------------- weights


@overload
def scaled_sigmoid(y: float) -> float: ...
@overload
def scaled_sigmoid(y: FloatArray) -> FloatArray: ...
def scaled_sigmoid(y: float | FloatArray) -> float | FloatArray:
    """NAB's weighting of a relative position: ``2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3``.

    ``y = -1`` is a window's left edge (about ``0.98661``), ``y = 0`` its right
    edge (``0``), ``y > 0`` lies after it (negative, tending to ``-1``).
    """
    arr = np.asarray(y, dtype=np.float64)
    capped = np.minimum(arr, 3.0)  # y > 3 is replaced below; avoids exp overflow
    out: FloatArray = np.where(arr > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * capped)) - 1.0)
    if np.ndim(y) == 0:
        return float(out)
    return out


def probation_length(n_rows: int, probation_percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of an ``n_rows`` file whose detections NAB ignores.

    NAB: ``min(floor(p * n), p * 5000)``; rows with index below it are
    probationary (so at most 750 rows for ``p = 0.15``).
    """
    return min(
        math.floor(probation_percent * n_rows),
        math.ceil(probation_percent * PROBATION_ROW_SCALE),
    )


@dataclass(frozen=True, eq=False)
class RowWeights:
    """What a detection on each row of one file would be worth under one profile.

    ``weight[i]`` is NAB's per-row sweep score: inside a window the TP value if
    row ``i`` were the window's first detection, outside the FP penalty.
    ``window[i]`` is the window index (``-1`` outside every window) and
    ``scorable[i]`` is False on probationary rows.
    """

    weight: FloatArray
    window: IntArray
    scorable: BoolArray


def file_sweep_scores(
    data: DataFile, profile: Profile, probation_percent: float = PROBATION_PERCENT
) -> RowWeights:
    """Per-row NAB weights for ``data`` under ``profile`` (see module docstring)."""
    n = data.n_rows
    rows = np.arange(n, dtype=np.int64)
    window = np.full(n, -1, dtype=np.int64)
    weight = np.full(n, -profile.fp_weight, dtype=np.float64)
    max_tp = scaled_sigmoid(-1.0)
    if data.window_bounds:
        firsts = np.array([b[0] for b in data.window_bounds], dtype=np.int64)
        lasts = np.array([b[1] for b in data.window_bounds], dtype=np.int64)
        widths = lasts - firsts + 1
        for k, (first, last) in enumerate(data.window_bounds):
            window[first : last + 1] = k
            inside = rows[first : last + 1]
            position = -(last - inside + 1) / float(widths[k])
            weight[first : last + 1] = profile.tp_weight * scaled_sigmoid(position) / max_tp
        # False positives after a window: distance past the preceding window's last row.
        previous = np.searchsorted(lasts, rows, side="left") - 1
        after = (window < 0) & (previous >= 0)
        prev_k = previous[after]
        span = np.maximum(widths[prev_k] - 1, 1).astype(np.float64)
        position = (rows[after] - lasts[prev_k]) / span
        weight[after] = profile.fp_weight * scaled_sigmoid(position)
    scorable = rows >= probation_length(n, probation_percent)
    return RowWeights(weight=weight, window=window, scorable=scorable)


# --------------------------------------------------------------------------- one file


@dataclass(frozen=True)
class FileScore:
    """NAB score of one file at one threshold.

    ``tp``/``fp``/``fn``/``tn`` are NAB's row counts over non-probationary rows
    (detected rows inside windows, detected rows outside, undetected rows
    inside, undetected rows outside); ``windows_detected``/``windows_missed``
    count scored windows.
    """

    name: str
    raw: float
    tp: int
    fp: int
    fn: int
    tn: int
    windows_detected: int
    windows_missed: int


def _check_scores(data: DataFile, scores: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape != (data.n_rows,):
        raise ValueError(
            f"{data.name}: expected {data.n_rows} anomaly scores, got shape {arr.shape}"
        )
    return arr


def score_file(
    data: DataFile,
    anomaly_scores: npt.ArrayLike,
    threshold: float,
    profile: Profile,
    probation_percent: float = PROBATION_PERCENT,
) -> FileScore:
    """Score one file; detections are rows with ``anomaly_score >= threshold`` (never NaN)."""
    scores = _check_scores(data, anomaly_scores)
    rw = file_sweep_scores(data, profile, probation_percent)
    with np.errstate(invalid="ignore"):
        detected = (scores >= threshold) & rw.scorable
    outside = rw.window < 0
    fp_rows = detected & outside
    raw = float(rw.weight[fp_rows].sum())
    hit = missed = 0
    for k in range(len(data.window_bounds)):
        in_k = rw.window == k
        if not (in_k & rw.scorable).any():
            continue  # wholly probationary: NAB does not score this window
        hits = np.flatnonzero(detected & in_k)
        if hits.size:
            raw += float(rw.weight[hits[0]])  # only the earliest detection counts
            hit += 1
        else:
            raw -= profile.fn_weight
            missed += 1
    tp = int((detected & ~outside).sum())
    fp = int(fp_rows.sum())
    return FileScore(
        name=data.name,
        raw=raw,
        tp=tp,
        fp=fp,
        fn=int((rw.scorable & ~outside).sum()) - tp,
        tn=int((rw.scorable & outside).sum()) - fp,
        windows_detected=hit,
        windows_missed=missed,
    )


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class ProfileScore:
    """NAB score of a detector over a corpus under one profile at one threshold."""

    profile: str
    threshold: float
    raw: float
    normalized: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int
    tn: int
    windows_detected: int
    windows_missed: int
    files: tuple[FileScore, ...]


def _resolve_profile(corpus: Corpus, profile: str | Profile) -> Profile:
    return profile if isinstance(profile, Profile) else corpus.profile(profile)


def _check_results(results: Mapping[str, npt.ArrayLike], corpus: Corpus) -> None:
    missing = [n for n in corpus.names if n not in results]
    extra = sorted(set(results) - set(corpus.files))
    if missing or extra:
        raise KeyError(f"results do not match the corpus: missing {missing}, unknown {extra}")


def null_and_perfect(
    corpus: Corpus, profile: str | Profile, probation_percent: float = PROBATION_PERCENT
) -> tuple[float, float]:
    """Raw scores of the never-firing detector and of the perfect detector (NAB's baselines).

    null: ``-fnWeight`` for every window that has a non-probationary row.
    perfect: ``tpWeight`` for every labelled window (NAB counts them all).
    """
    prof = _resolve_profile(corpus, profile)
    scored = 0
    for data in corpus.files.values():
        start = probation_length(data.n_rows, probation_percent)
        scored += sum(1 for _, last in data.window_bounds if last >= start)
    return -prof.fn_weight * scored, prof.tp_weight * corpus.n_windows


def normalize(raw: float, null: float, perfect: float) -> float:
    """NAB's normalised score ``100 * (raw - null) / (perfect - null)`` (NaN if undefined)."""
    if perfect == null:
        return math.nan
    return 100.0 * (raw - null) / (perfect - null)


def score_corpus(
    results: Mapping[str, npt.ArrayLike],
    corpus: Corpus,
    profile: str | Profile,
    threshold: float | None = None,
    probation_percent: float = PROBATION_PERCENT,
) -> ProfileScore:
    """Score per-file anomaly scores (``results[name]``, one per row) over the whole corpus.

    With ``threshold=None`` the threshold is first optimised as NAB does (see
    :func:`optimize_threshold`); otherwise the given threshold is used.
    """
    if threshold is None:
        return optimize_threshold(results, corpus, profile, probation_percent)
    _check_results(results, corpus)
    prof = _resolve_profile(corpus, profile)
    files = tuple(
        score_file(corpus.files[n], results[n], threshold, prof, probation_percent)
        for n in corpus.names
    )
    raw = math.fsum(f.raw for f in files)
    null, perfect = null_and_perfect(corpus, prof, probation_percent)
    return ProfileScore(
        profile=prof.name,
        threshold=float(threshold),
        raw=raw,
        normalized=normalize(raw, null, perfect),
        null=null,
        perfect=perfect,
        tp=sum(f.tp for f in files),
        fp=sum(f.fp for f in files),
        fn=sum(f.fn for f in files),
        tn=sum(f.tn for f in files),
        windows_detected=sum(f.windows_detected for f in files),
        windows_missed=sum(f.windows_missed for f in files),
        files=files,
    )


@dataclass(frozen=True, eq=False)
class CorpusSweep:
    """Corpus raw score at every candidate threshold, highest threshold first.

    ``thresholds[0]`` detects nothing; ``thresholds[j]`` for ``j >= 1`` are the
    distinct anomaly scores (descending), each meaning "detect rows with score
    >= it". Counts are as in :class:`FileScore`, summed over the corpus.
    """

    thresholds: FloatArray
    raw: FloatArray
    tp: IntArray
    fp: IntArray
    fn: IntArray
    tn: IntArray
    windows_detected: IntArray

    @property
    def best_index(self) -> int:
        """Index of the maximal raw score (the highest threshold among ties)."""
        return int(np.argmax(self.raw))


def sweep_corpus(
    results: Mapping[str, npt.ArrayLike],
    corpus: Corpus,
    profile: str | Profile,
    probation_percent: float = PROBATION_PERCENT,
) -> CorpusSweep:
    """Evaluate the corpus raw score at every distinct anomaly score, in one vectorised pass.

    Rows of all files are pooled and visited from the highest score down.
    Lowering the threshold past a row adds its FP weight if it lies outside
    the windows; inside a window it raises that window's term to the best TP
    weight seen so far (which is the earliest detection's, as TP weights fall
    through a window), starting from ``-fnWeight``.
    """
    _check_results(results, corpus)
    prof = _resolve_profile(corpus, profile)
    score_parts: list[FloatArray] = []
    weight_parts: list[FloatArray] = []
    group_parts: list[IntArray] = []
    offset = 0
    n_window_rows = n_outside_rows = n_windows = 0
    for name in corpus.names:
        data = corpus.files[name]
        scores = _check_scores(data, results[name])
        rw = file_sweep_scores(data, prof, probation_percent)
        keep = rw.scorable
        inside = rw.window >= 0
        n_window_rows += int((keep & inside).sum())
        n_outside_rows += int((keep & ~inside).sum())
        n_windows += np.unique(rw.window[keep & inside]).size
        keep = keep & ~np.isnan(scores)  # NaN never reaches a threshold
        score_parts.append(scores[keep])
        weight_parts.append(rw.weight[keep])
        group_parts.append(np.where(rw.window[keep] >= 0, rw.window[keep] + offset, -1))
        offset += len(data.window_bounds)

    empty_f = np.empty(0, dtype=np.float64)
    empty_i = np.empty(0, dtype=np.int64)
    all_scores = np.concatenate(score_parts) if score_parts else empty_f
    weights = np.concatenate(weight_parts) if weight_parts else empty_f
    groups = np.concatenate(group_parts) if group_parts else empty_i

    order = np.argsort(-all_scores, kind="stable")
    s = all_scores[order]
    w = weights[order]
    g = groups[order]
    is_fp = g < 0

    step = np.where(is_fp, w, 0.0)
    first_hit = np.zeros(s.size, dtype=bool)
    if (~is_fp).any():
        win_w = pd.Series(w[~is_fp])
        win_g = pd.Series(g[~is_fp])
        running_best = win_w.groupby(win_g).cummax()
        before = running_best.groupby(win_g).shift(1).fillna(-prof.fn_weight)
        step[~is_fp] = (running_best - before).to_numpy(dtype=np.float64)
        first_hit[~is_fp] = ~win_g.duplicated().to_numpy(dtype=bool)

    base = -prof.fn_weight * n_windows
    cum_raw = base + np.cumsum(step)
    cum_fp = np.cumsum(is_fp, dtype=np.int64)
    cum_tp = np.cumsum(~is_fp, dtype=np.int64)
    cum_hit = np.cumsum(first_hit, dtype=np.int64)
    # Only the last row of each run of equal scores is a valid threshold state.
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True)) if s.size else empty_i

    top = float(s[0]) if s.size else 0.0
    nothing = (
        NO_DETECTION_THRESHOLD if top < NO_DETECTION_THRESHOLD else float(np.nextafter(top, np.inf))
    )
    tp = np.concatenate(([0], cum_tp[ends]))
    fp = np.concatenate(([0], cum_fp[ends]))
    return CorpusSweep(
        thresholds=np.concatenate(([nothing], s[ends])),
        raw=np.concatenate(([base], cum_raw[ends])),
        tp=tp,
        fp=fp,
        fn=n_window_rows - tp,
        tn=n_outside_rows - fp,
        windows_detected=np.concatenate(([0], cum_hit[ends])),
    )


def optimize_threshold(
    results: Mapping[str, npt.ArrayLike],
    corpus: Corpus,
    profile: str | Profile,
    probation_percent: float = PROBATION_PERCENT,
) -> ProfileScore:
    """Choose NAB's single corpus-wide threshold that maximises the raw score, and score at it."""
    sweep = sweep_corpus(results, corpus, profile, probation_percent)
    threshold = float(sweep.thresholds[sweep.best_index])
    return score_corpus(results, corpus, profile, threshold, probation_percent)


def score_all_profiles(
    results: Mapping[str, npt.ArrayLike],
    corpus: Corpus,
    probation_percent: float = PROBATION_PERCENT,
) -> dict[str, ProfileScore]:
    """Optimise and score every profile of the corpus (NAB's "optimize" + "score" steps)."""
    return {
        name: optimize_threshold(results, corpus, name, probation_percent)
        for name in sorted(corpus.profiles)
    }


# --------------------------------------------------------------------------- result files


@dataclass(frozen=True, eq=False)
class ResultsFile:
    """Contents of one NAB result CSV."""

    timestamps: npt.NDArray[np.datetime64]
    values: FloatArray
    anomaly_scores: FloatArray
    labels: npt.NDArray[np.int8]


def results_path(results_dir: Path, detector: str, name: str) -> Path:
    """NAB's result location: ``<results_dir>/<detector>/<category>/<detector>_<file>``."""
    rel = Path(name)
    return results_dir / detector / rel.parent / f"{detector}_{rel.name}"


def write_results_csv(path: Path, data: DataFile, anomaly_scores: npt.ArrayLike) -> None:
    """Write ``timestamp,value,anomaly_score,label`` for ``data`` (label 1 inside a window)."""
    scores = _check_scores(data, anomaly_scores)
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(data.timestamps).strftime(_TIMESTAMP_FORMAT),
            "value": data.values,
            "anomaly_score": scores,
            "label": data.labels,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.17g")


def read_results_csv(path: Path) -> ResultsFile:
    """Read a NAB result CSV (extra columns, as some NAB detectors write, are ignored)."""
    frame = pd.read_csv(path)
    absent = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if absent:
        raise ValueError(f"{path}: missing columns {absent}")
    stamps = pd.to_datetime(frame["timestamp"], format="mixed")
    return ResultsFile(
        timestamps=stamps.to_numpy(dtype="datetime64[s]"),
        values=frame["value"].to_numpy(dtype=np.float64),
        anomaly_scores=frame["anomaly_score"].to_numpy(dtype=np.float64),
        labels=frame["label"].to_numpy(dtype=np.int8),
    )


def write_results_dir(
    results_dir: Path, detector: str, results: Mapping[str, npt.ArrayLike], corpus: Corpus
) -> list[Path]:
    """Write one NAB result CSV per corpus file; returns the paths written."""
    _check_results(results, corpus)
    paths = []
    for name in corpus.names:
        path = results_path(results_dir, detector, name)
        write_results_csv(path, corpus.files[name], results[name])
        paths.append(path)
    return paths


def read_results_dir(
    results_dir: Path, detector: str, corpus: Corpus, names: Sequence[str] | None = None
) -> dict[str, FloatArray]:
    """Read a detector's NAB result CSVs back as ``{name: anomaly_scores}``.

    Each file's timestamps must match the corpus file row for row.
    """
    out: dict[str, FloatArray] = {}
    for name in names if names is not None else corpus.names:
        res = read_results_csv(results_path(results_dir, detector, name))
        data = corpus.files[name]
        if res.timestamps.shape != data.timestamps.shape or not np.array_equal(
            res.timestamps, data.timestamps
        ):
            raise ValueError(f"{name}: result timestamps do not match the corpus file")
        out[name] = res.anomaly_scores
    return out
