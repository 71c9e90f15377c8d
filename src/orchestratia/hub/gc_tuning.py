"""Garbage collector settings for a serving hub process.

A hub holding thousands of daemon sockets has a big heap of long-lived objects (sockets, their
tasks and frames). CPython's full (oldest-generation) collection walks all of them and stops
the event loop while it does: about a second per million objects, which every heartbeat that
arrives meanwhile waits out (the fleet bench saw heartbeat ack p50 4 ms but p99 1.7 s).
Measured at 5,000 daemons, full collections took 0.4-1.7 s and found ~3,000 objects of garbage
each: nearly everything they walk is alive. So the hub keeps its long-lived objects out of them:

* ``gc.freeze()`` once start-up is done, and again every ``REFREEZE_S``: what exists then moves
  to the permanent generation, which collections do not walk. Objects there are still freed by
  reference counting; only garbage *cycles* among them wait
* until the ``RECOLLECT_S`` full pass: unfreeze, one full collection of everything (the one long
  pause, once an hour instead of every few seconds), freeze again.

Collections slower than ``SLOW_COLLECTION_S`` are logged, so a pause is visible, not guessed.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SLOW_COLLECTION_S = 0.1
REFREEZE_S = 30.0
RECOLLECT_S = 3600.0


class CollectionTimer:
    """A ``gc.callbacks`` entry timing each collection; logs the slow ones."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = 0.0
        self.slowest = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = self.clock()
            return
        took = self.clock() - self.started
        self.slowest = max(self.slowest, took)
        if took >= SLOW_COLLECTION_S:
            log.warning(
                "garbage collection of generation %s took %.0f ms (%s collected); "
                "the event loop waited that long",
                info.get("generation"),
                took * 1000,
                info.get("collected"),
            )


class Freezer:
    """The refreeze / hourly full collection schedule; ``tick`` is called with the time."""

    def __init__(self, now: float) -> None:
        self.frozen_at = now
        self.collected_at = now

    def tick(self, now: float) -> None:
        if now - self.collected_at >= RECOLLECT_S:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.collected_at = self.frozen_at = now
        elif now - self.frozen_at >= REFREEZE_S:
            gc.freeze()
            self.frozen_at = now


def tune_for_serving(*, refreeze: bool = True) -> CollectionTimer:
    """Freeze what start-up made, time collections, and keep refreezing (a thread: it needs no
    event loop and holds the GIL for a moment only), in this process, a hub about to serve.
    Returns the installed timer."""
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    timer = CollectionTimer()
    gc.callbacks.append(timer)
    freezer = Freezer(time.monotonic())

    def run() -> None:
        while True:
            time.sleep(REFREEZE_S)
            freezer.tick(time.monotonic())

    if refreeze:
        threading.Thread(target=run, name="gc-freezer", daemon=True).start()
    return timer
