"""The serving hub's garbage collector settings: start-up objects frozen, slow collections
logged."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from orchestratia.hub import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_start_up_and_times_collections() -> None:
    gc.unfreeze()
    timer = gc_tuning.tune_for_serving(hourly=False)
    assert gc.get_freeze_count() > 10_000  # the modules imported so far
    assert gc.get_threshold()[2] == gc_tuning.NEVER  # full collections only on the schedule
    assert gc.get_threshold()[0] < 10_000  # young ones stay small
    assert timer in gc.callbacks
    gc.collect()
    assert timer.slowest > 0  # it timed that collection


def test_a_slow_collection_is_logged_and_a_fast_one_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    timer = gc_tuning.CollectionTimer(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger=gc_tuning.__name__)
    timer("start", {"generation": 0})
    now[0] += 0.01
    timer("stop", {"generation": 0, "collected": 3})
    assert not caplog.records
    timer("start", {"generation": 2})
    now[0] += 1.5
    timer("stop", {"generation": 2, "collected": 7})
    [record] = caplog.records
    assert "generation 2 took 1500 ms" in record.getMessage()
    assert timer.slowest == pytest.approx(1.5)


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("restored_gc")
def test_old_garbage_cycles_wait_for_the_hourly_full_collection() -> None:
    import weakref

    gc_tuning.tune_for_serving(hourly=False)
    schedule = gc_tuning.FullCollections(now=0.0)
    held = Cycle()
    alive = weakref.ref(held)
    gc.collect(1)
    gc.collect(1)  # survived young collections: now in the oldest generation
    del held
    gc.collect(1)
    assert alive() is not None  # young collections do not walk it, and no full one runs
    schedule.tick(gc_tuning.RECOLLECT_S - 1)
    assert alive() is not None
    schedule.tick(gc_tuning.RECOLLECT_S)
    assert alive() is None  # the hourly pass found it
