"""The fault suite's long profile: the scenarios of ``tests/chaos`` with production timings (SPEC
§5 and §14: heartbeat every 15 s, a link silent for 45 s is dead, restart grace 90 s, sessions
lost after 300 s), on real hub and daemon processes.

1. ``hub_kill9``: the hub killed with -9 while 100 daemons (our daemon's hub link, in-process)
   are connected: reconnect p50/p99 and histogram, no server shown offline during the grace.
2. ``link_faults``: blackhole, one-way loss and half-open TCP between a daemon process and the
   hub (a fault proxy): each side's detection time (≤ 45 s), reconnect after the link heals, the
   outage's output arriving byte-identical (bytes lost 0, no duplicates).
3. ``task_partition``: alpha cut off during a task until its session is lost and beta does the
   task; alpha's stale report refused after the heal (tasks run twice 0).

Run: ``.venv/bin/python bench/chaos.py [scenario ...]`` (default: all three; about 12 minutes).
``CHAOS_LOST_TIMEOUT`` shortens the partition's 300 s, ``CHAOS_DAEMONS`` changes the 100 daemons,
``CHAOS_PROFILE=short`` runs the test suite's timings. The last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import emit
from tests.chaos.fleet_restart import run_fleet_restart
from tests.chaos.link_faults import run_link_faults
from tests.chaos.profiles import LONG, SHORT
from tests.chaos.task_partition import run_task_partition

PROFILE = SHORT if os.environ.get("CHAOS_PROFILE") == "short" else LONG


def hub_kill9(root: Path) -> dict[str, Any]:
    return asyncio.run(run_fleet_restart(root, PROFILE))


def link_faults(root: Path) -> dict[str, Any]:
    return run_link_faults(root, PROFILE)


def task_partition(root: Path) -> dict[str, Any]:
    return run_task_partition(root, PROFILE)


SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "hub_kill9": hub_kill9,
    "link_faults": link_faults,
    "task_partition": task_partition,
}


def headline(name: str, figures: dict[str, Any]) -> dict[str, Any]:
    """The issue's four figures per scenario: detection, reconnect p50/p99, bytes lost, tasks
    run twice (where the scenario measures them)."""
    if name == "hub_kill9":
        return {
            "reconnect_p50_s": figures["reconnect_after_restart_p50_s"],
            "reconnect_p99_s": figures["reconnect_after_restart_p99_s"],
            "shown_offline": sum(c for s, c in figures["statuses_seen"].items() if s != "online"),
        }
    if name == "link_faults":
        faults = figures["faults"]
        return {
            "detect_hub_max_s": max(f["hub_detect_s"] for f in faults.values()),
            "detect_daemon_max_s": max(f["daemon_detect_s"] for f in faults.values()),
            "reconnect_after_heal_max_s": max(f["reconnect_after_heal_s"] for f in faults.values()),
            "bytes_lost": figures["stream"]["bytes_lost"],
            "bytes_duplicated": figures["stream"]["bytes_duplicated"],
        }
    return {
        "detect_hub_s": figures["hub_detect_s"],
        "tasks_run_twice": figures["tasks_run_twice"],
        "stale_reports_refused": figures["stale_reports_refused"],
    }


def main() -> None:
    chosen = sys.argv[1:] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; choose from {list(SCENARIOS)}")
    # A hundred daemons log every reconnect; the scenarios count the errors they saw instead.
    logging.basicConfig(level=logging.ERROR)
    results: dict[str, Any] = {"profile": PROFILE.name}
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as tmp:
            began = time.monotonic()
            figures = SCENARIOS[name](Path(tmp))
            figures["took_s"] = round(time.monotonic() - began, 1)
        print(f"\n== {name} ({figures['took_s']} s)")
        print(json.dumps(figures, indent=1))
        results[name] = headline(name, figures)
    print()
    emit(results)


if __name__ == "__main__":
    main()
