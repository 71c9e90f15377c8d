"""Carrying out a committed task change: deliveries to daemons, live dashboard updates, and the
auto-assignment passes it made due. Also the daemon side of deliveries: acks and resends."""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import select

from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.task_models import Delivery, Task
from orchestratia.hub.services.tasks import assignment, deliveries, lost_sessions
from orchestratia.hub.services.tasks import views as task_views
from orchestratia.hub.services.tasks.context import Outbox
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.registry import DaemonConnection
from orchestratia.protocol.base import dump
from orchestratia.protocol.deliveries import DeliveryAckFrame

log = logging.getLogger(__name__)
MAX_ROUNDS = 5  # auto-assignment can trigger more auto-assignment; bound the chain


async def finish(hub: HubState, outbox: Outbox) -> None:
    """Call after the transaction that filled ``outbox`` committed."""
    for _ in range(MAX_ROUNDS):
        await send(hub, outbox.deliveries)
        await publish(hub, outbox)
        if not outbox.auto_assign:
            return
        outbox = await auto_assign(hub, outbox.auto_assign)


async def send(hub: HubState, items: list[Delivery]) -> None:
    by_server: dict[str, list[Delivery]] = defaultdict(list)
    for item in items:
        by_server[item.server_id].append(item)
    for server_id, batch in by_server.items():
        conn = hub.registry.get(server_id)
        if conn is not None:
            await _send_batch(hub, conn, batch)


async def _send_batch(hub: HubState, conn: DaemonConnection, batch: list[Delivery]) -> None:
    sent = []
    for item in batch:
        try:
            await conn.send_text(dump(deliveries.frame_for(item)))
        except Exception:  # the socket went away: the reconnect resends what is left
            log.info("delivery %s to server %s not sent; will resend", item.id, conn.server_id)
            break
        sent.append(item.id)
    async with hub.sessionmaker() as db:
        await deliveries.mark_sent(db, sent, acked=conn.protocol < 2)


async def publish(hub: HubState, outbox: Outbox) -> None:
    for project_id, event in outbox.event_dicts():
        hub.bus.publish(project_id, {"type": "task_event", "event": event})
    if not outbox.tasks:
        return
    async with hub.sessionmaker() as db:
        rows = list(await db.scalars(select(Task).where(Task.id.in_(outbox.tasks))))
        for task in await task_views.render(db, rows):
            hub.bus.publish(
                task.project_id, {"type": "task_update", "task": task.model_dump(mode="json")}
            )


async def auto_assign(hub: HubState, project_ids: set[str], task_id: str | None = None) -> Outbox:
    outbox = Outbox()
    connected = hub.registry.connected_ids()
    for project_id in sorted(project_ids):
        async with hub.sessionmaker() as db:
            try:
                await assignment.run(db, project_id, connected, outbox, task_id=task_id)
                await db.commit()
            except Exception:
                log.exception("auto-assignment failed for project %s", project_id)
                await db.rollback()
    return outbox


async def auto_assign_now(hub: HubState, project_id: str, task_id: str) -> None:
    """Place one task now, whether or not its project auto-assigns."""
    await finish(hub, await auto_assign(hub, {project_id}, task_id))


async def resend_pending(hub: HubState, conn: DaemonConnection) -> None:
    """After a daemon (re)connects: everything it has not acknowledged, oldest first."""
    async with hub.sessionmaker() as db:
        pending = list(await deliveries.pending_for_server(db, conn.server_id))
    if pending:
        await _send_batch(hub, conn, pending)


async def on_ack(hub: HubState, conn: DaemonConnection, ack: DeliveryAckFrame) -> None:
    outbox = Outbox()
    async with hub.sessionmaker() as db:
        await deliveries.acknowledge(db, conn.server_id, ack, outbox)
    await publish(hub, outbox)


async def on_capacity(hub: HubState, project_id: str) -> None:
    """A session started or a server came online: waiting tasks may now find a home."""
    await finish(hub, Outbox(auto_assign={project_id}))


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
        await finish(hub, outbox)
