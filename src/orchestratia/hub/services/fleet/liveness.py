"""Liveness across replicas: the sweep that marks silent servers disconnected, judged on
``last_seen_at`` in the database, and the stamps each replica puts there for the sockets it
holds, so whichever replica sweeps judges every server alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Server
from orchestratia.hub.services.integrations import announcements

# Ids per UPDATE when vouching: bounded statements however many daemons a replica holds.
VOUCH_CHUNK = 500


async def sweep_stale(
    db: AsyncSession,
    now: datetime,
    timeout: timedelta,
    legacy_timeout: timedelta,
    live: set[str],
) -> list[Server]:
    """Mark servers without traffic past their timeout as disconnected; returns those changed.

    Judged on ``last_seen_at``, which every replica keeps fresh for the daemons connected to it
    (heartbeats, and ``vouch`` for sockets that carry none), so one replica sweeps for all.
    ``live`` are servers with an open socket on this hub, alive whatever the row says.
    """
    candidates = await db.scalars(
        select(Server).where(
            Server.status == "online",
            Server.last_seen_at < now - timeout,
        )
    )
    changed = []
    for server in candidates:
        # ``live`` is checked here, not as NOT IN: that binds one parameter per connected daemon
        # (thousands) every second to exclude the few rows an open socket keeps.
        if server.id in live:
            continue
        limit = timeout if server.protocol >= 2 else legacy_timeout
        if server.last_seen_at is None or server.last_seen_at < now - limit:
            server.status = "disconnected"
            server.connected = False
            server.disconnected_at = now
            announcements.server(db, server, "server.offline")
            changed.append(server)
    return changed


async def vouch(db: AsyncSession, live: set[str], now: datetime, older_than: datetime) -> int:
    """Stamp ``last_seen_at`` on the online servers with a socket open on this replica whose
    stamp is older than ``older_than``: the socket's own pings prove them alive (the public
    agent sends no application-level heartbeat), and the replica that sweeps may be another
    one, which only sees the database. Commits; how many were stamped."""
    ids, stamped = sorted(live), 0
    for start in range(0, len(ids), VOUCH_CHUNK):
        done: Any = await db.execute(
            update(Server)
            .where(
                Server.id.in_(ids[start : start + VOUCH_CHUNK]),
                Server.status == "online",
                or_(Server.last_seen_at.is_(None), Server.last_seen_at < older_than),
            )
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        stamped += done.rowcount
    await db.commit()
    return stamped


async def disconnected_among(db: AsyncSession, ids: set[str]) -> list[str]:
    """Which of ``ids`` the database shows disconnected (not removed)."""
    listed, found = sorted(ids), []
    for start in range(0, len(listed), VOUCH_CHUNK):
        chunk = listed[start : start + VOUCH_CHUNK]
        rows = await db.scalars(
            select(Server.id).where(Server.id.in_(chunk), Server.status == "disconnected")
        )
        found += list(rows)
    return found
