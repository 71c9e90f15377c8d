"""The hub's periodic chores, started by the app's lifespan, and how replicas share them.

A chore about the whole cluster's data (the liveness sweep, retention pruning) runs on one
replica per interval: each replica's timer ticks, and a tick only runs it after taking the
chore's lease in the database (``leases.start_chore``), so adding replicas does not multiply
the work or race it against itself, and when the replica that ran it dies another takes over
at the next interval (or once the dead one's lease runs out, had it died mid-run). A chore about
what one replica holds (its daemons' sockets, its viewers) runs on every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from orchestratia.hub.actions import fleet
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.access import login_challenges
from orchestratia.hub.services.fleet import recording, samples
from orchestratia.hub.services.integrations import leases
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import rule_push

log = logging.getLogger(__name__)

HOURLY = 3600.0
# A run of a shared chore holds its lease at most this long (or its interval, if longer): a
# replica that died mid-run stops blocking the chore after that.
RUN_LIMIT = 60.0


@dataclass(frozen=True)
class Chore:
    name: str  # also its lease's name and its metrics label
    interval: float
    tick: Callable[[], Awaitable[None]]
    shared: bool  # one replica per interval (True), or every replica for what it holds
    # Whether this replica may run it now (the liveness sweep waits out its restart grace).
    ready: Callable[[], bool] = lambda: True


async def every(
    interval: float, stop: asyncio.Event, tick: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run ``tick`` every ``interval`` s until ``stop``; a failing tick is logged, not fatal."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await tick()
        except Exception:
            log.exception("%s failed; retrying next tick", what)


async def run_once(hub: HubState, chore: Chore) -> bool:
    """One tick of ``chore`` on this replica: run it if it is this replica's to run now (always,
    for a chore that is not shared); whether it ran."""
    if not chore.ready():
        return False
    if not chore.shared:
        await chore.tick()
        hub.metrics.chore_runs.labels(chore.name).inc()
        return True
    interval = timedelta(seconds=chore.interval)
    run_limit = timedelta(seconds=max(chore.interval, RUN_LIMIT))
    async with hub.sessionmaker() as db:
        if not await leases.start_chore(db, chore.name, hub.replica_id, interval, run_limit):
            return False
    try:
        await chore.tick()
        hub.metrics.chore_runs.labels(chore.name).inc()
    finally:
        async with hub.sessionmaker() as db:
            await leases.finish_chore(db, chore.name, hub.replica_id)
    return True


async def prune_login_state(hub: HubState) -> None:
    async with hub.sessionmaker() as db:
        await hub.throttle.prune(db)
        await login_challenges.prune(db)


async def prune_recordings(hub: HubState) -> None:
    now = utcnow()
    horizon = now - timedelta(days=hub.settings.recording_retention_days)
    async with hub.sessionmaker() as db:
        dropped = await recording.prune(db, horizon)
        # Server load history is a recording too, kept for a week (the server page shows a day).
        await samples.prune(db, now - samples.KEEP_FOR)
    if dropped:
        log.info("dropped %d recording chunks older than %s", dropped, horizon.isoformat())


def chores(hub: HubState) -> list[Chore]:
    settings = hub.settings
    return [
        Chore(
            "liveness sweep",
            settings.liveness_sweep_interval,
            lambda: fleet.sweep_liveness(hub),
            shared=True,
            # Right after this replica started, daemons are still finding their way back: let
            # a replica that has been up sweep, as a lone hub sweeps nothing in its grace.
            ready=lambda: not hub.in_restart_grace(utcnow()),
        ),
        # Every replica, for the sockets it holds: what the sweep (on any replica) reads.
        Chore(
            "socket vouching",
            settings.heartbeat_interval,
            lambda: fleet.vouch_for_sockets(hub),
            shared=False,
        ),
        Chore("recording retention", HOURLY, lambda: prune_recordings(hub), shared=True),
        Chore("login state pruning", HOURLY, lambda: prune_login_state(hub), shared=True),
        # Every replica tells its own daemons about rule changes made anywhere.
        Chore(
            "approval rules sync",
            settings.approval_rules_sync_interval,
            lambda: rule_push.sync(hub),
            shared=False,
        ),
        # Every replica draws the sessions grid for its own viewers.
        Chore("sessions grid", settings.grid_tick_seconds, hub.grid.tick, shared=False),
        # Every replica writes the heartbeats its own daemons sent, in one batch.
        Chore(
            "heartbeat writes",
            settings.heartbeat_write_interval,
            lambda: fleet.flush_heartbeats(hub),
            shared=False,
        ),
    ]


def start(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start every chore's timer; each returns once ``stop`` is set (after its current run)."""

    def ticker(chore: Chore) -> Callable[[], Awaitable[None]]:
        async def tick() -> None:
            await run_once(hub, chore)

        return tick

    return [
        asyncio.create_task(every(c.interval, stop, ticker(c), c.name), name=c.name)
        for c in chores(hub)
    ]
