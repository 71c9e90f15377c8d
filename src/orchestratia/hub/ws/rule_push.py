"""Telling daemons their tenant's approval rules changed (docs/approvals.md): each connected
daemon is sent ``approval_rules_updated {version}`` and fetches the rule set if that is newer
than its cache.

A change made through this process is pushed at once (``push``). ``sync`` runs every few seconds
and tells every connection of this process the current version once more whenever it has not
been told it yet: a daemon that just connected, or a change committed by another hub replica or
by a code path that only bumped the version (an inbox answer creating a session rule).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from orchestratia.hub.db.models import Server, Tenant
from orchestratia.hub.ws.registry import DaemonConnection
from orchestratia.protocol.approvals import ApprovalRulesUpdatedFrame
from orchestratia.protocol.base import dump

if TYPE_CHECKING:  # HubState holds a RuleVersionsTold, so it imports this module
    from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)
SEND_TIMEOUT = 5.0


@dataclass
class RuleVersionsTold:
    """The rule-set version each daemon connection of this process was last told."""

    told: dict[str, tuple[DaemonConnection, int]] = field(default_factory=dict)

    def needs(self, conn: DaemonConnection, version: int) -> bool:
        # Version 0 means the tenant never had a rule: a daemon fetches its (empty) set when it
        # connects anyway, so there is nothing to tell.
        if version <= 0:
            return False
        held = self.told.get(conn.server_id)
        return held is None or held[0] is not conn or held[1] < version

    def record(self, conn: DaemonConnection, version: int) -> None:
        held = self.told.get(conn.server_id)
        if held is None or held[0] is not conn or held[1] < version:
            self.told[conn.server_id] = (conn, version)

    def forget_except(self, connected: set[str]) -> None:
        for server_id in set(self.told) - connected:
            del self.told[server_id]


async def _tell(told: RuleVersionsTold, conn: DaemonConnection, version: int) -> None:
    try:
        frame = dump(ApprovalRulesUpdatedFrame(version=version))
        await asyncio.wait_for(conn.send_text(frame), SEND_TIMEOUT)
    except Exception as exc:  # a closing socket: its daemon fetches the rules when it is back
        log.info("could not tell server %s about rules v%d: %s", conn.server_id, version, exc)
        return
    told.record(conn, version)


async def _versions(hub: HubState, server_ids: set[str]) -> list[tuple[str, int]]:
    """(server id, its tenant's rule-set version) for these servers."""
    async with hub.sessionmaker() as db:
        rows = await db.execute(
            select(Server.id, Tenant.approval_rules_version)
            .join(Tenant, Tenant.id == Server.tenant_id)
            .where(Server.id.in_(server_ids))
        )
        return [(sid, int(v)) for sid, v in rows]


async def push(hub: HubState, tenant_id: str, version: int) -> int:
    """Tell this process's connected daemons of ``tenant_id`` about ``version``; how many."""
    registry, told = hub.registry, hub.rule_versions
    connected = registry.connected_ids()
    if not connected:
        return 0
    try:
        async with hub.sessionmaker() as db:
            ids = set(
                await db.scalars(
                    select(Server.id).where(Server.tenant_id == tenant_id, Server.id.in_(connected))
                )
            )
    except Exception:  # the change is committed; ``sync`` tells the daemons on its next tick
        log.exception("could not look up the daemons of tenant %s to push rules", tenant_id)
        return 0
    conns = [c for c in (registry.get(sid) for sid in ids) if c is not None]
    await asyncio.gather(*(_tell(told, c, version) for c in conns if told.needs(c, version)))
    return len(conns)


async def sync(hub: HubState) -> None:
    """Tell every connection that has not yet heard its tenant's current version."""
    registry, told = hub.registry, hub.rule_versions
    connected = registry.connected_ids()
    told.forget_except(connected)
    if not connected:
        return
    pending = []
    for server_id, version in await _versions(hub, connected):
        conn = registry.get(server_id)
        if conn is not None and told.needs(conn, version):
            pending.append(_tell(told, conn, version))
    await asyncio.gather(*pending)  # _tell never raises
