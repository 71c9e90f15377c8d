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

from orchestratia.hub.db.models import Tenant
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


async def _versions(hub: HubState, tenant_ids: set[str]) -> dict[str, int]:
    """The rule-set version of each of these tenants that ever had a rule. Asked per tenant, not
    per server: a query binding every connected daemon (thousands) every few seconds is what
    held a large fleet's heartbeats up."""
    async with hub.sessionmaker() as db:
        rows = await db.execute(
            select(Tenant.id, Tenant.approval_rules_version).where(
                Tenant.id.in_(tenant_ids), Tenant.approval_rules_version > 0
            )
        )
        return {tenant_id: int(version) for tenant_id, version in rows}


async def push(hub: HubState, tenant_id: str, version: int) -> int:
    """Tell this process's connected daemons of ``tenant_id`` about ``version``; how many."""
    conns = [c for c in hub.registry.connections() if c.tenant_id == tenant_id]
    told = hub.rule_versions
    await asyncio.gather(*(_tell(told, c, version) for c in conns if told.needs(c, version)))
    return len(conns)


async def sync(hub: HubState) -> None:
    """Tell every connection that has not yet heard its tenant's current version."""
    registry, told = hub.registry, hub.rule_versions
    conns = registry.connections()
    told.forget_except({c.server_id for c in conns})
    if not conns:
        return
    versions = await _versions(hub, {c.tenant_id for c in conns})
    pending = [
        _tell(told, conn, versions[conn.tenant_id])
        for conn in conns
        if conn.tenant_id in versions and told.needs(conn, versions[conn.tenant_id])
    ]
    await asyncio.gather(*pending)  # _tell never raises
