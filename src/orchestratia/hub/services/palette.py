"""What the command palette can jump to: the caller's sessions, tasks and servers whose name (or
title, or a task's short id) holds the typed letters in order.

Scope: the caller's tenant and, within it, only the projects ``projects.list_for`` gives them
(their memberships; every project for a tenant admin; the one project of a restricted API key).
A key sees only the kinds its scopes read (``sessions:read``, ``tasks:read``, ``servers:read``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from orchestratia.hub.db.fleet_models import SERVER_REMOVED
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Task
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.tasks.dependencies import short
from orchestratia.protocol.palette import PaletteEntry

_ESCAPE = "\\"


@dataclass(frozen=True)
class _Found:
    entry: PaletteEntry
    text: str  # what the query was matched against, lower-cased, for ranking


def _subsequence_pattern(query: str) -> str:
    """A LIKE pattern matching text that holds the query's letters in order ("fbr" finds
    "fix-bug-runner"): fuzzy enough for a palette, and the same on SQLite and PostgreSQL."""
    letters = [
        _ESCAPE + ch if ch in "%_" + _ESCAPE else ch for ch in query.lower() if not ch.isspace()
    ]
    return "%" + "%".join(letters) + "%"


def _matches(column: QueryableAttribute[str], pattern: str) -> ColumnElement[bool]:
    return func.lower(column).like(pattern, escape=_ESCAPE)


def _rank(found: _Found, query: str) -> int:
    """0: the text starts with the query; 1: holds it as typed; 2: holds its letters in order."""
    if not query:
        return 0
    if found.text.startswith(query):
        return 0
    return 1 if query in found.text else 2


async def search(
    db: AsyncSession, principal: Principal, query: str, limit: int
) -> list[PaletteEntry]:
    """Up to ``limit`` entries, best matches first, the newest first among equals."""
    reachable = {a.project.id: a.project.name for a in await projects.list_for(db, principal)}
    if not reachable:
        return []
    query = " ".join(query.lower().split())
    pattern = _subsequence_pattern(query)
    found: list[_Found] = []
    if principal.has_scope("sessions:read"):
        found += await _sessions(db, principal, reachable, pattern, limit)
    if principal.has_scope("tasks:read"):
        found += await _tasks(db, principal, reachable, pattern, query, limit)
    if principal.has_scope("servers:read"):
        found += await _servers(db, principal, reachable, pattern, limit)
    # sorted() is stable: within a rank, each kind keeps its newest-first order.
    return [f.entry for f in sorted(found, key=lambda f: _rank(f, query))[:limit]]


async def _sessions(
    db: AsyncSession, principal: Principal, reachable: dict[str, str], pattern: str, limit: int
) -> Sequence[_Found]:
    rows = await db.scalars(
        select(TerminalSession)
        .where(
            TerminalSession.tenant_id == principal.tenant_id,
            TerminalSession.project_id.in_(reachable),
            _matches(TerminalSession.name, pattern),
        )
        .order_by(TerminalSession.created_at.desc())
        .limit(limit)
    )
    return [
        _Found(
            PaletteEntry(
                kind="session",
                label=s.name,
                detail=f"{s.status} · {reachable[s.project_id]}",
                url=f"/sessions/{s.id}",
            ),
            s.name.lower(),
        )
        for s in rows
    ]


async def _tasks(
    db: AsyncSession,
    principal: Principal,
    reachable: dict[str, str],
    pattern: str,
    query: str,
    limit: int,
) -> Sequence[_Found]:
    wanted = [_matches(Task.title, pattern)]
    if query:
        wanted.append(Task.id.startswith(query.replace(" ", ""), autoescape=True))
    rows = await db.scalars(
        select(Task)
        .where(
            Task.tenant_id == principal.tenant_id,
            Task.project_id.in_(reachable),
            or_(*wanted),
        )
        .order_by(Task.updated_at.desc())
        .limit(limit)
    )
    return [
        _Found(
            PaletteEntry(
                kind="task",
                label=t.title,
                detail=f"{short(t.id)} · {t.status} · {reachable[t.project_id]}",
                url=f"/tasks/{t.id}",
            ),
            # A short id typed in full ranks its task first.
            t.id if query and t.id.startswith(query) else t.title.lower(),
        )
        for t in rows
    ]


async def _servers(
    db: AsyncSession, principal: Principal, reachable: dict[str, str], pattern: str, limit: int
) -> Sequence[_Found]:
    rows = await db.scalars(
        select(Server)
        .where(
            Server.tenant_id == principal.tenant_id,
            Server.project_id.in_(reachable),
            Server.status != SERVER_REMOVED,
            or_(_matches(Server.name, pattern), _matches(Server.hostname, pattern)),
        )
        .order_by(Server.created_at.desc())
        .limit(limit)
    )
    return [
        _Found(
            PaletteEntry(
                kind="server",
                label=s.name,
                detail=f"{s.status} · {s.hostname} · {reachable[s.project_id]}",
                url=f"/servers/{s.id}",
            ),
            s.name.lower(),
        )
        for s in rows
    ]
