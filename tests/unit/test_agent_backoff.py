"""Full-jitter backoff: bounds, cap, reset, and the slow lane for rejected keys."""

from __future__ import annotations

import random

import pytest

from orchestratia.agent.link.backoff import Backoff


class Extreme(random.Random):
    """Always returns one end of the requested range, to read the window's bounds."""

    def __init__(self, high: bool) -> None:
        super().__init__()
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_window_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base=1, cap=30, rng=Extreme(high=True))
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_full_jitter_reaches_down_to_zero() -> None:
    backoff = Backoff(base=1, cap=30, rng=Extreme(high=False))
    assert {backoff.next_delay() for _ in range(8)} == {0}


def test_delays_stay_within_the_window_and_spread_across_it() -> None:
    backoff = Backoff(base=1, cap=30, rng=random.Random(1234))
    for attempt in range(6):
        ceiling = min(30, 2**attempt)
        assert 0 <= backoff.next_delay() <= ceiling
    at_cap = [backoff.next_delay() for _ in range(2000)]
    assert all(0 <= delay <= 30 for delay in at_cap)
    # Full jitter, not "cap minus a little": the whole window is used.
    assert min(at_cap) < 1.5
    assert max(at_cap) > 28.5
    assert 13 < sum(at_cap) / len(at_cap) < 17


def test_reset_starts_over_from_base() -> None:
    backoff = Backoff(base=1, cap=30, rng=Extreme(high=True))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 1


def test_slow_delay_stays_near_the_cap() -> None:
    backoff = Backoff(base=1, cap=30, rng=random.Random(5))
    delays = [backoff.slow_delay() for _ in range(500)]
    assert all(15 <= delay <= 30 for delay in delays)


def test_seeded_rng_is_reproducible() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.next_delay() for _ in range(10)] == [second.next_delay() for _ in range(10)]


def test_a_very_long_outage_does_not_overflow() -> None:
    backoff = Backoff(base=1, cap=30, rng=Extreme(high=True))
    backoff.attempt = 10_000
    assert backoff.next_delay() == 30


@pytest.mark.parametrize(("base", "cap"), [(0, 30), (-1, 30), (10, 5)])
def test_rejects_nonsense_parameters(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base=base, cap=cap)
