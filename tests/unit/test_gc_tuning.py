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
    timer = gc_tuning.tune_for_serving(refreeze=False)
    assert gc.get_freeze_count() > 10_000  # the modules imported so far
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
def test_refreezing_keeps_objects_out_of_collections_until_the_hourly_pass() -> None:
    import weakref

    gc.collect()
    gc.unfreeze()
    freezer = gc_tuning.Freezer(now=0.0)
    garbage = Cycle()
    alive = weakref.ref(garbage)
    freezer.tick(gc_tuning.REFREEZE_S - 1)  # not yet: nothing frozen
    assert gc.get_freeze_count() == 0
    freezer.tick(gc_tuning.REFREEZE_S)
    assert gc.get_freeze_count() > 0
    del garbage
    gc.collect()
    assert alive() is not None  # a frozen cycle: no collection walks it
    freezer.tick(gc_tuning.RECOLLECT_S)
    assert alive() is None  # the hourly full pass found it
    assert gc.get_freeze_count() > 0  # and froze the rest again
