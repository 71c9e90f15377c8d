"""Agent commands beside ``task``: ``status``, ``server list``, ``session list``,
``pipeline create``, ``intervention list|respond`` and ``init`` (the guide agents read first)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestratia.cli import output as out
from orchestratia.cli.agent_api import AgentApiError, JsonObject, render_detail
from orchestratia.cli.output import (
    ApiKeyOpt,
    HubUrlOpt,
    JsonOpt,
    ProjectIdOpt,
    SessionIdOpt,
    TimeoutOpt,
    agent_call,
    apply_options,
    connection_callback,
    say,
    short_id,
)
from orchestratia.cli.task_ids import MIN_PREFIX, is_full_uuid, match_prefix

if TYPE_CHECKING:
    from orchestratia.protocol.agent_status import (
        AgentStatus,
        ProjectRef,
        ServerBrief,
        ServerBriefList,
        SessionBrief,
        SessionBriefList,
    )
    from orchestratia.protocol.pipelines import PipelineResult
    from orchestratia.protocol.task_replies import InterventionList

server_app = typer.Typer(
    help="Servers of this project.", no_args_is_help=True, callback=connection_callback
)
session_app = typer.Typer(
    help="Live sessions of this project.", no_args_is_help=True, callback=connection_callback
)
pipeline_app = typer.Typer(
    help="Create several dependent tasks at once.",
    no_args_is_help=True,
    callback=connection_callback,
)
intervention_app = typer.Typer(
    help="Questions agents asked humans.", no_args_is_help=True, callback=connection_callback
)
GUIDE_NAME = "ORCHESTRATIA.md"


def status(
    ctx: typer.Context,
    hub_url: HubUrlOpt = None,
    api_key: ApiKeyOpt = None,
    session_id: SessionIdOpt = None,
    project_id: ProjectIdOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who this session is (name, role, project, server) and its active tasks."""
    apply_options(ctx, hub_url, api_key, session_id, project_id, timeout, as_json)
    with agent_call(ctx) as call:
        call.show(call.api.status(call.api.config.session_id), show_status)


def _named(item: SessionBrief | ProjectRef | ServerBrief | None) -> str:
    if item is None:
        return "-"
    return f"{item.name or '?'} ({item.id or '?'})"


def show_status(reply: AgentStatus) -> None:
    say(f"session: {_named(reply.session)}  role: {reply.role or '-'}")
    say(f"project: {_named(reply.project)}")
    server = reply.server
    state = f"  {server.status}" if server is not None and server.status else ""
    say(f"server:  {_named(server)}{state}")
    out.show_task_table(reply.tasks, empty="no active tasks assigned to this session")


@server_app.command("list")
def server_list(ctx: typer.Context) -> None:
    """List the project's servers and whether they are online."""
    with agent_call(ctx) as call:
        call.show(call.api.servers(), show_servers)


def show_servers(reply: ServerBriefList) -> None:
    rows = [
        (s.name, s.status, s.hostname, s.os, s.last_heartbeat, ", ".join(s.labels))
        for s in reply.servers
    ]
    if not rows:
        say("no servers")
        return
    out.print_table(["NAME", "STATUS", "HOSTNAME", "OS", "LAST HEARTBEAT", "LABELS"], rows)


@session_app.command("list")
def session_list(ctx: typer.Context) -> None:
    """List the project's live sessions (names are what `task assign --session` takes)."""
    with agent_call(ctx) as call:
        project_id = call.api.config.project_id
        if not project_id:
            call.fail("session list needs a project: set ORCHESTRATIA_PROJECT_ID or --project-id")
        call.show(call.api.sessions(project_id), show_sessions)


def show_sessions(reply: SessionBriefList) -> None:
    rows = [
        (s.name, s.status, s.role, s.agent_type, s.server_name, s.working_directory, short_id(s.id))
        for s in reply.sessions
    ]
    if not rows:
        say("no live sessions")
        return
    out.print_table(["NAME", "STATUS", "ROLE", "AGENT", "SERVER", "DIRECTORY", "ID"], rows)


def load_pipeline(file: str | None, inline: str | None) -> JsonObject:
    """The pipeline document, checked here so a typo costs no round trip and creates nothing."""
    from pydantic import ValidationError

    from orchestratia.protocol.pipelines import PipelineCreate

    if (file is None) == (inline is None):
        raise AgentApiError("give exactly one of --file or --inline")
    source = "--inline" if inline is not None else f"--file {file}"
    if inline is not None:
        text = inline
    else:
        try:
            text = sys.stdin.read() if file == "-" else Path(str(file)).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AgentApiError(f"cannot read pipeline file {file}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentApiError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list) or not tasks:
        raise AgentApiError(f'{source}: a pipeline is a JSON object with a non-empty "tasks" array')
    try:
        PipelineCreate.model_validate(data)
    except ValidationError as exc:
        raise AgentApiError(f"{source}: {render_detail(exc.errors())}") from exc
    pipeline: JsonObject = data
    return pipeline


@pipeline_app.command("create")
def pipeline_create(
    ctx: typer.Context,
    file: Annotated[str | None, typer.Option(help="Pipeline JSON file ('-' for stdin).")] = None,
    inline: Annotated[str | None, typer.Option(help="Pipeline JSON given inline.")] = None,
) -> None:
    """Create all tasks of a pipeline and their dependencies in one atomic call.

    The JSON is {"name": ..., "tasks": [{"id": "api", "title": ..., "spec": ...,
    "depends_on": ["db"], "assign": "session-name"}, ...]}; "depends_on" names earlier tasks by
    their "id", their index, or an existing task id.
    """
    with agent_call(ctx) as call:
        body = load_pipeline(file, inline)
        if call.api.config.project_id and not body.get("project_id"):
            body["project_id"] = call.api.config.project_id
        call.show(call.api.create_pipeline(body), show_pipeline)


def show_pipeline(reply: PipelineResult) -> None:
    say(f"pipeline {reply.pipeline_id}: {reply.tasks_created} tasks created")
    if reply.id_map:
        say("ids: " + ", ".join(f"{k} -> {v}" for k, v in reply.id_map.items()))
    out.show_task_table(reply.tasks)


def _intervention_id(call: out.AgentCall, ref: str) -> str:
    ref = ref.strip()
    if is_full_uuid(ref):
        return ref.lower()
    if len(ref) < MIN_PREFIX:
        raise AgentApiError(
            f"intervention id {ref!r} is too short: give at least {MIN_PREFIX} characters"
        )
    ids = [i.id for i in call.api.interventions().data.interventions]
    return match_prefix(ref, ids, "intervention")


@intervention_app.command("list")
def intervention_list(
    ctx: typer.Context,
    task_id: Annotated[str | None, typer.Option("--task-id", help="Only this task's.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status (e.g. pending).")] = None,
) -> None:
    """List interventions (help requests) of the project or of one task."""
    with agent_call(ctx) as call:
        resolved = call.task_id(task_id) if task_id else None
        call.show(call.api.interventions(task_id=resolved, status=status), show_interventions)


def show_interventions(reply: InterventionList) -> None:
    if not reply.interventions:
        say("no interventions")
        return
    rows = [
        (short_id(i.id), short_id(i.task_id), i.type, i.status, i.question, i.response or "")
        for i in reply.interventions
    ]
    out.print_table(["ID", "TASK", "TYPE", "STATUS", "QUESTION", "RESPONSE"], rows)


@intervention_app.command("respond")
def intervention_respond(
    ctx: typer.Context,
    intervention: Annotated[str, typer.Argument(help="Intervention id or unique prefix.")],
    response: Annotated[str, typer.Option(help="The answer.")],
) -> None:
    """Answer an intervention; the answer is delivered to the session that asked."""
    with agent_call(ctx) as call:
        reply = call.api.respond_intervention(_intervention_id(call, intervention), response)
        call.show(reply, lambda r: say(f"answered intervention {r.id}"))


def init(
    ctx: typer.Context,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the guide; write nothing.")
    ] = False,
    force: Annotated[bool, typer.Option(help=f"Overwrite an existing {GUIDE_NAME}.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write ORCHESTRATIA.md, a guide for AI agents to the orchestratia CLI, into this directory."""
    apply_options(ctx, as_json=as_json)
    json_mode = out.agent_options(ctx).as_json
    if print_only:
        if json_mode:
            out.emit_json({"path": None, "content": GUIDE})
        else:
            typer.echo(GUIDE, nl=False)
        return
    path = Path.cwd() / GUIDE_NAME
    if path.exists() and not force:
        out.fail(f"{path} already exists; pass --force to overwrite it", json_mode)
    try:
        path.write_text(GUIDE, encoding="utf-8")
    except OSError as exc:
        out.fail(f"cannot write {path}: {exc}", json_mode)
    if json_mode:
        out.emit_json({"path": str(path), "written": True})
    else:
        say(f"wrote {path}")


GUIDE = """\
# Orchestratia: how to work in this session

This terminal is an Orchestratia session. Tasks reach you through the hub; the `orchestratia`
command is how you receive them and report back. It reads its settings from this session's
environment (`ORCHESTRATIA_HUB_URL`, `ORCHESTRATIA_API_KEY`, `ORCHESTRATIA_SESSION_ID`,
`ORCHESTRATIA_PROJECT_ID`, `ORCHESTRATIA_ROLE`); leave those alone.

- Add `--json` anywhere to get the hub's reply as JSON. Failures then print
  `{"error": "..."}` and exit non-zero.
- Task ids may be shortened to any unique prefix of 4 or more characters.
- Messages from the hub (a new task, a note, an answer to your question) may be typed into this
  terminal while you work. Treat them as news and re-check with the commands below.

## The work loop

1. `orchestratia task check` lists the tasks assigned to you.
2. `orchestratia task view <id>` shows the spec, the acceptance criteria, what the task depends
   on, and the inputs upstream tasks published for it ("inputs from upstream tasks").
3. `orchestratia task start <id>` marks it running. A blocked task cannot start: wait until
   the tasks it depends on are done.
   If the task requires a plan, first send one with `orchestratia task plan <id> --plan "..."`
   (text or a JSON object) and wait until it is approved; revise it if feedback arrives.
4. Do the work. Leave progress notes with `orchestratia task note <id> --content "..."`.
5. Finish with a structured result (below): `orchestratia task complete <id> --result '<json>'`.
6. Cannot finish? `orchestratia task fail <id> --error "what went wrong"`.
   Need a person? `orchestratia task help <id> --question "..." [--context "..."]
   [--type help|question|approval]`. The answer is delivered to this terminal.

## Results and contracts

`--result` takes plain text or a JSON object; `--result-file result.json` (or `-` for stdin)
avoids shell quoting. A JSON result looks like this:

```json
{
  "summary": "Added the /orders endpoint with pagination",
  "changes": {"files_modified": ["api/orders.py"], "files_created": ["tests/test_orders.py"]},
  "tests": {"passed": 42, "failed": 0, "skipped": 1},
  "requirements_met": ["list orders", "paginate"],
  "contracts": {
    "orders_api": {
      "type": "openapi",
      "description": "Orders endpoint for the frontend",
      "base_url": "http://localhost:8000",
      "paths": ["/orders", "/orders/{id}"]
    }
  }
}
```

Contracts are what dependent tasks receive. A task that depends on yours with an `input`
dependency and contract key `orders_api` gets the object you publish under that key, and it
cannot start until it is there. Publish every key the spec lists as an expected output. Each
contract is an object with a `type` (free text such as "url", "openapi", "file", "env") plus
whatever fields carry the value.

## Handing out work

- `orchestratia task create --title "..." --spec "..." [--priority high] [--type bugfix]
  [--repo R] [--branch B] [--acceptance-criteria "..."]... [--depends-on <id>]...
  [--assign <session-name>] [--require-plan]`
- `orchestratia task assign <id> --session <session-name> [--require-plan]`
- `orchestratia task update <id> [--title ...] [--spec ...] [--priority ...]`, `task cancel <id>`
- `orchestratia task deps add <id> --depends-on <other> [--type blocks|input|related]
  [--contract-key KEY]`, `task deps remove <id> --depends-on <other>`
- `orchestratia pipeline create --file pipeline.json` creates several dependent tasks at once:
  `{"tasks": [{"id": "db", "title": "...", "spec": "..."},
  {"id": "api", "title": "...", "spec": "...", "depends_on": ["db"], "assign": "backend"}]}`
- `orchestratia task notes <id>` reads a task's notes.

## Looking around

- `orchestratia status`: this session's name, role, project, server and tasks.
- `orchestratia task list [--status running]`: the project's newest tasks.
- `orchestratia session list`: live sessions (their names are what `--assign` takes).
- `orchestratia server list`: the project's servers.
- `orchestratia intervention list [--task-id <id>] [--status pending]` and
  `orchestratia intervention respond <id> --response "..."`: questions waiting for an answer.
"""
