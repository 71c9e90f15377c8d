"""Sending deliveries to daemons: the ones a committed change made (``send``, from the
after-commit step, through the replica holding the daemon's socket) and, after a daemon
(re)connects, everything it has not acknowledged."""

from __future__ import annotations

import logging
from collections import defaultdict

from orchestratia.hub.db.task_models import Delivery
from orchestratia.hub.services.tasks import deliveries
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.registry import DaemonConnection
from orchestratia.protocol.base import dump
from orchestratia.protocol.cluster import DeliverPending

log = logging.getLogger(__name__)


async def send(hub: HubState, items: list[Delivery]) -> None:
    by_server: dict[str, list[Delivery]] = defaultdict(list)
    for item in items:
        by_server[item.server_id].append(item)
    for server_id, batch in by_server.items():
        conn = hub.registry.get(server_id)
        if conn is not None:
            await _send_batch(hub, conn, batch)
            continue
        holder = await hub.bus.holder(server_id)
        if holder is not None and holder.replica_id != hub.bus.replica_id:
            ids = [item.id for item in batch]
            message = DeliverPending(
                origin=hub.bus.replica_id, server_id=server_id, delivery_ids=ids
            )
            await hub.bus.send_to(holder.replica_id, message)
        # Else nobody holds the daemon: it gets them all when it connects (``resend_pending``).


async def send_ids(hub: HubState, conn: DaemonConnection, delivery_ids: list[str]) -> None:
    """Send these deliveries, committed on another replica, if still not acknowledged."""
    wanted = set(delivery_ids)
    async with hub.sessionmaker() as db:
        pending = [
            d for d in await deliveries.pending_for_server(db, conn.server_id) if d.id in wanted
        ]
    if pending:
        await _send_batch(hub, conn, pending)


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


async def resend_pending(hub: HubState, conn: DaemonConnection) -> None:
    """After a daemon (re)connects: everything it has not acknowledged, oldest first."""
    async with hub.sessionmaker() as db:
        pending = list(await deliveries.pending_for_server(db, conn.server_id))
    if pending:
        await _send_batch(hub, conn, pending)
