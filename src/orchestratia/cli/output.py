"""One-line errors with a non-zero exit, ``--json`` output, and the glue agent commands share."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from orchestratia.cli.agent_api import (
    AgentApi,
    AgentApiError,
    AgentOptions,
    M,
    Reply,
    render_detail,
    resolve_config,
)
from orchestratia.cli.task_ids import resolve_task_id

if TYPE_CHECKING:
    from orchestratia.protocol.task_replies import (
        DependencyPublic,
        HelpResponse,
        NoteList,
        TaskList,
        TaskPublic,
    )

console = Console()
err_console = Console(stderr=True)

JSON_FLAG = "--json"


def fail(message: str, as_json: bool = False, code: int = 1) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": message}))
    else:
        # Hub messages may contain brackets; they are text, never rich markup.
        err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def take_json_flag(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--json`` (before any ``--``), and whether it was there."""
    out: list[str] = []
    found = False
    for i, arg in enumerate(argv):
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg == JSON_FLAG:
            found = True
        else:
            out.append(arg)
    return out, found


def agent_options(ctx: typer.Context) -> AgentOptions:
    """The explicit options of this invocation (created on first use)."""
    return ctx.ensure_object(AgentOptions)


HubUrlOpt = Annotated[
    str | None, typer.Option("--hub-url", help="Hub URL (default: $ORCHESTRATIA_HUB_URL).")
]
ApiKeyOpt = Annotated[
    str | None, typer.Option("--api-key", help="API key (default: $ORCHESTRATIA_API_KEY).")
]
SessionIdOpt = Annotated[
    str | None,
    typer.Option("--session-id", help="This session (default: $ORCHESTRATIA_SESSION_ID)."),
]
ProjectIdOpt = Annotated[
    str | None,
    typer.Option("--project-id", help="Project (default: $ORCHESTRATIA_PROJECT_ID)."),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", help="Seconds per hub call (default: $ORCHESTRATIA_TIMEOUT or 15)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the hub's JSON reply.")]


def apply_options(
    ctx: typer.Context,
    hub_url: str | None = None,
    api_key: str | None = None,
    session_id: str | None = None,
    project_id: str | None = None,
    timeout: float | None = None,
    as_json: bool = False,
) -> None:
    options = agent_options(ctx)
    options.hub_url = hub_url or options.hub_url
    options.api_key = api_key or options.api_key
    options.session_id = session_id or options.session_id
    options.project_id = project_id or options.project_id
    options.timeout = timeout if timeout is not None else options.timeout
    options.as_json = options.as_json or as_json


def connection_callback(
    ctx: typer.Context,
    hub_url: HubUrlOpt = None,
    api_key: ApiKeyOpt = None,
    session_id: SessionIdOpt = None,
    project_id: ProjectIdOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Connection options for a group of agent commands (they override the environment)."""
    apply_options(ctx, hub_url, api_key, session_id, project_id, timeout, as_json)


class AgentCall:
    """One agent command's run: its options, a lazily opened client, and its output mode."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self._api: AgentApi | None = None

    @property
    def as_json(self) -> bool:
        return self.options.as_json

    @property
    def api(self) -> AgentApi:
        if self._api is None:
            self._api = AgentApi(resolve_config(self.options), transport=self.options.transport)
        return self._api

    def task_id(self, ref: str) -> str:
        return resolve_task_id(self.api, ref)

    def fail(self, message: str) -> NoReturn:
        fail(message, self.as_json)

    def show(self, reply: Reply[M], render: Callable[[M], None]) -> None:
        """The hub's reply as it sent it in ``--json`` mode, else rendered for humans."""
        if self.as_json:
            emit_json(reply.raw)
        else:
            render(reply.data)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


@contextmanager
def agent_call(ctx: typer.Context) -> Iterator[AgentCall]:
    """Run an agent command; hub errors and invalid input end it with a one-line error."""
    call = AgentCall(agent_options(ctx))
    try:
        yield call
    except AgentApiError as exc:
        call.fail(str(exc))
    except Exception as exc:
        pydantic = sys.modules.get("pydantic")
        # Checked without importing pydantic: commands that never built a model stay light.
        if pydantic is not None and isinstance(exc, pydantic.ValidationError):
            call.fail(f"invalid input: {render_detail(exc.errors())}")
        raise
    finally:
        call.close()


def short_id(value: Any) -> str:
    return str(value or "")[:8]


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, highlight=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape("" if cell is None else str(cell)) for cell in row))
    target = console
    if not console.is_terminal:
        # Agents read piped output: a row folded over two lines misleads them more than a wide
        # line does, so off a terminal the table gets its natural width.
        from rich.measure import Measurement

        natural = Measurement.get(console, console.options.update(max_width=10_000), table)
        target = Console(width=max(console.width, natural.maximum))
    target.print(table)


def say(text: str) -> None:
    """A plain line for humans: no markup, no highlighting, no wrapping mid-id."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


# --- task summaries for humans (``--json`` prints the hub's reply instead) ---------------------


def wire_time(value: datetime) -> str:
    """A time written as the hub writes it (pydantic's JSON form), as it appears in its reply."""
    from pydantic import TypeAdapter

    text: str = TypeAdapter(datetime).dump_python(value, mode="json")
    return text


def _blockers(task: TaskPublic) -> str:
    return ", ".join(f"{short_id(b.task_id)} {b.title!r} ({b.status})" for b in task.blocked_by)


def show_task_table(tasks: Sequence[TaskPublic], empty: str = "no tasks") -> None:
    if not tasks:
        say(empty)
        return
    rows = [
        (
            short_id(t.id),
            t.status,
            t.priority,
            t.title,
            t.target_session_name or t.assigned_server_name or "",
            ", ".join(short_id(b.task_id) for b in t.blocked_by) or "",
        )
        for t in tasks
    ]
    print_table(["ID", "STATUS", "PRIORITY", "TITLE", "ASSIGNED", "BLOCKED BY"], rows)


def show_task_list(reply: TaskList) -> None:
    show_task_table(reply.tasks)


def show_check(reply: TaskList) -> None:
    show_task_table(reply.tasks, empty="no tasks assigned to this session")
    if reply.tasks:
        say("next: orchestratia task view <id>, then orchestratia task start <id>")


def show_task(task: TaskPublic) -> None:
    say(f"{task.id}  {task.title}")
    say(f"  status: {task.status}  priority: {task.priority}  type: {task.type}")
    if task.target_session_name or task.assigned_server_name:
        where = task.target_session_name or "-"
        say(f"  assigned: {where} on {task.assigned_server_name or '-'}")
    if task.blocked:
        say(f"  blocked by: {_blockers(task) or 'unfinished dependencies'}")


def _block(label: str, value: Any) -> None:
    if value in (None, "", [], {}):
        return
    if isinstance(value, str):
        say(f"{label}:")
        for line in value.splitlines() or [""]:
            say(f"  {line}")
    else:
        say(f"{label}:")
        for line in json.dumps(value, indent=2, default=str).splitlines():
            say(f"  {line}")


def show_task_full(task: TaskPublic) -> None:
    show_task(task)
    if task.target_repo:
        say(f"  repo: {task.target_repo}  branch: {task.target_branch or '-'}")
    if task.source_session_name:
        say(f"  from session: {task.source_session_name}")
    _block("spec", task.spec)
    _block("structured spec", task.structured_spec)
    if task.acceptance_criteria:
        say("acceptance criteria:")
        for n, item in enumerate(task.acceptance_criteria, 1):
            say(f"  {n}. {item}")
    if task.dependencies:
        say("depends on:")
        for d in task.dependencies:
            key = f" key={d.contract_key} ({d.contract_status})" if d.contract_key else ""
            state = "resolved" if d.resolved else d.depends_on_status or "open"
            say(
                f"  {d.dependency_type} {short_id(d.depends_on_task_id)} "
                f"{d.depends_on_title or ''!r} [{state}]{key}"
            )
    _block("inputs from upstream tasks", task.resolved_inputs)
    if task.missing_contracts:
        say(f"missing contracts: {', '.join(task.missing_contracts)}")
    _block("plan", task.plan)
    _block("plan feedback", task.plan_feedback)
    _block("result", task.result)
    _block("error", task.error)


def headline(verb: str) -> Callable[[TaskPublic], None]:
    def render(task: TaskPublic) -> None:
        say(f"{verb}:")
        show_task(task)

    return render


def show_completed(task: TaskPublic) -> None:
    headline("completed")(task)
    contracts = (task.result or {}).get("contracts")
    if contracts:
        say(f"  published contracts: {', '.join(sorted(contracts))}")


def show_help_reply(reply: HelpResponse) -> None:
    say(f"help requested: intervention {reply.intervention_id} ({reply.status})")
    say("the answer will be delivered to this session")


def show_notes(reply: NoteList) -> None:
    if not reply.notes:
        say("no notes")
        return
    rows = [
        (wire_time(n.created_at), n.author, "yes" if n.urgent else "", n.content)
        for n in reply.notes
    ]
    print_table(["WHEN", "AUTHOR", "URGENT", "NOTE"], rows)


def show_dependency(dep: DependencyPublic) -> None:
    key = f", contract key {dep.contract_key}" if dep.contract_key else ""
    say(f"task {dep.task_id} now depends on {dep.depends_on_task_id} ({dep.dependency_type}{key})")
