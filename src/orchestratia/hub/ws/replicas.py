"""Joining the other hub replicas at start-up: this replica's bus handler, and the chores only a
replica among others has (telling its output counts, repairing followed output)."""

from __future__ import annotations

import asyncio

from orchestratia.hub.chores import every
from orchestratia.hub.errors import Unauthorized
from orchestratia.hub.services.access import grant_check, share_links
from orchestratia.hub.services.access.projects import WRITE_ROLES
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import daemon_routing, session_links
from orchestratia.protocol.cluster import ClusterMessage, OutputCounted
from orchestratia.protocol.revocations import AccessChanged, LoginsRevoked, ShareLinkRevoked

COUNT_INTERVAL = 1.0
# How often a relay following a session held elsewhere checks the recording for output the bus
# lost (Redis restarted, or output published before this replica subscribed).
REPAIR_INTERVAL = 2.0


async def join(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    async def handle(message: ClusterMessage) -> None:
        await daemon_routing.handle(hub, message)

    async def repair() -> None:
        await session_links.repair_followed(hub)

    async def after_loss() -> None:
        await recheck_sockets(hub)
        await repair()

    hub.bus.on_message(handle)
    hub.bus.on_resync(after_loss)
    await hub.bus.start()
    if not hub.bus.shared:
        return []
    return [
        asyncio.create_task(
            every(COUNT_INTERVAL, stop, lambda: _tell_counts(hub), "output counts")
        ),
        asyncio.create_task(every(REPAIR_INTERVAL, stop, repair, "followed output repair")),
        asyncio.create_task(
            every(
                hub.settings.socket_recheck_seconds,
                stop,
                lambda: recheck_sockets(hub),
                "socket recheck",
            )
        ),
    ]


async def _tell_counts(hub: HubState) -> None:
    if not hub.output_counted:
        return
    counts = dict(hub.output_counted)
    hub.output_counted.clear()
    await hub.bus.broadcast(OutputCounted(origin=hub.bus.replica_id, bytes_by_project=counts))


async def recheck_sockets(hub: HubState) -> None:
    """The bus may have lost messages (Redis was away, a publish given up, a subscriber cut off):
    a logout, a revoked share link, a changed project role or a revoked daemon key told meanwhile
    may never have arrived, so check every open socket's against the database. Run after a
    reconnect and every ``socket_recheck_seconds``."""
    logins, shares = hub.guards.grants()
    pairs = hub.guards.memberships()
    daemons = {c.key_hash: c.server_id for c in hub.registry.connections() if c.key_hash}
    if not logins and not shares and not pairs and not daemons:
        return
    async with hub.sessionmaker() as db:
        ended_logins, revoked_shares = await share_links.ended_grants(db, logins, shares)
        roles = await grant_check.project_roles(db, pairs)
        revoked = await grant_check.revoked_keys(db, set(daemons))
    if ended_logins:
        hub.guards.apply(LoginsRevoked(auth_session_ids=ended_logins, reason="logout"))
    for token_hash in revoked_shares:
        hub.guards.apply(ShareLinkRevoked(token_hash=token_hash))
    for (user_id, project_id), role in roles.items():
        if role is None or role not in WRITE_ROLES:  # as the revocation would have said
            hub.guards.apply(AccessChanged(project_id=project_id, user_id=user_id, role=role))
    for key_hash in revoked:
        await hub.registry.disconnect(daemons[key_hash], Unauthorized("server key revoked"))
