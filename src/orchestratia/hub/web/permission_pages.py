"""The Permission dashboard for the human in the loop (SPEC §9): the approval-rules editor, the
"would this match?" tester and the decision log.

The page reads through the same services as ``/api/v1/approval-rules`` and
``/api/v1/permissions``; every rule change the browser makes goes through those APIs
(static/permissions.js), and live log entries arrive over ``/ws/dashboard``. The
``/ui/permissions/rules`` partial re-renders the rules table with the same template, so its
markup lives in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import ProjectAccess, list_for
from orchestratia.hub.services.approvals import permission_log
from orchestratia.hub.services.approvals import rules as approval_rules
from orchestratia.hub.web.fleet_names import Fleet, load_fleet
from orchestratia.hub.web.page_context import Page, open_project_page, person_caller
from orchestratia.hub.web.rendering import MaybePrincipal, compact_json, templates
from orchestratia.protocol.approval_api import ApprovalRulePublic, PermissionEntryPublic
from orchestratia.protocol.approvals import PermissionDecision
from orchestratia.rules.matching import MAIN_PARAMETER, main_parameters

router = APIRouter(include_in_schema=False)

Ident = Annotated[str | None, Query(max_length=64)]
FilterText = Annotated[str, Query(max_length=64)]
DECISIONS: tuple[str, ...] = get_args(PermissionDecision)
# The log's time windows; counts and the chart cover the whole window, the table its newest rows.
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
LOG_LIMIT = 200
# The rule editor offers the scopes a person creates; session rules come from the inbox.
EDITABLE_SCOPES = ("tenant", "project", "server")


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
    rows = await approval_rules.list_rules(db, person_caller(request, principal))
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
    page = await open_project_page(request, db, hub, principal, project_id or project, strict=True)
    if not isinstance(page, Page):
        return page
    principal, current = page.principal, page.current
    filters = LogFilters(
        server.strip(),
        session.strip(),
        tool.strip(),
        decision if decision in DECISIONS else "",
        window if window in WINDOWS else "24h",
    )
    context: dict[str, Any] = {"filters": filters}
    if current is not None:
        pid = current.project.id
        fleet = await load_fleet(db, principal, [pid])
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
            log = await permission_log.query(db, person_caller(request, principal), query)
        except NotFound as exc:  # a server or session filter the caller cannot see
            return page.not_found(exc.detail)
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
    return page.render("permissions.html", active="permissions", **context)


@router.get("/ui/permissions/rules", response_class=HTMLResponse)
async def rules_table(
    request: Request, db: SessionDep, principal: PrincipalDep, project_id: Ident = None
) -> Response:
    """The rules table alone, re-fetched by static/permissions.js after each change."""
    available = await list_for(db, principal)
    current = next((a for a in available if a.project.id == project_id), None)
    if current is None:
        raise NotFound("project not found")
    fleet = await load_fleet(db, principal, [current.project.id])
    context = await _rules_context(request, db, principal, current, fleet)
    return templates.TemplateResponse(request, "_rules_table.html", context)
