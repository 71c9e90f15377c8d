"""Garbage collector settings for a serving hub process.

A hub holding thousands of daemon sockets has a big heap of long-lived objects (sockets, their
tasks and frames). CPython's full (oldest-generation) collection walks all of them and stops
the event loop while it does: about a second per million objects, which every heartbeat that
arrives meanwhile waits out (the fleet bench saw heartbeat ack p50 4 ms but p99 1.7 s).
Measured at 5,000 daemons, full collections took 0.4-1.7 s and found ~3,000 objects of garbage
each: nearly everything they walk is alive. So a serving hub:

* runs no automatic full collections (the oldest generation's threshold is out of reach); young
  collections go on as CPython's defaults have them (generations 0 and 1 stay small and quick).
  Objects in the oldest generation are still freed by reference counting; only garbage
  *cycles* among them wait for
* one full collection every ``RECOLLECT_S`` (an hour): the one long pause, once an hour instead
  of every few seconds, which bounds what waiting cycles can hold;
* freezes what start-up made (``gc.freeze()``): modules, the app and its routes live as long as
  the process, and the hourly pass does not walk them.

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
TICK_S = 30.0
RECOLLECT_S = 3600.0
NEVER = 2**30  # collections of generation 1 before an automatic full one: never, in practice


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


class FullCollections:
    """The hourly full collection's schedule; ``tick`` is called with the time."""

    def __init__(self, now: float) -> None:
        self.collected_at = now

    def tick(self, now: float) -> None:
        if now - self.collected_at >= RECOLLECT_S:
            gc.collect()
            self.collected_at = now


def tune_for_serving(*, hourly: bool = True) -> CollectionTimer:
    """Freeze what start-up made, time collections, and keep refreezing (a thread: it needs no
    event loop and holds the GIL for a moment only), in this process, a hub about to serve.
    Returns the installed timer."""
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    timer = CollectionTimer()
    gc.callbacks.append(timer)
    schedule = FullCollections(time.monotonic())

    def run() -> None:
        while True:
            time.sleep(TICK_S)
            schedule.tick(time.monotonic())

    if hourly:
        threading.Thread(target=run, name="gc-hourly", daemon=True).start()
    return timer
