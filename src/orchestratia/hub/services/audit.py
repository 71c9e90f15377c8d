"""Append-only, hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import AuditEvent, User
from orchestratia.hub.db.types import utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    type: str  # "user" | "server" | "system" | "anonymous"
    id: str | None = None
    ip: str | None = None
    request_id: str | None = None
    # Set when a person acted through one of their API keys: the log says which key it was.
    api_key_id: str | None = None


def _digest(prev_hash: str, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _payload(event: AuditEvent, *, legacy: bool = False) -> dict[str, Any]:
    """What a row's hash covers: every column but its id and the hashes themselves. Rows
    written before the request id was covered (``legacy``) still verify without it; a request id
    edited in a newer row cannot pass that way, since its stored hash was made with it."""
    covered = {} if legacy else {"request_id": event.request_id}
    return {
        **covered,
        "tenant_id": event.tenant_id,
        "project_id": event.project_id,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
        "details": event.details,
        "created_at": event.created_at.isoformat(),
    }


async def record(
    db: AsyncSession,
    actor: Actor,
    action: str,
    *,
    tenant_id: str | None,
    project_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction; it commits or rolls back with the change."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        # Serialise chain appends across connections; released at commit.
        await db.execute(text("SELECT pg_advisory_xact_lock(7202611)"))
    elif dialect == "sqlite":
        # Same for SQLite: a no-op write takes the database write lock before we read the chain
        # head, so two appends can't both link to the same predecessor (a forked chain).
        await db.execute(text("UPDATE audit_events SET id = id WHERE 0"))
    prev = await db.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        tenant_id=tenant_id,
        project_id=project_id,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=actor.ip,
        request_id=actor.request_id,
        details=(details or {}) | ({"api_key_id": actor.api_key_id} if actor.api_key_id else {}),
        created_at=utcnow(),
        prev_hash=prev or GENESIS,
    )
    event.hash = _digest(event.prev_hash, _payload(event))
    db.add(event)
    await db.flush()
    return event


class ProjectRow(Protocol):
    """A row that belongs to one project of one tenant (a task, an invite, an intervention)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def project_id(self) -> str | None: ...


async def record_on(
    db: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    row: ProjectRow,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """``record`` for a change to ``row``: the event names it and the tenant and project it
    belongs to."""
    return await record(
        db,
        actor,
        action,
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        target_type=target_type,
        target_id=row.id,
        details=details,
    )


async def record_on_user(
    db: AsyncSession,
    actor: Actor,
    action: str,
    user: User,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """``record`` for something done to, or tried on, one account."""
    return await record(
        db,
        actor,
        action,
        tenant_id=user.tenant_id,
        target_type="user",
        target_id=user.id,
        details=details,
    )


@dataclass(frozen=True)
class ChainBreak:
    """The first row the chain cannot vouch for, and why."""

    id: int
    created_at: datetime
    action: str
    reason: str  # "content" (edited) | "link" (a row before it was removed or rewritten)

    def describe(self) -> str:
        why = (
            "its content does not match its hash (the row was edited)"
            if self.reason == "content"
            else "it does not link to the row before it (a row was deleted or rewritten)"
        )
        return f"row {self.id} ({self.created_at.isoformat()}, {self.action}): {why}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


async def verify_chain(db: AsyncSession, batch: int = 1000) -> ChainReport:
    """Walk the whole chain in id order, ``batch`` rows at a time (never all in memory), up to
    the first row whose hash does not match its content or whose link does not match the row
    before it."""
    prev, last_id, checked = GENESIS, 0, 0
    while True:
        rows = list(
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
        )
        for event in rows:
            checked += 1
            if event.hash not in (
                _digest(event.prev_hash, _payload(event)),
                _digest(event.prev_hash, _payload(event, legacy=True)),
            ):
                reason = "content"
            elif event.prev_hash != prev:
                reason = "link"
            else:
                prev = event.hash
                continue
            return ChainReport(
                checked, ChainBreak(event.id, event.created_at, event.action, reason)
            )
        if len(rows) < batch:
            return ChainReport(checked, None)
        last_id = rows[-1].id
        db.expunge_all()  # what was checked need not stay in the session's identity map
