"""Servers and the capacity they bring: registration, heartbeats, key revocation, what a
daemon's socket reports, the liveness sweep, and the tasks that capacity lets move."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.effects import after_commit
from orchestratia.hub.actions.transaction import run, run_detached
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import liveness, server_admin, servers, sessions
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import deliveries, lost_sessions
from orchestratia.hub.state import HubState
from orchestratia.protocol.deliveries import DeliveryAckFrame
from orchestratia.protocol.fleet_admin import ServerEdit
from orchestratia.protocol.rest import RegisterRequest

log = logging.getLogger(__name__)


async def issue_token(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    hub_url: str,
    hours: int,
    actor: audit.Actor,
) -> servers.IssuedToken:
    """A registration token for a new server of the project, carrying ``hub_url``."""
    return await run(
        db, hub, lambda _: servers.issue_token(db, principal, project_id, hub_url, hours, actor)
    )


async def register(
    db: AsyncSession, hub: HubState, body: RegisterRequest, actor: audit.Actor
) -> servers.Registered:
    async def work(outbox: Outbox) -> servers.Registered:
        done = await servers.register(db, body, actor)
        outbox.servers.append(done.server)
        return done

    return await run(db, hub, work)


async def heartbeat(
    db: AsyncSession, hub: HubState, server_id: str, system_info: dict[str, Any]
) -> None:
    async def work(outbox: Outbox) -> None:
        changed = await servers.touch(db, server_id, system_info=system_info)
        if changed is not None:
            outbox.servers.append(changed)

    await run(db, hub, work)


async def touch(hub: HubState, server_id: str, **changes: Any) -> None:
    """Record what a daemon's socket reported about its server (``servers.touch``)."""

    async def work(db: AsyncSession, outbox: Outbox) -> None:
        changed = await servers.touch(db, server_id, **changes)
        if changed is not None:
            outbox.servers.append(changed)

    await run_detached(hub, work)


async def flush_heartbeats(hub: HubState) -> None:
    """Write the heartbeats waiting in ``hub.heartbeats`` in one transaction (a chore runs this
    every ``heartbeat_write_interval``); a failed write puts them back for the next."""
    beats = hub.heartbeats.take()
    if not beats:
        return

    async def work(db: AsyncSession, outbox: Outbox) -> None:
        outbox.servers = await servers.touch_many(
            db, beats, lambda server_id: hub.registry.get(server_id) is not None
        )

    try:
        await run_detached(hub, work)
    except BaseException:
        hub.heartbeats.restore(beats)
        raise


async def announce(hub: HubState, server: Server | None) -> None:
    """Tell dashboards the state of a server row just committed (if it changed)."""
    await after_commit(hub, Outbox(servers=[server] if server is not None else []))


async def disconnected(hub: HubState, server_id: str) -> None:
    """The daemon's socket closed (and no newer one took over)."""

    hub.heartbeats.discard(server_id)

    async def work(db: AsyncSession, outbox: Outbox) -> None:
        gone = await servers.mark_disconnected(db, server_id)
        if gone is not None:
            outbox.servers.append(gone)

    await run_detached(hub, work)


async def revoke_keys(
    db: AsyncSession, hub: HubState, principal: Principal, server_id: str, actor: audit.Actor
) -> None:
    """Revoke the server's keys; its daemon, if connected, is hung up on."""

    async def work(outbox: Outbox) -> None:
        await servers.revoke_keys(db, principal, server_id, actor)
        outbox.keys_revoked.append(server_id)

    await run(db, hub, work)


async def edit(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    server_id: str,
    body: ServerEdit,
    actor: audit.Actor,
) -> Server:
    """Rename or relabel a server; dashboards showing it are told."""
    return await run(
        db, hub, lambda outbox: server_admin.edit(db, principal, server_id, body, actor, outbox)
    )


async def remove(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    server_id: str,
    force: bool,
    actor: audit.Actor,
) -> None:
    """Remove a server: its daemon is hung up on, and the tasks its sessions held (``force``)
    go back to waiting."""
    ended = await run(
        db,
        hub,
        lambda outbox: server_admin.remove(db, principal, server_id, force, actor, outbox),
    )
    if ended:
        await on_sessions_ended(hub, ended)


async def on_ack(hub: HubState, server_id: str, ack: DeliveryAckFrame) -> None:
    acked = await run_detached(
        hub, lambda db, outbox: deliveries.acknowledge(db, server_id, ack, outbox)
    )
    if acked is not None:
        hub.metrics.delivery_acked(acked.created_at, acked.acked_at, acked.status)


async def on_capacity(hub: HubState, project_id: str) -> None:
    """A session started or a server came online: waiting tasks may now find a home."""
    await after_commit(hub, Outbox(auto_assign={project_id}))


async def on_sessions_ended(hub: HubState, session_ids: list[str] | None = None) -> None:
    """Release the tasks held by sessions that exited or were lost (``session_ids``), or, with
    none given, by every ended session that still holds some (the liveness sweep's backstop)."""
    async with hub.sessionmaker() as db:
        if session_ids is None:
            ended = await lost_sessions.orphaned(db)
        else:
            ended = [s for sid in session_ids if (s := await db.get(TerminalSession, sid))]
        outboxes = []
        for session in ended:
            outbox = Outbox()
            try:
                if await lost_sessions.release(db, session, outbox):
                    await db.commit()
                    outboxes.append(outbox)
            except Exception:
                log.exception("releasing the tasks of session %s failed", session.id)
                await db.rollback()
    for outbox in outboxes:
        await after_commit(hub, outbox)


async def sweep_liveness(hub: HubState) -> None:
    """Mark servers that went silent as disconnected, and the sessions of servers gone longer than
    ``session_lost_timeout`` as lost, releasing their tasks (not during the restart grace)."""
    now = utcnow()
    if hub.in_restart_grace(now):
        return

    async def work(db: AsyncSession, outbox: Outbox) -> None:
        outbox.servers = await liveness.sweep_stale(
            db,
            now,
            timedelta(seconds=hub.settings.heartbeat_timeout),
            timedelta(seconds=hub.settings.legacy_heartbeat_timeout),
            hub.registry.connected_ids(),
        )
        outbox.sessions = await sessions.lose_abandoned(
            db,
            now,
            now - timedelta(seconds=hub.settings.session_lost_timeout),
            hub.registry.connected_ids(),
        )

    await run_detached(hub, work)
    # Also catches sessions that ended by a frame whose task release did not happen.
    await on_sessions_ended(hub)


async def vouch_for_sockets(hub: HubState) -> None:
    """Keep ``last_seen_at`` fresh for the daemons connected to this replica (``liveness.vouch``),
    at most once per heartbeat interval each, so the replica that sweeps, whichever it is, does
    not take them for gone."""
    live = hub.registry.connected_ids()
    if not live:
        return
    now = utcnow()
    older_than = now - timedelta(seconds=hub.settings.heartbeat_interval)
    async with hub.sessionmaker() as db:
        await liveness.vouch(db, live, now, older_than)
        strays = await liveness.disconnected_among(db, live)
    # Shown disconnected while its socket is open here: another replica's close of an older
    # socket of the same daemon landed after this one connected. The open socket is the truth.
    for server_id in strays:
        if hub.registry.get(server_id) is not None:  # not closed meanwhile
            log.warning("server %s is connected here but was marked disconnected", server_id)
            await touch(hub, server_id, connected=True)
