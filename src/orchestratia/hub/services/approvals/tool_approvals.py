"""Tool calls a rule sent to ``ask`` (docs/approvals.md): the hook raises one, a person decides
it in the inbox exactly once, and the hook long-polls for the answer.

Exactly once: the decision is a conditional UPDATE on the row while it is still pending and
unexpired, so of any number of racing decisions one applies; the same ``decision_id`` again (a
retry after a lost reply) is recognised as already applied, anything else is a conflict.

Waiting: ``ApprovalWaiters`` wakes long-polls in this process as soon as a decision commits; each
poll also re-reads the row every ``POLL_SECONDS``, so a decision taken on another hub replica
(or by a caller that did not pass the waiters) is seen within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Literal, cast

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ToolApproval
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Forbidden, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.approvals import rule_sets
from orchestratia.hub.services.integrations import announcements
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.protocol.approval_api import (
    ApprovalStatus,
    ToolApprovalCreate,
    ToolApprovalState,
)
from orchestratia.protocol.approvals import clip_tool_input
from orchestratia.rules.matching import main_parameters

Outcome = Literal["applied", "already_applied", "conflict", "not_found"]
POLL_SECONDS = 0.5
MAX_WAIT = 30.0
MAIN_PARAM_CHARS = 10_000
NOT_FOUND = "tool approval not found"


class ApprovalWaiters:
    """Long-polls of this process waiting on tool approvals, woken by ``notify`` (a decision
    made here, told to the other replicas through ``tell_others``) or ``wake`` (one made
    anywhere)."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}
        self.tell_others: Callable[[str], None] | None = None

    @contextlib.contextmanager
    def watch(self, approval_id: str) -> Iterator[asyncio.Event]:
        wake = asyncio.Event()
        self._events.setdefault(approval_id, set()).add(wake)
        try:
            yield wake
        finally:
            waiting = self._events.get(approval_id)
            if waiting is not None:
                waiting.discard(wake)
                if not waiting:
                    del self._events[approval_id]

    def notify(self, approval_id: str) -> None:
        self.wake(approval_id)
        if self.tell_others is not None:
            self.tell_others(approval_id)

    def wake(self, approval_id: str) -> None:
        for wake in self._events.get(approval_id, ()):
            wake.set()

    def __len__(self) -> int:
        return sum(len(w) for w in self._events.values())


async def _agent_session(
    db: AsyncSession, caller: Caller, session_id: str | None
) -> TerminalSession | None:
    """The session an agent acts for: its own with a session token, or (with a server key) a
    named session that must be on its server."""
    if caller.server is None:
        raise Forbidden("tool approvals are raised by agents")
    if caller.session is not None:
        if session_id is not None and session_id != caller.session.id:
            raise NotFound("session not found on this server")
        return caller.session
    if session_id is None:
        return None
    session = await db.get(TerminalSession, session_id)
    if session is None or session.server_id != caller.server.id:
        raise NotFound("session not found on this server")
    return session


async def create(
    db: AsyncSession, caller: Caller, body: ToolApprovalCreate, timeout: float
) -> ToolApproval:
    """A pending tool approval that expires after ``timeout`` seconds."""
    session = await _agent_session(db, caller, body.session_id)
    assert caller.server is not None
    now = utcnow()
    values = main_parameters(body.tool, body.tool_input)
    row = ToolApproval(
        tenant_id=caller.server.tenant_id,
        project_id=caller.server.project_id,
        server_id=caller.server.id,
        session_id=session.id if session else None,
        agent=body.agent,
        tool=body.tool,
        main_param="\n".join(values)[:MAIN_PARAM_CHARS] if values else None,
        # Bounded like the permission log: the inbox shows it, the hook keeps the original.
        tool_input=clip_tool_input(body.tool_input),
        rule_id=body.rule_id,
        status="pending",
        reason=body.reason,
        created_at=now,
        expires_at=now + timedelta(seconds=min(timeout, body.wait_seconds or timeout)),
    )
    db.add(row)
    await db.flush()
    await audit.record(
        db,
        caller.actor,
        "approval.requested",
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        target_type="tool_approval",
        target_id=row.id,
        details={"tool": row.tool, "session_id": row.session_id, "rule_id": row.rule_id},
    )
    announcements.approval(db, row, "approval.requested")
    return row


def state(row: ToolApproval) -> ToolApprovalState:
    return ToolApprovalState(
        id=row.id,
        status="expired" if _expired(row) else cast(ApprovalStatus, row.status),
        reason=row.reason,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
    )


def _expired(row: ToolApproval) -> bool:
    return row.status == "expired" or (row.status == "pending" and row.expires_at <= utcnow())


async def _fresh(db: AsyncSession, approval_id: str) -> ToolApproval | None:
    stmt = select(ToolApproval).where(ToolApproval.id == approval_id)
    return await db.scalar(stmt.execution_options(populate_existing=True))


async def _expire(db: AsyncSession, row: ToolApproval) -> bool:
    """Record a lapsed ask as expired and announce it, conditionally: a decision (or another
    replica's expiry) may have just landed. Does not commit; True if this call expired it."""
    expired = await db.execute(
        update(ToolApproval)
        .where(ToolApproval.id == row.id, ToolApproval.status == "pending")
        .values(status="expired", decided_at=row.expires_at)
    )
    if expired.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await db.refresh(row)
    announcements.approval(db, row, "approval.decided")
    return True


async def expire_lapsed(db: AsyncSession, limit: int = 100) -> int:
    """Expire asks whose time ran out while nobody was polling them (the hook gave up, its
    daemon went away), so ``approval.decided`` goes out for them too; commits. How many."""
    lapsed = await db.scalars(
        select(ToolApproval)
        .where(ToolApproval.status == "pending", ToolApproval.expires_at <= utcnow())
        .order_by(ToolApproval.expires_at)
        .limit(limit)
    )
    count = 0
    for row in list(lapsed):
        count += await _expire(db, row)
    await db.commit()
    return count


async def wait(
    db: AsyncSession, caller: Caller, approval_id: str, seconds: float, waiters: ApprovalWaiters
) -> ToolApproval:
    """The approval once decided or expired, or still pending after ``seconds`` (≤ 30). Only
    the server that raised it may read it. The connection goes back to the pool between polls,
    so long-polls never hold the database."""
    if caller.server is None:
        raise Forbidden("tool approvals are read by agents")
    server_id = caller.server.id  # read now: the rollbacks below expire every loaded object
    deadline = time.monotonic() + min(max(seconds, 0.0), MAX_WAIT)
    with waiters.watch(approval_id) as wake:
        while True:
            wake.clear()  # before the read, so a decision landing after it still wakes us
            row = await _fresh(db, approval_id)
            if row is None or row.server_id != server_id:
                raise NotFound(NOT_FOUND)
            if row.status == "pending" and _expired(row):
                await _expire(db, row)
                await db.commit()
                return row
            left = deadline - time.monotonic()
            if row.status != "pending" or left <= 0:
                return row
            until_expiry = (row.expires_at - utcnow()).total_seconds()
            await db.rollback()  # end the transaction: fresh data next time, pool slot freed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.0, min(POLL_SECONDS, left, until_expiry)))


async def decide(
    db: AsyncSession,
    caller: Caller,
    approval_id: str,
    approve: bool,
    decision_id: str,
    reason: str | None = None,
    allow_minutes: int | None = None,
    *,
    waiters: ApprovalWaiters | None = None,
) -> Outcome:
    """Decide a pending tool call in the caller's transaction (the caller commits).

    ``applied``: this call decided it (audited ``approval.decided``; with ``allow_minutes`` and
    an approval, a session rule allowing this tool and main parameter for that long is created
    and the rule-set version bumped: the daemons learn of it from ``hub.ws.rule_push``).
    ``already_applied``: it was decided earlier under this same ``decision_id``. ``conflict``:
    decided otherwise, or expired. ``not_found``: not an approval the caller can see. A viewer
    gets ``Forbidden``. With ``waiters``, long-polls in this process wake when the transaction
    commits, not before (they would read the row still pending)."""
    if caller.principal is None:
        raise Forbidden("tool calls are decided by people")
    row = await db.get(ToolApproval, approval_id)
    if row is None or row.tenant_id != caller.tenant_id:
        return "not_found"
    try:
        await access(db, caller.principal, row.project_id, write=True)
    except NotFound:
        return "not_found"
    now = utcnow()
    status = "approved" if approve else "denied"
    verb = "Approved" if approve else "Denied"
    claimed = await db.execute(
        update(ToolApproval)
        .where(
            ToolApproval.id == row.id,
            ToolApproval.status == "pending",
            ToolApproval.expires_at > now,
        )
        .values(
            status=status,
            decision_id=decision_id,
            decided_by=caller.name,
            decided_at=now,
            reason=reason or f"{verb} by {caller.name} in the Orchestratia inbox.",
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        row = await _fresh(db, approval_id)
        if row is not None and row.decision_id == decision_id:
            return "already_applied"
        return "conflict"
    await db.refresh(row)
    announcements.approval(db, row, "approval.decided")
    await audit.record(
        db,
        caller.actor,
        "approval.decided",
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        target_type="tool_approval",
        target_id=row.id,
        details={
            "status": status,
            "decision_id": decision_id,
            "decided_by": caller.name,
            "decided_at": now.isoformat(),
            "allow_minutes": allow_minutes,
        },
    )
    if approve and allow_minutes:
        await _allow_for_session(db, caller, row, allow_minutes)
    if waiters is not None:
        _notify_after_commit(db, waiters, row.id)
    return "applied"


async def _allow_for_session(
    db: AsyncSession, caller: Caller, row: ToolApproval, minutes: int
) -> None:
    session = await db.get(TerminalSession, row.session_id) if row.session_id else None
    if session is None:  # raised without a session: there is nothing to scope the rule to
        return
    await rule_sets.add_session_allow(
        db,
        caller,
        session=session,
        tool=row.tool,
        tool_input=row.tool_input,
        minutes=minutes,
        approval_id=row.id,
    )


def _notify_after_commit(db: AsyncSession, waiters: ApprovalWaiters, approval_id: str) -> None:
    def wake(_session: Any) -> None:
        waiters.notify(approval_id)

    event.listen(db.sync_session, "after_commit", wake, once=True)
