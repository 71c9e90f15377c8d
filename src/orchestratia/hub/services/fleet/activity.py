"""What each session is doing, as the sessions grid and the overview show it (SPEC §9).

``state_of`` is the rule, a pure function over facts: the session's status, when it last
printed (kept in memory by the relay path, never stored: output arrives many times a second),
and whether the inbox holds something waiting for a person about it. ``waiting_sessions`` and
``states`` read those facts for pages; the live updates come from ``hub.ws.grid_watch``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ToolApproval
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.task_models import Intervention, Task
from orchestratia.hub.db.types import utcnow
from orchestratia.protocol.dashboard_events import ActivityState

# What needs a person first, then what is busy, then what is quiet, then what has ended.
SORT_ORDER: dict[ActivityState, int] = {
    "waiting": 0,
    "working": 1,
    "idle": 2,
    "exited": 3,
    "lost": 3,
}


def state_of(
    status: str, last_output: float | None, now: float, idle_after: float, waiting: bool
) -> ActivityState:
    """The activity state of a session with ``status`` that last printed at ``last_output``
    (monotonic seconds; None: not since the hub started) at ``now``."""
    if status == "exited":
        return "exited"
    if status == "lost":
        return "lost"
    if waiting:
        return "waiting"
    if last_output is not None and now - last_output < idle_after:
        return "working"
    return "idle"


@dataclass
class OutputClock:
    """When each session last printed, in this hub process (monotonic seconds). Set on every
    output frame, so it is a dict write and nothing more."""

    last: dict[str, float] = field(default_factory=dict)

    def printed(self, session_id: str, at: float | None = None) -> None:
        self.last[session_id] = time.monotonic() if at is None else at

    def forget(self, session_id: str) -> None:
        self.last.pop(session_id, None)


async def waiting_sessions(db: AsyncSession, project_ids: Collection[str]) -> set[str]:
    """Sessions of these projects (access already checked) with an inbox item waiting for a
    person: a pending question or help request, a tool call waiting for approval, a plan to
    review."""
    if not project_ids:
        return set()
    ids = list(project_ids)
    asked = select(Intervention.session_id).where(
        Intervention.project_id.in_(ids),
        Intervention.status == "pending",
        Intervention.session_id.is_not(None),
    )
    approvals = select(ToolApproval.session_id).where(
        ToolApproval.project_id.in_(ids),
        ToolApproval.status == "pending",
        ToolApproval.expires_at > utcnow(),
        ToolApproval.session_id.is_not(None),
    )
    plans = select(Task.assigned_session_id).where(
        Task.project_id.in_(ids),
        Task.status == "plan_review",
        Task.assigned_session_id.is_not(None),
    )
    found: set[str] = set()
    for query in (asked, approvals, plans):
        found.update(s for s in await db.scalars(query) if s)
    return found


def states(
    statuses: Mapping[str, str],
    waiting: Collection[str],
    clock: OutputClock,
    idle_after: float,
    now: float | None = None,
) -> dict[str, ActivityState]:
    """The state of each session, by id, from its status (``statuses``: id -> status)."""
    at = time.monotonic() if now is None else now
    return {
        sid: state_of(status, clock.last.get(sid), at, idle_after, sid in waiting)
        for sid, status in statuses.items()
    }


def sort_key(state: ActivityState, name: str) -> tuple[int, str]:
    return SORT_ORDER[state], name


async def for_sessions(
    db: AsyncSession,
    rows: Collection[TerminalSession],
    clock: OutputClock,
    idle_after: float,
) -> Mapping[str, ActivityState]:
    """The states of sessions a caller may already see (the query helper pages use)."""
    waiting = await waiting_sessions(db, {s.project_id for s in rows})
    return states({s.id: s.status for s in rows}, waiting, clock, idle_after)
