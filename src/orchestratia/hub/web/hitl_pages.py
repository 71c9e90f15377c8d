"""Dashboard pages for the human in the loop (SPEC §8, §9): the tenant-wide inbox and the
Permission dashboard (rules editor, "would this match?" tester, decision log).

The pages read through the same services as ``/api/v1/inbox``, ``/api/v1/approval-rules`` and
``/api/v1/permissions``; every decision and rule change the browser makes goes through those
APIs (static/inbox.js, static/permissions.js), and live updates arrive over ``/ws/dashboard``.
The ``/ui/...`` partials re-render the list and the rules table with the same templates, so
each piece of markup lives in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orchestratia.hub.api.callers import user_caller
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, user_actor
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services import approval_rules, inbox, permission_log, servers, sessions
from orchestratia.hub.services.auth import Principal
from orchestratia.hub.services.projects import ProjectAccess, list_for
from orchestratia.hub.services.task_context import Caller
from orchestratia.hub.web.rendering import (
    MaybePrincipal,
    error_page,
    page_context,
    remember_project,
    templates,
)
from orchestratia.protocol.approval_api import ApprovalRulePublic, PermissionEntryPublic
from orchestratia.protocol.approvals import PermissionDecision
from orchestratia.protocol.rule_matching import MAIN_PARAMETER, main_parameters

router = APIRouter(include_in_schema=False)

Ident = Annotated[str | None, Query(max_length=64)]
KINDS: tuple[str, ...] = get_args(inbox.Kind)
KIND_LABELS = {
    "intervention": "Help request",
    "plan_review": "Plan review",
    "task_approval": "Task approval",
    "tool_approval": "Tool call",
}
DECISIONS: tuple[str, ...] = get_args(PermissionDecision)
# The log's time windows; counts and the chart cover the whole window, the table its newest rows.
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
LOG_LIMIT = 200
SESSION_CHOICES = 300
# The rule editor offers the scopes a person creates; session rules come from the inbox.
EDITABLE_SCOPES = ("tenant", "project", "server")


def age(value: str | datetime) -> str:
    """How long ago, coarsely ("40 s", "3 min", "2 h", "5 d"); static/inbox.js keeps it fresh."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    seconds = max(0, int((utcnow() - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


templates.env.filters["age"] = age
templates.env.filters["compact_json"] = compact_json


def _caller(request: Request, principal: Principal) -> Caller:
    return user_caller(principal, user_actor(request, principal))


@dataclass(frozen=True)
class Fleet:
    """Names of the servers and sessions of some projects, for filters, labels and dialogs."""

    servers: list[dict[str, str]]
    sessions: list[dict[str, str]]

    @property
    def server_names(self) -> dict[str, str]:
        return {s["id"]: s["name"] for s in self.servers}

    @property
    def session_names(self) -> dict[str, str]:
        return {s["id"]: s["name"] for s in self.sessions}

    @property
    def session_choices(self) -> list[dict[str, str]]:
        """Cut so a filter's list stays a usable size (each project's newest first)."""
        return self.sessions[:SESSION_CHOICES]


async def _fleet(db: SessionDep, principal: Principal, project_ids: list[str]) -> Fleet:
    found_servers: list[dict[str, str]] = []
    found_sessions: list[dict[str, str]] = []
    for pid in project_ids:
        names = {}
        for server in await servers.list_for_project(db, principal, pid):
            names[server.id] = server.name
            found_servers.append({"id": server.id, "name": server.name, "project_id": pid})
        for s in await sessions.list_for_project(db, principal, pid):
            where = names.get(s.server_id, s.server_id[:8])
            found_sessions.append(
                {"id": s.id, "name": s.name, "label": f"{s.name} @ {where}", "status": s.status}
            )
    return Fleet(found_servers, found_sessions)


# --- inbox --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    project: str
    server: str
    session: str
    kind: str

    def query(self) -> inbox.Filters:
        return inbox.Filters(
            self.project or None, self.server or None, self.session or None, self.kind or None
        )

    @property
    def any(self) -> bool:
        return bool(self.project or self.server or self.session or self.kind)


async def _inbox_context(
    request: Request, db: SessionDep, principal: Principal, filters: InboxFilters
) -> dict[str, Any] | None:
    """Everything the inbox list shows; None when the filter names a project the caller does
    not see (another tenant's, or one they are not a member of)."""
    available = await list_for(db, principal)
    names = {a.project.id: a.project.name for a in available}
    if filters.project and filters.project not in names:
        return None
    followed = [filters.project] if filters.project else list(names)
    fleet = await _fleet(db, principal, followed)
    items = await inbox.pending(db, _caller(request, principal), filters.query())
    server_names = fleet.server_names
    for item in items:
        # A tool call raised with the server key alone names no session, only its server.
        if item.get("server_name") is None and item.get("server_id"):
            item["server_name"] = server_names.get(item["server_id"])
        item["project_name"] = names.get(item["project_id"], "")
        item["label"] = KIND_LABELS[item["kind"]]
    writable = [a.project.id for a in available if a.can_write]
    return {
        "items": items,
        "projects": available,
        "project_names": names,
        "followed": followed,
        "writable": writable,
        "filters": filters,
        "kinds": KIND_LABELS,
        "server_choices": fleet.servers,
        "session_choices": fleet.session_choices,
    }


def _inbox_filters(
    project_id: str | None, project: str | None, server: str, session: str, kind: str
) -> InboxFilters:
    return InboxFilters(
        (project_id or project or "").strip(),
        server.strip(),
        session.strip(),
        kind if kind in KINDS else "",
    )


FilterText = Annotated[str, Query(max_length=64)]


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Ident = None,
    project: Ident = None,
    server: FilterText = "",
    session: FilterText = "",
    kind: FilterText = "",
) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    filters = _inbox_filters(project_id, project, server, session, kind)
    context = await _inbox_context(request, db, principal, filters)
    if context is None:
        return error_page(request, hub, principal, 404, "project not found")
    return templates.TemplateResponse(
        request, "inbox.html", page_context(request, hub, principal, active="inbox", **context)
    )


@router.get("/ui/inbox/items", response_class=HTMLResponse)
async def inbox_items(
    request: Request,
    db: SessionDep,
    principal: PrincipalDep,
    project_id: Ident = None,
    project: Ident = None,
    server: FilterText = "",
    session: FilterText = "",
    kind: FilterText = "",
) -> Response:
    """The list alone, re-fetched by static/inbox.js when a live event says it changed."""
    filters = _inbox_filters(project_id, project, server, session, kind)
    context = await _inbox_context(request, db, principal, filters)
    if context is None:
        raise NotFound("project not found")
    return templates.TemplateResponse(request, "_inbox_items.html", context)


# --- permissions --------------------------------------------------------------------------------


def log_row(entry: PermissionEntryPublic, rule_names: dict[str, str]) -> dict[str, str]:
    """The cells of one permission-log row; static/permissions.js builds the same for entries
    that arrive live."""
    values = main_parameters(entry.tool, entry.tool_input)
    decided_by: str = entry.decided_by
    if entry.decided_by == "rule" and entry.matched_rule_id:
        decided_by = f"rule {rule_names.get(entry.matched_rule_id) or entry.matched_rule_id[:8]}"
    session = entry.session_name or (entry.session_id or "")[:8] or "no session"
    return {
        "id": entry.id,
        "decision": entry.decision,
        "tool": entry.tool,
        "param": "\n".join(values) if values else "",
        "tool_input": compact_json(entry.tool_input),
        "who": f"{session} @ {entry.server_name or entry.server_id[:8]}",
        "agent": entry.agent,
        "decided_by": decided_by,
        "reason": entry.reason or "",
        "created_at": entry.created_at.isoformat(),
    }


BLANK_ROW = dict.fromkeys(
    ("id", "tool", "param", "tool_input", "who", "agent", "decided_by", "reason", "created_at"), ""
) | {"decision": "asked"}


async def _rules_context(
    request: Request, db: SessionDep, principal: Principal, current: ProjectAccess, fleet: Fleet
) -> dict[str, Any]:
    """The rules that can apply in the current project, in the order the matcher tries them."""
    pid = current.project.id
    targets: dict[str, dict[str, str]] = {
        "tenant": {},
        "project": {pid: current.project.name},
        "server": fleet.server_names,
        "session": fleet.session_names,
    }
    rows = await approval_rules.list_rules(db, _caller(request, principal))
    rules: list[ApprovalRulePublic] = []
    for row in rows:
        if row.scope == "tenant" or (row.scope_id or "") in targets.get(row.scope, {}):
            rules.append(approval_rules.to_public(row))
    return {
        "current": current,
        "rules": rules,
        "rule_targets": targets,
        "can_write": current.can_write,
        "is_admin": principal.is_tenant_admin,
    }


def _rule_json(rule: ApprovalRulePublic) -> str:
    return compact_json(rule.model_dump(mode="json"))


templates.env.filters["rule_json"] = _rule_json


@dataclass(frozen=True)
class LogFilters:
    server: str
    session: str
    tool: str
    decision: str
    window: str

    @property
    def any(self) -> bool:
        return bool(self.server or self.session or self.tool or self.decision)


@router.get("/permissions", response_class=HTMLResponse)
async def permissions_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Ident = None,
    project: Ident = None,
    server: FilterText = "",
    session: FilterText = "",
    tool: Annotated[str, Query(max_length=256)] = "",
    decision: FilterText = "",
    window: FilterText = "24h",
) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    available = await list_for(db, principal)
    wanted = project_id or project or request.cookies.get("orc_project")
    current = next((a for a in available if a.project.id == wanted), None)
    if current is None and (project_id or project):
        return error_page(request, hub, principal, 404, "project not found")
    current = current or (available[0] if available else None)
    filters = LogFilters(
        server.strip(),
        session.strip(),
        tool.strip(),
        decision if decision in DECISIONS else "",
        window if window in WINDOWS else "24h",
    )
    context: dict[str, Any] = {"projects": available, "current": current, "filters": filters}
    if current is not None:
        pid = current.project.id
        fleet = await _fleet(db, principal, [pid])
        query = permission_log.LogQuery(
            pid,
            filters.server or None,
            filters.session or None,
            filters.tool or None,
            filters.decision or None,
            utcnow() - WINDOWS[filters.window],
            LOG_LIMIT,
        )
        try:
            log = await permission_log.query(db, _caller(request, principal), query)
        except NotFound as exc:  # a server or session filter the caller cannot see
            return error_page(request, hub, principal, 404, exc.detail)
        rules = await _rules_context(request, db, principal, current, fleet)
        rule_names = {r.id: r.name for r in rules["rules"]}
        context |= rules | {
            "log": log,
            "log_rows": [log_row(e, rule_names) for e in log.entries],
            "blank_row": BLANK_ROW,
            "rule_names": rule_names,
            "log_meta": {
                "project_id": pid,
                "since": log.since.isoformat(),
                "bucket_seconds": log.bucket_seconds,
                "buckets": [b.model_dump(mode="json") for b in log.buckets],
                "counts": log.counts.model_dump(),
                "limit": LOG_LIMIT,
                "filters": {
                    "server_id": filters.server,
                    "session_id": filters.session,
                    "tool": filters.tool,
                    "decision": filters.decision,
                },
                "rule_names": rule_names,
                "main_parameter": {tool: list(keys) for tool, keys in MAIN_PARAMETER.items()},
            },
            "server_choices": fleet.servers,
            "session_choices": fleet.session_choices,
            "windows": list(WINDOWS),
            "decisions": DECISIONS,
            "scopes": EDITABLE_SCOPES,
        }
    response = templates.TemplateResponse(
        request,
        "permissions.html",
        page_context(request, hub, principal, active="permissions", **context),
    )
    return remember_project(response, current)


@router.get("/ui/permissions/rules", response_class=HTMLResponse)
async def rules_table(
    request: Request, db: SessionDep, principal: PrincipalDep, project_id: Ident = None
) -> Response:
    """The rules table alone, re-fetched by static/permissions.js after each change."""
    available = await list_for(db, principal)
    current = next((a for a in available if a.project.id == project_id), None)
    if current is None:
        raise NotFound("project not found")
    fleet = await _fleet(db, principal, [current.project.id])
    context = await _rules_context(request, db, principal, current, fleet)
    return templates.TemplateResponse(request, "_rules_table.html", context)
