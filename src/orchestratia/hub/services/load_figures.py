"""Figures ``/metrics`` reads from the database: the inbox's depth and the live sessions.

Both are counts over indexed status columns (``ix_interventions_tenant_status``,
``ix_tool_approvals_tenant_status``, ``ix_sessions_project_status``), taken across every tenant:
they are the operator's view of the whole hub, the same on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ToolApproval
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.task_models import Intervention

LIVE_STATUSES = ("starting", "running")


@dataclass(frozen=True)
class LoadFigures:
    inbox_interventions: int = 0
    inbox_tool_approvals: int = 0
    sessions: dict[str, int] = field(default_factory=dict)  # live status → count


async def read(db: AsyncSession) -> LoadFigures:
    """Pending interventions and tool approvals (one statement), and live sessions by status."""
    pending = select(
        select(func.count())
        .select_from(Intervention)
        .where(Intervention.status == "pending")
        .scalar_subquery(),
        select(func.count())
        .select_from(ToolApproval)
        .where(ToolApproval.status == "pending")
        .scalar_subquery(),
    )
    interventions, approvals = (await db.execute(pending)).one()
    rows = await db.execute(
        select(TerminalSession.status, func.count())
        .where(TerminalSession.status.in_(LIVE_STATUSES))
        .group_by(TerminalSession.status)
    )
    by_status = {status: 0 for status in LIVE_STATUSES}
    by_status.update({status: int(count) for status, count in rows})
    return LoadFigures(int(interventions or 0), int(approvals or 0), by_status)
