"""Dashboard pages for tasks (SPEC §9): the kanban board, one task's detail with its timeline,
a pipeline drawn as a graph, and the project's activity feed. The pages read through the same
services as ``/api/v1/tasks``; every change the browser makes goes through that API (from
static/task_dialogs.js), and live updates arrive over ``/ws/dashboard``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.db.task_models import Task
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import servers, sessions
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.hub.services.tasks import views as task_views
from orchestratia.hub.services.tasks.context import event_public
from orchestratia.hub.web.page_context import Page, open_page, open_project_page, person_caller
from orchestratia.hub.web.pipeline_layout import NODE_H, NODE_W, layout
from orchestratia.hub.web.rendering import MaybePrincipal, templates
from orchestratia.hub.web.stop_all_pages import stop_all_context
from orchestratia.protocol.task_replies import NotePublic, TaskEventPublic, TaskPublic
from orchestratia.protocol.tasks import TERMINAL_STATUSES, Priority, TaskStatus, TaskType

router = APIRouter(include_in_schema=False)

STATUSES: tuple[str, ...] = get_args(TaskStatus)
PRIORITIES: tuple[str, ...] = get_args(Priority)
TYPES: tuple[str, ...] = get_args(TaskType)
PRIORITY_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
BOARD_LIMIT = 500
ACTIVITY_LIMIT = 200
LIVE_SESSION = ("starting", "running")
Ident = Annotated[str | None, Query(max_length=64)]
RESULT_KEYS = frozenset({"summary", "changes", "contracts", "tests", "requirements_met"})
# Event kinds grouped for the timeline's colours; static/task_events.js keeps the same table.
EVENT_CATEGORIES = {
    "status": "status",
    "created": "created",
    "note": "note",
    "auto_assign": "assign",
    "approval": "assign",
    "dependency_added": "dependency",
    "dependency_removed": "dependency",
    "waiting": "dependency",
    "unblocked": "dependency",
    "input_resolved": "dependency",
    "contract_missing": "problem",
    "help_requested": "problem",
    "help_answered": "note",
}


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def event_category(kind: str) -> str:
    if kind.startswith("delivery_"):
        return "problem" if kind != "delivery_delivered" else "delivery"
    if kind.startswith("upstream_"):
        return "problem"
    return EVENT_CATEGORIES.get(kind, "other")


# The dashboard shares one template environment; these templates need two more filters.
templates.env.filters["pretty_json"] = pretty_json
templates.env.filters["event_category"] = event_category


@dataclass(frozen=True)
class Column:
    status: str
    tasks: list[TaskPublic]

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class BoardFilters:
    statuses: list[str]
    priority: str
    session: str
    q: str

    def keeps(self, task: TaskPublic) -> bool:
        """Filters the list query cannot apply; status and text were applied by the query."""
        if self.priority and task.priority != self.priority:
            return False
        return not self.session or task.assigned_session_id == self.session


def _board_order(task: TaskPublic) -> tuple[int, float]:
    # Most urgent first, then the most recently touched: what a reviewer looks at next.
    return (PRIORITY_RANK.get(task.priority, 9), -task.updated_at.timestamp())


async def _choices(db: SessionDep, principal: Principal, project_id: str) -> dict[str, Any]:
    """What the filter and the dialogs offer: the project's sessions (with their server's name)
    and the repositories its servers hold."""
    fleet = await servers.list_for_project(db, principal, project_id)
    names = {s.id: s.name for s in fleet}
    rows = await sessions.list_for_project(db, principal, project_id)
    repos = sorted({name for server in fleet for name in (server.repos or {})})
    choices = [
        {
            "id": s.id,
            "name": s.name,
            "server_id": s.server_id,
            "server_name": names.get(s.server_id, s.server_id[:8]),
            "status": s.status,
            "agent_type": s.agent_type,
            "role": s.role,
            "live": s.status in LIVE_SESSION,
        }
        for s in rows
    ]
    return {"session_choices": choices, "repos": repos}


@dataclass(frozen=True)
class BlankCard:
    """The card fields _task_card.html reads, empty: the skeleton static/tasks.js clones for a
    task it has not seen yet, so the card's markup lives in one template."""

    id: str = ""
    title: str = ""
    status: str = "pending"
    priority: str = "normal"
    type: str = "feature"
    target_session_name: str | None = None
    assigned_server_name: str | None = None
    blocked: bool = False
    pending_approval: bool = False
    blocked_by: tuple[()] = ()
    updated_at: datetime = field(default_factory=utcnow)


@router.get("/tasks", response_class=HTMLResponse)
async def board(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Ident = None,
    project: Ident = None,
    status: Annotated[list[str] | None, Query(max_length=20)] = None,
    priority: Annotated[str, Query(max_length=20)] = "",
    session: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    page = await open_project_page(request, db, hub, principal, project_id or project)
    if not isinstance(page, Page):
        return page
    current = page.current
    wanted = [s for item in status or [] for s in item.split(",") if s in STATUSES]
    filters = BoardFilters(
        wanted, priority if priority in PRIORITIES else "", session.strip(), q.strip()
    )
    columns: list[Column] = []
    choices: dict[str, Any] = {"session_choices": [], "repos": []}
    count = 0
    truncated = False
    if current is not None:
        pid = current.project.id
        rows = await tasks.list_tasks(
            db, page.caller, pid, filters.statuses, filters.q or None, BOARD_LIMIT
        )
        truncated = len(rows) >= BOARD_LIMIT
        shown = [t for t in await task_views.render(db, rows) if filters.keeps(t)]
        count = len(shown)
        for state in STATUSES:
            members = sorted((t for t in shown if t.status == state), key=_board_order)
            columns.append(Column(state, members))
        choices = await _choices(db, page.principal, pid)
    return page.render(
        "tasks.html",
        active="tasks",
        columns=columns,
        count=count,
        limit=BOARD_LIMIT,
        truncated=truncated,
        filters=filters,
        statuses=STATUSES,
        priorities=PRIORITIES,
        types=TYPES,
        blank_task=BlankCard(),
        **choices,
        **await stop_all_context(db, page),
    )


async def _detail_context(
    request: Request, db: SessionDep, principal: Principal, task_id: str
) -> tuple[Task, dict[str, Any]]:
    """The task and everything the detail page and its live-refreshed panel show; NotFound for
    a task the caller may not see (another tenant's, or a project they are not in)."""
    row = await tasks.load(db, person_caller(request, principal), task_id)
    task = await task_views.render_one(db, row)
    acc = await projects.access(db, principal, row.project_id)
    notes = [NotePublic.model_validate(n, from_attributes=True) for n in await tasks.notes(db, row)]
    plan = task.plan or {}
    text = plan.get("summary")
    return row, {
        "task": task,
        "plan_text": text if isinstance(text, str) else None,
        "plan_extra": {k: v for k, v in plan.items() if k != "summary" or not isinstance(v, str)},
        "result_extra": {k: v for k, v in (task.result or {}).items() if k not in RESULT_KEYS},
        "project": acc.project,
        "can_write": acc.can_write,
        "notes": notes,
        "reason": task.assignment_reason or {},
        "terminal": task.status in TERMINAL_STATUSES,
    }


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(
    request: Request, task_id: str, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    try:
        row, context = await _detail_context(request, db, page.principal, task_id)
    except NotFound as exc:
        return page.not_found(exc.detail)
    events = [TaskEventPublic.model_validate(event_public(e)) for e in await tasks.events(db, row)]
    choices = await _choices(db, page.principal, row.project_id)
    return page.render(
        "task.html",
        active="tasks",
        events=events,
        statuses=STATUSES,
        priorities=PRIORITIES,
        types=TYPES,
        **choices,
        **context,
    )


@router.get("/ui/tasks/{task_id}/panel", response_class=HTMLResponse)
async def task_panel(
    request: Request, task_id: str, db: SessionDep, principal: PrincipalDep
) -> Response:
    """The status-dependent part of the detail page, re-fetched when a ``task_update`` lands."""
    _row, context = await _detail_context(request, db, principal, task_id)
    return templates.TemplateResponse(request, "_task_panel.html", context)


@router.get("/pipelines/{pipeline_id}", response_class=HTMLResponse)
async def pipeline_page(
    request: Request, pipeline_id: str, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    caller = page.caller
    # Only the caller's own projects are searched, so another tenant's pipeline is simply empty.
    rows = await tasks.list_tasks(db, caller, None, limit=1000, pipeline_id=pipeline_id[:64])
    if not rows:
        return page.not_found(f"pipeline {pipeline_id[:36]} not found")
    members = await task_views.render(db, sorted(rows, key=lambda t: t.created_at))
    acc = await projects.access(db, page.principal, members[0].project_id)
    return page.render(
        "pipeline.html",
        active="tasks",
        pipeline_id=pipeline_id,
        name=await tasks.pipeline_name(db, caller, pipeline_id),
        project=acc.project,
        tasks=members,
        graph=layout(members),
        node_w=NODE_W,
        node_h=NODE_H,
        counts={s: sum(t.status == s for t in members) for s in STATUSES},
    )


@router.get("/activity", response_class=HTMLResponse)
async def activity_page(
    request: Request,
    db: SessionDep,
    hub: HubDep,
    principal: MaybePrincipal,
    project_id: Ident = None,
    project: Ident = None,
) -> Response:
    page = await open_project_page(request, db, hub, principal, project_id or project)
    if not isinstance(page, Page):
        return page
    events: list[TaskEventPublic] = []
    titles: dict[str, str] = {}
    if page.current is not None:
        pid, caller = page.current.project.id, page.caller
        rows = await tasks.activity(db, caller, pid, ACTIVITY_LIMIT)
        events = [TaskEventPublic.model_validate(event_public(e)) for e in rows]
        known = await tasks.list_tasks(db, caller, pid, limit=BOARD_LIMIT)
        titles = {t.id: t.title for t in known}
    return page.render(
        "activity.html", active="activity", events=events, titles=titles, limit=ACTIVITY_LIMIT
    )
