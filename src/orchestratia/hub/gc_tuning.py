"""Garbage collector settings for a serving hub process.

A hub holding thousands of daemon sockets has a big heap of long-lived objects (sockets, their
tasks and frames). CPython's full (oldest-generation) collection walks all of them and stops
the event loop while it does: about a second per million objects, which every heartbeat that
arrives meanwhile waits out (the fleet bench saw heartbeat ack p50 4 ms but p99 1.7 s).
Two settings make full collections rare without giving up collecting cycles:

* ``gc.freeze()`` once start-up is done: modules, the app and its routes move to the permanent
  generation, which no collection walks again (they live as long as the process anyway).
* a larger youngest-generation threshold: the short-lived objects of a request or a database
  round trip (ORM rows, frames, pydantic models) die before a collection instead of being
  promoted, and promotions are what makes the next full collection come due.

Collections slower than ``SLOW_COLLECTION_S`` are logged, so a pause is visible, not guessed.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Objects allocated (net) before a youngest-generation collection; CPython's default is 700.
# 50,000 short-lived objects are a few MB and a young collection of them a few milliseconds.
YOUNG_THRESHOLD = 50_000
SLOW_COLLECTION_S = 0.1


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


def tune_for_serving() -> CollectionTimer:
    """Apply the settings above to this process (a hub about to serve); call once start-up
    objects exist. Returns the installed timer."""
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
    timer = CollectionTimer()
    gc.callbacks.append(timer)
    return timer
