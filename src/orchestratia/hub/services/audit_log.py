"""Reading the audit log: who may see which events, the filters, cursor pages (newest first) and
the batches an export streams."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestratia.hub.db.models import AuditEvent
from orchestratia.hub.errors import Forbidden, Invalid
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access, list_for
from orchestratia.protocol.audit import AuditEventPublic, AuditFilters, AuditPage, AuditQuery

EXPORT_BATCH = 500
NOT_ALLOWED = "the audit log is open to tenant admins and project owners"
BAD_CURSOR = "cursor is not one this hub issued for these filters; start again without it"


@dataclass(frozen=True)
class Scope:
    """The events a person may read: their tenant's, and only some projects' unless ``all``."""

    tenant_id: str
    project_ids: tuple[str, ...] | None  # None: every event of the tenant (a tenant admin)


async def scope_for(db: AsyncSession, principal: Principal, project_id: str | None) -> Scope:
    """Tenant admins read all of their tenant; project owners their projects' events; anyone
    else is refused. Naming a project narrows to it (404 if the caller cannot see it)."""
    if project_id is not None:
        found = await access(db, principal, project_id)
        if found.role != "owner":
            raise Forbidden(NOT_ALLOWED)
        return Scope(principal.tenant_id, (project_id,))
    if principal.tenant_wide_admin:  # an admin's key tied to one project sees that one only
        return Scope(principal.tenant_id, None)
    owned = tuple(a.project.id for a in await list_for(db, principal) if a.role == "owner")
    if not owned:
        raise Forbidden(NOT_ALLOWED)
    return Scope(principal.tenant_id, owned)


def _statement(scope: Scope, f: AuditFilters) -> Select[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.tenant_id == scope.tenant_id)
    if scope.project_ids is not None:
        stmt = stmt.where(AuditEvent.project_id.in_(scope.project_ids))
    if f.actor:
        stmt = stmt.where(AuditEvent.actor_id == f.actor)
    if f.action and f.action.endswith("."):
        stmt = stmt.where(AuditEvent.action.startswith(f.action, autoescape=True))
    elif f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.target_type:
        stmt = stmt.where(AuditEvent.target_type == f.target_type)
    if f.target_id:
        stmt = stmt.where(AuditEvent.target_id == f.target_id)
    if f.since:
        stmt = stmt.where(AuditEvent.created_at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEvent.created_at < f.until)
    return stmt


def _mac(secret: bytes, before_id: int, filters: AuditFilters) -> str:
    message = f"{before_id}|{filters.key()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def make_cursor(secret: bytes, before_id: int, filters: AuditFilters) -> str:
    raw = f"{before_id}.{_mac(secret, before_id, filters)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(secret: bytes, cursor: str, filters: AuditFilters) -> int:
    """The id a page starts below; Invalid for a cursor tampered with or made for other filters."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        id_text, mac = raw.split(".", 1)
        before_id = int(id_text)
    except ValueError:
        raise Invalid(BAD_CURSOR) from None
    if not hmac.compare_digest(mac, _mac(secret, before_id, filters)):
        raise Invalid(BAD_CURSOR)
    return before_id


def public(event: AuditEvent) -> AuditEventPublic:
    return AuditEventPublic.model_validate(event, from_attributes=True)


async def page(db: AsyncSession, principal: Principal, q: AuditQuery, secret: bytes) -> AuditPage:
    filters = q.filters()
    if filters.since and filters.until and filters.since >= filters.until:
        raise Invalid("since must be earlier than until")
    scope = await scope_for(db, principal, filters.project_id)
    stmt = _statement(scope, filters)
    if q.cursor:
        stmt = stmt.where(AuditEvent.id < read_cursor(secret, q.cursor, filters))
    rows: Sequence[AuditEvent] = list(
        await db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(q.limit + 1))
    )
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = make_cursor(secret, rows[-1].id, filters) if more else None
    return AuditPage(events=[public(r) for r in rows], next_cursor=cursor)


async def export_scope(db: AsyncSession, principal: Principal, filters: AuditFilters) -> Scope:
    """Checked before the download starts, so a refusal is a status code, not a cut stream."""
    if filters.since and filters.until and filters.since >= filters.until:
        raise Invalid("since must be earlier than until")
    return await scope_for(db, principal, filters.project_id)


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession], scope: Scope, filters: AuditFilters
) -> AsyncIterator[list[AuditEventPublic]]:
    """Every matching event, newest first, in batches each read in a short transaction of its
    own: a large export never holds the whole log in memory nor one long read open."""
    before: int | None = None
    while True:
        stmt = _statement(scope, filters)
        if before is not None:
            stmt = stmt.where(AuditEvent.id < before)
        async with sessionmaker() as db:
            rows = list(await db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(EXPORT_BATCH)))
            batch = [public(r) for r in rows]
        if batch:
            yield batch
        if len(rows) < EXPORT_BATCH:
            return
        before = rows[-1].id
