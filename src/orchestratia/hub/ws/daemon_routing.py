"""Reaching a daemon from any replica, and what this replica does for the others.

A daemon's socket lives on one replica. ``send_to_daemon`` sends a frame there: straight down the
socket when this replica holds it, else as a message to the replica that does
(``bus.holder``). ``handle`` carries out the messages other replicas (and this one) send over
the bus (``protocol.cluster``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestratia.hub.errors import Conflict, Unauthorized
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import rule_push, task_delivery
from orchestratia.hub.ws.registry import DaemonConnection
from orchestratia.protocol.base import dump
from orchestratia.protocol.cluster import (
    ApprovalDecided,
    ClusterMessage,
    DaemonClaimed,
    DaemonReply,
    DaemonText,
    DeliverPending,
    DisconnectDaemon,
    DriverChanged,
    OutputCounted,
    RulesChanged,
    SessionViewChanged,
)
from orchestratia.protocol.frames import daemon_frame_adapter
from orchestratia.protocol.sessions import ScrollbackCapturedFrame, SessionSnapshotFrame

log = logging.getLogger(__name__)
# A daemon whose socket does not drain holds up only its own messages, never the bus's.
SEND_TIMEOUT = 10.0


async def send_to_daemon(hub: HubState, server_id: str, frame: BaseModel) -> bool:
    """Send ``frame`` to the server's daemon wherever it is connected; False when it is not
    connected to any replica."""
    conn = hub.registry.get(server_id)
    if conn is not None:
        await conn.send_text(dump(frame))
        return True
    holder = await hub.bus.holder(server_id)
    if holder is None or holder.replica_id == hub.bus.replica_id:
        return False
    message = DaemonText(origin=hub.bus.replica_id, server_id=server_id, text=dump(frame))
    await hub.bus.send_to(holder.replica_id, message)
    return True


async def daemon_replied(hub: HubState, server_id: str, frame: BaseModel) -> None:
    """A daemon answered a request (a snapshot, a scrollback capture) that any replica may have
    made: every replica hears it and the one waiting for it takes it."""
    await hub.bus.broadcast(
        DaemonReply(origin=hub.bus.replica_id, server_id=server_id, frame=dump(frame))
    )


async def handle(hub: HubState, message: ClusterMessage) -> None:
    if isinstance(message, DaemonText):
        conn = hub.registry.get(message.server_id)
        if conn is not None:
            _in_order(conn, _send_text(conn, message.text))
    elif isinstance(message, DeliverPending):
        conn = hub.registry.get(message.server_id)
        if conn is not None:
            _in_order(conn, task_delivery.send_ids(hub, conn, message.delivery_ids))
    elif isinstance(message, DaemonReply):
        _take_reply(hub, message)
    elif isinstance(message, DaemonClaimed):
        conn = hub.registry.get(message.server_id)
        if conn is not None and message.origin != hub.bus.replica_id:
            # The daemon reconnected through another replica: this socket is stale, but only if
            # the directory says so now. A claim heard late (the daemon came back here since) or
            # replayed must not kick the current socket.
            holder = await hub.bus.directory_holder(message.server_id)
            if holder is not None and holder.replica_id != hub.bus.replica_id:
                conn.retired = True
                conn.close_soon(Conflict("replaced by a newer connection"))
    elif isinstance(message, DisconnectDaemon):
        await hub.registry.disconnect(message.server_id, Unauthorized(message.reason))
    elif isinstance(message, RulesChanged):
        if message.tenant_id is not None and message.version is not None:
            await rule_push.push(hub, message.tenant_id, message.version)
        else:
            await rule_push.sync(hub)
    elif isinstance(message, ApprovalDecided):
        hub.approval_waiters.wake(message.approval_id)
    elif isinstance(message, SessionViewChanged):
        relay = hub.relays.get(message.session_id)
        if relay is not None:
            relay.update_view(
                status=message.status,
                exit_code=message.exit_code,
                cols=message.cols,
                rows=message.rows,
            )
    elif isinstance(message, OutputCounted):
        if message.origin != hub.bus.replica_id:
            for project_id, size in message.bytes_by_project.items():
                hub.output_meter.add(project_id, size)
    elif isinstance(message, DriverChanged):
        hub.relays.driver_changed(message.session_id, message.driver)


async def _send_text(conn: DaemonConnection, text: str) -> None:
    try:
        await asyncio.wait_for(conn.send_text(text), SEND_TIMEOUT)
    except Exception:  # gone or stuck: its reconnect resyncs what matters (deliveries, acks)
        log.info("a frame for server %s from another replica was not sent", conn.server_id)


def _in_order(conn: DaemonConnection, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` after what this replica was asked to send ``conn`` before (keystrokes keep
    their order) without holding up the bus's reader."""
    previous = conn.forwarded

    async def chained() -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        await work

    conn.forwarded = asyncio.ensure_future(chained())


def _take_reply(hub: HubState, message: DaemonReply) -> None:
    try:
        frame = daemon_frame_adapter.validate_json(message.frame)
    except ValidationError:
        log.warning("a daemon reply relayed by %s did not parse", message.origin)
        return
    if isinstance(frame, SessionSnapshotFrame):
        relay = hub.relays.get(frame.session_id)
        if relay is not None:
            relay.resolve_snapshot(frame)
    elif isinstance(frame, ScrollbackCapturedFrame):
        hub.scrollbacks.resolve(message.server_id, frame)
