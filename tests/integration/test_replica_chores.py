"""Background chores with several replicas on one database: a shared chore runs once per
interval across them (not once per replica), a run whose replica died is taken over once its
lease lapses, and the liveness sweep, on whichever replica runs it, leaves alone a daemon
whose socket is open on another replica."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.models import ChoreLease, Server
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.integrations import leases
from tests.integration.helpers import FakeDaemon
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub, make_settings, serving
from tests.support import wait_until

SWEEP = "liveness sweep"
INTERVAL = 0.25


def runs(hub: RunningHub, chore: str) -> float:
    value = hub.state.metrics.registry.get_sample_value(
        "orchestratia_chore_runs_total", {"chore": chore}
    )
    return value or 0.0


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"liveness_sweep_interval": INTERVAL, "heartbeat_interval": 0.5}


async def test_a_shared_chore_runs_once_per_interval_across_replicas(
    hub: RunningHub, replica_b: RunningHub
) -> None:
    window = 4.0
    before = runs(hub, SWEEP) + runs(replica_b, SWEEP)
    await asyncio.sleep(window)  # a rate over a window, not a wait for an event
    made = runs(hub, SWEEP) + runs(replica_b, SWEEP) - before
    # Each replica's timer fires every INTERVAL (plus the run's own time), so without the lease
    # the two would make about 2 * window / INTERVAL = 32 runs; with it, one per interval (a
    # run may come up to a tenth early, and never more than an interval late).
    assert window / (2 * INTERVAL) - 1 <= made <= window / (0.9 * INTERVAL) + 2, made
    # A chore about what each replica holds still runs on both.
    assert runs(hub, "sessions grid") > 0 and runs(replica_b, "sessions grid") > 0


async def test_a_run_whose_replica_died_is_taken_over_when_its_lease_lapses(
    hub: RunningHub,
) -> None:
    name, interval, limit = "test chore", timedelta(milliseconds=50), timedelta(seconds=2)
    async with hub.state.sessionmaker() as db:
        taken_at = time.monotonic()  # before: the lease runs from a moment inside the call
        assert await leases.start_chore(db, name, "replica-a", interval, limit)
        # Due again after 50 ms, but A is still running it (it died mid-run and never says).
        assert not await leases.start_chore(db, name, "replica-b", interval, limit)
        assert time.monotonic() - taken_at < limit.total_seconds()  # so that proved something

    async def b_takes_it() -> bool:
        async with hub.state.sessionmaker() as db:
            return await leases.start_chore(db, name, "replica-b", interval, limit)

    await wait_until(b_takes_it, timeout=5, message="B taking over the lapsed run", interval=0.05)
    assert time.monotonic() - taken_at >= limit.total_seconds() - 0.05  # clocks' granularity
    async with hub.state.sessionmaker() as db:
        # A waking up late must not undo B's run.
        await leases.finish_chore(db, name, "replica-a")
        row = await db.scalar(select(ChoreLease).where(ChoreLease.name == name))
        assert row is not None and row.lease_owner == "replica-b"
        await leases.finish_chore(db, name, "replica-b")
        await db.refresh(row)
        assert row.lease_owner is None and row.last_run_by == "replica-b"


@pytest.fixture
async def sweeper(
    hub: RunningHub, database_url: str, tmp_path: Path, hub_overrides: dict[str, Any]
) -> AsyncIterator[RunningHub]:
    """Replica B, the only one sweeping: A (``hub``) is kept in its restart grace."""
    settings = make_settings(database_url, tmp_path / "sweeper", **hub_overrides)
    async with serving(settings) as running:
        yield running


@pytest.mark.parametrize(
    "hub_overrides",
    [
        {
            "liveness_sweep_interval": INTERVAL,
            "heartbeat_interval": 0.5,
            "legacy_heartbeat_timeout": 3,
            "restart_grace": 3600,
        }
    ],
)
async def test_the_sweep_on_one_replica_spares_a_daemon_connected_to_another(
    hub: RunningHub, sweeper: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    sweeper.state.settings.restart_grace = 0  # B sweeps; A, in its grace, never does
    timeout = sweeper.settings.legacy_heartbeat_timeout
    held = await register_server(admin, project_id, "machine-held")
    orphan = await register_server(admin, project_id, "machine-orphan")
    # The public agent, which sends no heartbeats (its socket's pings keep it), connected to A.
    async with FakeDaemon.connect(hub, held["api_key"], protocol=None):
        # And a server that says it is online but whose daemon is connected nowhere.
        async with hub.state.sessionmaker() as db:
            await db.execute(
                update(Server)
                .where(Server.id == orphan["id"])
                .values(status="online", protocol=1, last_seen_at=utcnow())
            )
            await db.commit()
        started = runs(sweeper, SWEEP)

        async def status(server_id: str) -> str:
            res = await admin.get(f"/api/v1/servers/{server_id}")
            value: str = res.json()["status"]
            return value

        async def orphan_gone() -> bool:
            return await status(orphan["id"]) == "disconnected"

        await wait_until(orphan_gone, timeout=timeout + 10, message="the orphan swept")
        # By then B has swept many times past the timeout, the held server among the candidates
        # but for A vouching for its socket.
        assert runs(sweeper, SWEEP) - started >= timeout / INTERVAL / 2
        assert runs(hub, SWEEP) == 0
        assert await status(held["id"]) == "online"


async def test_a_socket_open_here_outweighs_a_late_disconnect_from_another_replica(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    async with FakeDaemon.connect(hub, server["api_key"], protocol=None):
        # What another replica's close of this daemon's previous socket, landing late, leaves.
        async with hub.state.sessionmaker() as db:
            await db.execute(
                update(Server)
                .where(Server.id == server["id"])
                .values(status="disconnected", connected=False, disconnected_at=utcnow())
            )
            await db.commit()

        async def online_again() -> bool:
            res = await admin.get(f"/api/v1/servers/{server['id']}")
            return bool(res.json()["status"] == "online")

        await wait_until(online_again, timeout=10, message="the replica holding it vouching")
