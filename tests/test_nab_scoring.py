"""NAB scoring checked against hand-computed cases and the real NAB corpus.

Synthetic files have 100 rows and, unless a test says otherwise, one window on
rows 40..49 (10 rows); most tests switch probation off (``probation_percent=0``),
so every expected value below can be worked out on paper from NAB's rules:

* scaled sigmoid ``S(y) = 2 / (1 + exp(5 y)) - 1``;
* a TP on window row ``i`` is worth ``tp * S(-(49 - i + 1) / 10) / S(-1)``;
* an FP on row ``i > 49`` is worth ``fp * S((i - 49) / 9)``, ``-fp`` before the window;
* a missed window costs ``fn``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

_CHECKOUT = str(Path(__file__).resolve().parents[1])
if _CHECKOUT not in sys.path:  # `benchmarks` is not an installed package
    sys.path.insert(0, _CHECKOUT)

from benchmarks.nab import (  # noqa: E402
    Corpus,
    DataFile,
    Profile,
    default_root,
    load_corpus,
    null_and_perfect,
    optimize_threshold,
    probation_length,
    read_results_csv,
    read_results_dir,
    results_path,
    scaled_sigmoid,
    score_corpus,
    score_file,
    sweep_corpus,
    write_results_dir,
)

STANDARD = Profile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LOW_FN = Profile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)
PROFILES = {p.name: p for p in (STANDARD, LOW_FN)}

# S(-1) = 2 / (1 + e^-5) - 1, the largest TP weight NAB divides by.
S_MINUS_1 = 2.0 / (1.0 + math.exp(-5.0)) - 1.0  # 0.9866142981514305


def make_file(
    name: str = "synthetic/a.csv",
    n_rows: int = 100,
    windows: tuple[tuple[int, int], ...] = ((40, 49),),
) -> DataFile:
    start = np.datetime64("2024-01-01T00:00:00", "s")
    timestamps = start + np.arange(n_rows) * np.timedelta64(300, "s")
    values = np.sin(np.arange(n_rows, dtype=np.float64))
    return DataFile.from_row_windows(name, timestamps, values, windows)


def detections(n_rows: int, rows: list[int]) -> npt.NDArray[np.float64]:
    scores = np.zeros(n_rows, dtype=np.float64)
    scores[rows] = 1.0
    return scores


def raw_score(rows: list[int], profile: Profile = STANDARD, **kwargs: int) -> float:
    data = make_file()
    return score_file(data, detections(data.n_rows, rows), 0.5, profile, **kwargs).raw


def test_scaled_sigmoid_reference_points() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661429815)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828363995)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661429815)
    assert scaled_sigmoid(3.5) == -1.0  # NAB: anything more than 3 widths away is -1


def test_detection_at_window_start_scores_full_tp_weight() -> None:
    # y = -(49 - 40 + 1) / 10 = -1 -> S(-1) / S(-1) = 1
    assert raw_score([40], probation_percent=0) == pytest.approx(1.0)


def test_detection_in_middle_of_window() -> None:
    # y = -(49 - 45 + 1) / 10 = -0.5 -> S(-0.5) = 0.848284 -> / S(-1) = 0.859793
    expected = (2.0 / (1.0 + math.exp(-2.5)) - 1.0) / S_MINUS_1
    assert expected == pytest.approx(0.8597926)
    assert raw_score([45], probation_percent=0) == pytest.approx(expected)


def test_detection_on_last_window_row_scores_little() -> None:
    # NAB's "+ 1": y = -(49 - 49 + 1) / 10 = -0.1 (never exactly 0) -> S(-0.1) / S(-1)
    expected = (2.0 / (1.0 + math.exp(-0.5)) - 1.0) / S_MINUS_1
    assert expected == pytest.approx(0.2482415)
    assert raw_score([49], probation_percent=0) == pytest.approx(expected)


def test_false_positive_just_after_window_costs_little() -> None:
    # TP at the start (+1) and an FP one row after: y = (50 - 49) / (10 - 1) = 1/9
    fp = 0.11 * (2.0 / (1.0 + math.exp(5.0 / 9.0)) - 1.0)
    assert fp == pytest.approx(-0.0297932)
    assert raw_score([40, 50], probation_percent=0) == pytest.approx(1.0 + fp)


def test_false_positive_long_after_window_costs_full_fp_weight() -> None:
    # y = (77 - 49) / 9 = 3.11 > 3 -> S = -1 -> -fpWeight
    assert raw_score([40, 77], probation_percent=0) == pytest.approx(1.0 - 0.11)


def test_false_positive_before_any_window_costs_full_fp_weight() -> None:
    assert raw_score([10, 40], probation_percent=0) == pytest.approx(1.0 - 0.11)


def test_only_first_detection_in_window_counts() -> None:
    # Rows 42, 45, 49 all fire; only row 42 counts: y = -(49 - 42 + 1) / 10 = -0.8
    first_only = (2.0 / (1.0 + math.exp(-4.0)) - 1.0) / S_MINUS_1
    assert first_only == pytest.approx(0.9771068)
    assert raw_score([42, 45, 49], probation_percent=0) == pytest.approx(first_only)


def test_missed_window_costs_fn_weight() -> None:
    data = make_file(windows=((20, 29), (60, 69)))
    result = score_file(data, np.zeros(100), 0.5, LOW_FN, probation_percent=0)
    assert result.raw == pytest.approx(-2 * LOW_FN.fn_weight)
    assert (result.windows_detected, result.windows_missed) == (0, 2)


def test_probation_length_rule() -> None:
    # NAB: min(floor(0.15 * n), 0.15 * 5000)
    assert probation_length(100) == 15
    assert probation_length(4032) == 604
    assert probation_length(22695) == 750


def test_detections_in_probation_are_ignored() -> None:
    # 100 rows -> rows 0..14 probationary: the FP on row 14 is ignored, row 15 is not.
    assert raw_score([14, 40]) == pytest.approx(1.0)
    assert raw_score([15, 40]) == pytest.approx(1.0 - 0.11)


def test_window_inside_probation_is_not_scored() -> None:
    data = make_file(windows=((2, 5),))
    result = score_file(data, np.zeros(100), 0.5, STANDARD)
    assert result.raw == 0.0
    assert (result.windows_detected, result.windows_missed) == (0, 0)


def synthetic_corpus() -> Corpus:
    files = {
        "synthetic/a.csv": make_file("synthetic/a.csv", windows=((40, 49),)),
        "synthetic/b.csv": make_file("synthetic/b.csv", windows=((30, 39), (70, 79))),
        "synthetic/c.csv": make_file("synthetic/c.csv", windows=()),
    }
    return Corpus(files=files, profiles=PROFILES)


def perfect_results(corpus: Corpus) -> dict[str, npt.NDArray[np.float64]]:
    return {
        name: detections(data.n_rows, [first for first, _ in data.window_bounds])
        for name, data in corpus.files.items()
    }


def test_null_detector_normalizes_to_zero() -> None:
    corpus = synthetic_corpus()
    never = {name: np.zeros(data.n_rows) for name, data in corpus.files.items()}
    result = score_corpus(never, corpus, "standard", threshold=0.5)
    assert (result.raw, result.null, result.perfect) == (-3.0, -3.0, 3.0)
    assert result.normalized == pytest.approx(0.0)


def test_perfect_detector_normalizes_to_hundred() -> None:
    corpus = synthetic_corpus()
    result = score_corpus(perfect_results(corpus), corpus, "reward_low_FN_rate", threshold=0.5)
    assert (result.null, result.perfect) == (-6.0, 3.0)
    assert result.raw == pytest.approx(3.0)
    assert result.normalized == pytest.approx(100.0)


def test_optimizer_picks_threshold_separating_planted_detections() -> None:
    corpus = synthetic_corpus()
    rng = np.random.default_rng(7)
    results = {name: rng.uniform(0.0, 0.4, data.n_rows) for name, data in corpus.files.items()}
    for name, data in corpus.files.items():
        for first, _ in data.window_bounds:
            results[name][first] = 0.9  # planted detection at each window start
    results["synthetic/c.csv"][50] = 0.6  # a lone false alarm scoring below them
    best = optimize_threshold(results, corpus, "standard")
    assert best.threshold == pytest.approx(0.9)
    assert best.normalized == pytest.approx(100.0)
    assert (best.windows_detected, best.fp) == (3, 0)


def test_sweep_agrees_with_direct_scoring_at_every_threshold() -> None:
    corpus = synthetic_corpus()
    rng = np.random.default_rng(3)
    results = {n: np.round(rng.random(d.n_rows), 2) for n, d in corpus.files.items()}
    sweep = sweep_corpus(results, corpus, "standard")
    for threshold, raw, tp, fp in zip(sweep.thresholds, sweep.raw, sweep.tp, sweep.fp, strict=True):
        direct = score_corpus(results, corpus, "standard", threshold=float(threshold))
        assert direct.raw == pytest.approx(raw)
        assert (direct.tp, direct.fp) == (tp, fp)
    assert sweep.raw[0] == -3.0  # highest threshold: nothing detected
    assert sweep.raw[sweep.best_index] == sweep.raw.max()


def test_results_csv_round_trip(tmp_path: Path) -> None:
    corpus = synthetic_corpus()
    results = {n: np.linspace(0.0, 1.0, d.n_rows) for n, d in corpus.files.items()}
    write_results_dir(tmp_path, "mydet", results, corpus)
    path = results_path(tmp_path, "mydet", "synthetic/b.csv")
    assert path == tmp_path / "mydet" / "synthetic" / "mydet_b.csv"
    assert path.read_text().splitlines()[0] == "timestamp,value,anomaly_score,label"
    assert np.flatnonzero(read_results_csv(path).labels).tolist() == [
        *range(30, 40),
        *range(70, 80),
    ]
    back = read_results_dir(tmp_path, "mydet", corpus)
    for name in corpus.names:
        np.testing.assert_array_equal(back[name], results[name])


# --------------------------------------------------------------------------- real corpus


def test_corpus_root_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAYSIGNAL_NAB_ROOT", str(tmp_path))
    assert default_root() == tmp_path
    monkeypatch.delenv("GRAYSIGNAL_NAB_ROOT")
    assert default_root() == Path(__file__).resolve().parents[2] / "shared" / "datasets" / "nab"


@pytest.fixture(scope="module")
def nab() -> Corpus:
    if not (default_root() / "data").is_dir():
        pytest.skip(f"NAB corpus not found at {default_root()}")
    return load_corpus()


def test_real_corpus_contents(nab: Corpus) -> None:
    assert len(nab.files) == 58
    assert "realKnownCause/nyc_taxi.csv" in nab.files
    assert nab.files["realKnownCause/nyc_taxi.csv"].n_rows == 10320
    assert len(nab.files["realKnownCause/nyc_taxi.csv"].window_bounds) == 5
    assert nab.n_windows == 116
    assert nab.profile("reward_low_FP_rate").fp_weight == 0.22
    assert nab.profile("reward_low_FN_rate").fn_weight == 2.0


@pytest.mark.parametrize("profile", ["standard", "reward_low_FP_rate", "reward_low_FN_rate"])
def test_real_corpus_null_and_perfect_detectors(nab: Corpus, profile: str) -> None:
    null, perfect = null_and_perfect(nab, profile)
    assert (null, perfect) == (-116 * nab.profile(profile).fn_weight, 116.0)
    constant = {n: np.full(d.n_rows, 0.5) for n, d in nab.files.items()}  # NAB's null detector
    assert optimize_threshold(constant, nab, profile).normalized == pytest.approx(0.0)
    best = optimize_threshold(perfect_results(nab), nab, profile)
    assert best.normalized == pytest.approx(100.0)
    assert (best.windows_detected, best.fp) == (116, 0)
