"""Lead-lag hints: on a planted lag the hint names the series that moved first."""

from __future__ import annotations

import numpy as np

from adapters.backtest.leadlag import lead_lag
from adapters.backtest.story import Hint, Mover, build_story, first_mover
from detector.series import Series, fingerprint
from tests.backtest_fixtures import HOUR, T0, hand_outcome, hand_result, hand_signal

STEP = 300
LAG = 2 * HOUR
A_LABELS = {"__name__": "memory", "service": "checkout"}
B_LABELS = {"__name__": "latency", "service": "checkout"}


def planted(seed: int = 7, lag: int = LAG, days: int = 7) -> tuple[Series, Series]:
    """A wanders (a random walk); B repeats A's moves ``lag`` later, plus noise."""
    rng = np.random.default_rng(seed)
    n = days * 86400 // STEP
    shift = lag // STEP
    walk = np.cumsum(rng.normal(0, 1, n + shift))
    a = walk[shift:]
    b = 0.5 * walk[:n] + rng.normal(0, 0.3, n)
    timestamps = T0 - n * STEP + STEP * np.arange(n, dtype=np.int64)
    return (
        Series(A_LABELS, timestamps, a, STEP),
        Series(B_LABELS, timestamps, b, STEP),
    )


def test_series_b_following_a_by_two_hours_gives_a_positive_two_hour_lag() -> None:
    a, b = planted()

    found = lead_lag(a, b, a.start - STEP, a.end, 12 * HOUR)

    assert found is not None
    assert found.significant
    assert found.lag == LAG
    assert found.granger_a_to_b is not None and found.granger_a_to_b < 0.01
    assert found.granger_b_to_a is not None and found.granger_b_to_a > found.granger_a_to_b


def test_swapping_the_series_flips_the_sign_of_the_lag() -> None:
    a, b = planted()

    found = lead_lag(b, a, a.start - STEP, a.end, 12 * HOUR)

    assert found is not None and found.lag == -LAG


def test_unrelated_series_give_no_significant_hint() -> None:
    a, _ = planted(seed=1)
    _, b = planted(seed=2)

    found = lead_lag(a, b, a.start - STEP, a.end, 12 * HOUR)

    assert found is not None and not found.significant


def test_too_little_common_data_gives_no_hint() -> None:
    a, b = planted(days=7)

    assert lead_lag(a, b, a.end - 10 * STEP, a.end, HOUR) is None


def test_the_story_hint_says_a_moved_first_on_a_planted_lag() -> None:
    a, b = planted()
    # B's onset is estimated *earlier* than A's, within the tie window: only the
    # lead-lag hint can order them, and it must name A.
    signal_a = hand_signal("MemoryGrowth", A_LABELS, (T0 - 20 * HOUR, None), onset_before=HOUR)
    signal_b = hand_signal("LatencyCreep", B_LABELS, (T0 - 20 * HOUR, None), onset_before=2 * HOUR)
    result = hand_result(
        [signal_a, signal_b], [hand_outcome("MemoryGrowth"), hand_outcome("LatencyCreep")]
    )
    result.series = {a.fingerprint: a, b.fingerprint: b}
    result.start = a.start - STEP

    story = build_story(result)

    (hint,) = story.hints
    assert hint.leader == 'memory{service="checkout"}'
    assert hint.text.startswith('memory{service="checkout"} moved first')
    assert "about 2h later" in hint.text
    assert story.first_mover is not None and story.first_mover.series == hint.leader


def mover(name: str, onset: int) -> Mover:
    return Mover(name, fingerprint({"n": name}), "R", "trend", onset, onset + HOUR)


def test_onsets_far_apart_decide_the_first_mover_without_hints() -> None:
    movers = [mover("a", T0 - 30 * HOUR), mover("b", T0 - 10 * HOUR)]

    leader, text = first_mover(movers, [])

    assert leader == movers[0]
    assert text == "a moved first; then b (20h later)."


def test_close_onsets_without_a_hint_are_not_ordered() -> None:
    movers = [mover("a", T0 - 3 * HOUR), mover("b", T0 - 2 * HOUR)]
    unclear = Hint("a", "b", "no clear lead-lag")

    leader, text = first_mover(movers, [unclear])

    assert leader is None
    assert "too close" in text
