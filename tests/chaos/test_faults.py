"""Issue 18, item 5: the fault suite in its short profile (``bench/chaos.py`` runs the same
scenarios with production timings). Real hub and daemon processes, real sockets, a fault proxy.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from orchestratia.agent.link.connection import HubConnection
from tests.chaos.fault_proxy import FaultProxy
from tests.chaos.fleet_restart import run_fleet_restart
from tests.chaos.link_faults import run_link_faults
from tests.chaos.profiles import SHORT
from tests.chaos.task_partition import run_task_partition
from tests.support import free_port, wait_until
from tests.unit.agent_fakes import FakeHub

pytestmark = pytest.mark.e2e
# A scenario takes 45 to 85 s on a quiet machine; the default 120 s would fail it on a loaded one.
SCENARIO_TIMEOUT = 420


def report(name: str, figures: dict[str, Any]) -> None:
    # Visible with -s (or in a failing run's log): the figures the scenario measured.
    print(f"\n{name}: {json.dumps(figures)}")


@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_blackhole_and_half_open_links(tmp_path: Path) -> None:
    figures = run_link_faults(tmp_path, SHORT)
    report("link_faults", figures)
    assert figures["stream"]["bytes_lost"] == 0


async def test_daemon_drops_a_blackholed_link_without_waiting_for_a_close_handshake() -> None:
    """A link judged dead cannot carry a closing handshake: the daemon must not spend its close
    timeout (5 s) waiting for one before it reconnects, or production's 45 s of silence becomes
    50 s (SPEC §14)."""
    async with FakeHub(heartbeat_interval=0.2) as hub:
        port = int(hub.url.rsplit(":", 1)[1])
        with FaultProxy(port, free_port()) as proxy:
            conn = HubConnection(hub.config(hub_url=proxy.url), capabilities=[])
            assert conn.close_timeout == 5.0  # the production default is what is tested
            runner = asyncio.create_task(conn.run())
            try:
                await wait_until(lambda: conn.state == "connected", 10, "connected")
                proxy.blackhole()
                cut = time.monotonic()
                await wait_until(lambda: conn.state != "connected", 10, "the daemon to notice")
                noticed = time.monotonic() - cut
                # Dead after 3 silent intervals (0.6 s); the margin is for a loaded machine.
                assert noticed < 3.0, noticed
                assert conn.last_error is not None and "no traffic from hub" in conn.last_error
            finally:
                await conn.stop()
                await asyncio.wait_for(runner, 10)


@pytest.mark.timeout(SCENARIO_TIMEOUT)
async def test_hub_kill9_with_100_daemons(tmp_path: Path) -> None:
    figures = await run_fleet_restart(tmp_path, SHORT)
    report("hub_kill9_fleet", figures)
    assert figures["daemons"] == SHORT.fleet_daemons


@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_partition_during_a_task_is_fenced_by_epoch(tmp_path: Path) -> None:
    figures = run_task_partition(tmp_path, SHORT)
    report("task_partition", figures)
    assert figures["tasks_run_twice"] == 0


async def test_daemon_notices_a_dead_busy_link_within_two_heartbeat_intervals() -> None:
    """Traffic up to the fault (terminal output acks, say) restarts the silence clock, so silence
    alone would take 3 intervals (45 s in production: at the bar). An unanswered heartbeat ends
    the link within 2 (30 s)."""
    interval = 2.5
    async with FakeHub(heartbeat_interval=interval) as hub:
        port = int(hub.url.rsplit(":", 1)[1])
        with FaultProxy(port, free_port()) as proxy:
            conn = HubConnection(hub.config(hub_url=proxy.url), capabilities=[])
            runner = asyncio.create_task(conn.run())
            try:
                await wait_until(lambda: conn.state == "connected", 10, "connected")
                arrived = conn._last_rx  # when the daemon last heard the hub
                await hub.send({"type": "pong"})  # the last traffic before the fault
                await wait_until(lambda: conn._last_rx > arrived, 5, "the frame")
                proxy.blackhole()
                cut = time.monotonic()
                await wait_until(lambda: conn.state != "connected", 15, "the daemon to notice")
                noticed = time.monotonic() - cut
                # Silence alone: 7.5 s at the earliest; an unanswered heartbeat: 5 s at most.
                assert noticed < 3 * interval - 1.0, noticed
            finally:
                await conn.stop()
                await asyncio.wait_for(runner, 10)
