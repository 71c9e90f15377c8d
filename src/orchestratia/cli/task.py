"""``orchestratia task …``: how an agent in a session receives, reports and hands out work.

Request bodies are the protocol's own models (imported when a command runs, to keep startup
fast); replies are shown as the hub sent them (``--json``) or summarised for humans.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestratia.cli import output as out
from orchestratia.cli.agent_api import AgentApiError, JsonObject, render_detail
from orchestratia.cli.output import agent_call, connection_callback, say

app = typer.Typer(
    help="Receive, report and hand out tasks (run inside an Orchestratia session).",
    no_args_is_help=True,
    callback=connection_callback,
)
deps_app = typer.Typer(help="Add or remove task dependencies.", no_args_is_help=True)
app.add_typer(deps_app, name="deps")

TaskRef = Annotated[str, typer.Argument(help="Task id: full UUID or a unique prefix (4+ chars).")]
EpochOpt = Annotated[
    int | None,
    typer.Option(help="Assignment epoch you act on; the hub refuses a stale one.", min=0),
]
PriorityOpt = Annotated[str | None, typer.Option(help="low, normal, high or critical.")]
TypeOpt = Annotated[
    str | None, typer.Option("--type", help="feature, bugfix, refactor, chore, docs.")
]
CriteriaOpt = Annotated[
    list[str] | None, typer.Option("--acceptance-criteria", help="One criterion; repeatable.")
]
CONTRACT_HINT = (
    'contracts map each key to an object with a "type", e.g. '
    '{"contracts": {"api_base_url": {"type": "url", "value": "http://..."}}}'
)


def one_source(option: str, inline: str | None, path: str | None) -> str:
    """The text given inline or read from a file ('-' is stdin); exactly one of them."""
    if (inline is None) == (path is None):
        raise AgentApiError(f"give exactly one of {option} or {option}-file")
    if inline is not None:
        return inline
    assert path is not None
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentApiError(f"cannot read {option}-file {path}: {exc}") from exc


def json_object_or_text(raw: str, option: str) -> JsonObject | str:
    """A JSON object if ``raw`` is one, else the text itself.

    Text that opens with ``{`` but does not parse is an error rather than plain text: silently
    sending a broken result would drop its contracts and starve every dependent task.
    """
    stripped = raw.strip()
    if not stripped.startswith("{"):
        return raw
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise AgentApiError(
            f"{option} starts with '{{' but is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from exc
    return value if isinstance(value, dict) else raw


def parse_result(raw: str) -> JsonObject | str:
    """``--result``: plain text, or an ``orchestratia/task-result/v1`` object checked here."""
    from pydantic import ValidationError

    from orchestratia.protocol.task_documents import TaskResult

    value = json_object_or_text(raw, "--result")
    if isinstance(value, str):
        if not value.strip():
            raise AgentApiError("--result is empty")
        return value
    try:
        TaskResult.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors()
        hint = f" ({CONTRACT_HINT})" if any(e["loc"][:1] == ("contracts",) for e in errors) else ""
        raise AgentApiError(
            f"--result is not a valid task result: {render_detail(errors)}{hint}"
        ) from None
    return value


def parse_plan(raw: str) -> JsonObject:
    """``--plan``: a JSON object as is; text becomes ``{"summary": text}``."""
    value = json_object_or_text(raw, "--plan")
    if isinstance(value, str):
        if not value.strip():
            raise AgentApiError("--plan is empty")
        return {"summary": value}
    return value


@app.command()
def check(ctx: typer.Context) -> None:
    """List the active tasks assigned to this session (blocked ones included)."""
    with agent_call(ctx) as call:
        reply = call.api.check_tasks(call.api.config.session_id)
        call.show(reply, out.show_check)


@app.command()
def view(ctx: typer.Context, task: TaskRef) -> None:
    """Show a task in full: spec, dependencies, inputs received from upstream, plan, result."""
    with agent_call(ctx) as call:
        call.show(call.api.get_task(call.task_id(task)), out.show_task_full)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only these statuses (comma-separated).")
    ] = None,
) -> None:
    """List the project's newest tasks."""
    with agent_call(ctx) as call:
        reply = call.api.list_tasks(status=status, project_id=call.api.config.project_id)
        call.show(reply, out.show_task_list)


@app.command()
def start(ctx: typer.Context, task: TaskRef, epoch: EpochOpt = None) -> None:
    """Mark an assigned task as running (refused while it is blocked)."""
    from orchestratia.protocol.tasks import EpochBody

    with agent_call(ctx) as call:
        reply = call.api.task_action(call.task_id(task), "start", EpochBody(epoch=epoch))
        call.show(reply, out.headline("started"))


@app.command()
def complete(
    ctx: typer.Context,
    task: TaskRef,
    result: Annotated[
        str | None,
        typer.Option(help="Plain text, or a task-result JSON object (summary, contracts, …)."),
    ] = None,
    result_file: Annotated[
        str | None, typer.Option(help="Read the result from this file ('-' for stdin).")
    ] = None,
    epoch: EpochOpt = None,
) -> None:
    """Finish a task with its result; contracts in the result feed dependent tasks."""
    from orchestratia.protocol.tasks import TaskComplete

    with agent_call(ctx) as call:
        value = parse_result(one_source("--result", result, result_file))
        reply = call.api.task_action(
            call.task_id(task), "complete", TaskComplete(result=value, epoch=epoch)
        )
        call.show(reply, out.show_completed)


@app.command()
def fail(
    ctx: typer.Context,
    task: TaskRef,
    error: Annotated[str, typer.Option(help="What went wrong.")],
    epoch: EpochOpt = None,
) -> None:
    """Give up on a task, saying why."""
    from orchestratia.protocol.tasks import TaskFail

    with agent_call(ctx) as call:
        reply = call.api.task_action(call.task_id(task), "fail", TaskFail(error=error, epoch=epoch))
        call.show(reply, out.headline("failed"))


@app.command("help")
def help_cmd(
    ctx: typer.Context,
    task: TaskRef,
    question: Annotated[str, typer.Option(help="What you need from a human.")],
    context: Annotated[str | None, typer.Option(help="Background that helps them answer.")] = None,
    kind: Annotated[str, typer.Option("--type", help="help, question or approval.")] = "help",
    epoch: EpochOpt = None,
) -> None:
    """Ask a human; the answer is delivered to this session."""
    from orchestratia.protocol.tasks import TaskHelpRequest

    body: dict[str, Any] = {"question": question, "type": kind, "epoch": epoch}
    if context is not None:
        body["context"] = context
    with agent_call(ctx) as call:
        reply = call.api.ask_help(call.task_id(task), TaskHelpRequest(**body))
        call.show(reply, out.show_help_reply)


@app.command()
def plan(
    ctx: typer.Context,
    task: TaskRef,
    plan_text: Annotated[
        str | None, typer.Option("--plan", help="Plan as text or a JSON object.")
    ] = None,
    plan_file: Annotated[
        str | None, typer.Option(help="Read the plan from this file ('-' for stdin).")
    ] = None,
    epoch: EpochOpt = None,
) -> None:
    """Submit a plan for review (tasks that require one); wait for approval before working."""
    from orchestratia.protocol.tasks import TaskPlanSubmit

    with agent_call(ctx) as call:
        value = parse_plan(one_source("--plan", plan_text, plan_file))
        reply = call.api.task_action(
            call.task_id(task), "plan", TaskPlanSubmit(plan=value, epoch=epoch)
        )
        call.show(reply, out.headline("plan submitted for review"))


@app.command()
def note(
    ctx: typer.Context,
    task: TaskRef,
    content: Annotated[str, typer.Option(help="The note.")],
    urgent: Annotated[bool, typer.Option(help="Deliver it right away.")] = False,
) -> None:
    """Leave a note on a task (delivered to its assigned session)."""
    from orchestratia.protocol.tasks import AgentNoteCreate

    with agent_call(ctx) as call:
        task_id = call.task_id(task)
        reply = call.api.add_note(task_id, AgentNoteCreate(content=content, urgent=urgent))
        call.show(reply, lambda _: say(f"note added to task {task_id}"))


@app.command()
def notes(ctx: typer.Context, task: TaskRef) -> None:
    """List a task's notes, oldest first."""
    with agent_call(ctx) as call:
        call.show(call.api.list_notes(call.task_id(task)), out.show_notes)


@app.command()
def create(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="Short title.")],
    spec: Annotated[str, typer.Option(help="What to do, in full.")],
    priority: PriorityOpt = None,
    task_type: TypeOpt = None,
    repo: Annotated[str | None, typer.Option(help="Target repository.")] = None,
    branch: Annotated[str | None, typer.Option(help="Target branch.")] = None,
    acceptance_criteria: CriteriaOpt = None,
    depends_on: Annotated[
        list[str] | None, typer.Option("--depends-on", help="Blocking task id; repeatable.")
    ] = None,
    assign: Annotated[str | None, typer.Option(help="Assign to this session name.")] = None,
    require_plan: Annotated[bool, typer.Option(help="Ask for a plan before work.")] = False,
) -> None:
    """Create a task, optionally assigning it to a session by name."""
    from orchestratia.protocol.tasks import AgentTaskAssign, AgentTaskCreate, DependencySpec

    with agent_call(ctx) as call:
        config = call.api.config
        fields: dict[str, Any] = {
            "title": title,
            "spec": spec,
            "priority": priority,
            "type": task_type,
            "target_repo": repo,
            "target_branch": branch,
            "acceptance_criteria": acceptance_criteria or None,
            "require_plan": require_plan or None,
            "project_id": config.project_id,
            "session_id": config.session_id,
        }
        if depends_on:
            fields["dependencies"] = [
                DependencySpec(depends_on_task_id=call.task_id(ref)) for ref in depends_on
            ]
        body = AgentTaskCreate(**{k: v for k, v in fields.items() if v is not None})
        if assign:  # checked before anything is created, so a bad name leaves no orphan
            assign_body = AgentTaskAssign(session_name=assign, require_plan=require_plan or None)
        reply = call.api.create_task(body)
        if assign:
            created = reply.data.id
            try:
                reply = call.api.task_action(created, "assign", assign_body)
            except AgentApiError as exc:
                call.fail(f"task {created} was created, but assigning it failed: {exc}")
        call.show(reply, out.headline("created and assigned" if assign else "created"))


@app.command()
def assign(
    ctx: typer.Context,
    task: TaskRef,
    session: Annotated[str, typer.Option(help="Session name to assign to.")],
    require_plan: Annotated[bool, typer.Option(help="Ask for a plan before work.")] = False,
) -> None:
    """Assign a task to a live session by name."""
    from orchestratia.protocol.tasks import AgentTaskAssign

    body = AgentTaskAssign(session_name=session, require_plan=require_plan or None)
    with agent_call(ctx) as call:
        call.show(
            call.api.task_action(call.task_id(task), "assign", body), out.headline("assigned")
        )


@app.command()
def update(
    ctx: typer.Context,
    task: TaskRef,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    spec: Annotated[str | None, typer.Option(help="New spec.")] = None,
    priority: PriorityOpt = None,
    task_type: TypeOpt = None,
    repo: Annotated[str | None, typer.Option(help="New target repository.")] = None,
    branch: Annotated[str | None, typer.Option(help="New target branch.")] = None,
    acceptance_criteria: CriteriaOpt = None,
) -> None:
    """Change a task's fields; the assigned session is told."""
    from orchestratia.protocol.tasks import AgentTaskUpdate

    fields = {
        "title": title,
        "spec": spec,
        "priority": priority,
        "type": task_type,
        "target_repo": repo,
        "target_branch": branch,
        "acceptance_criteria": acceptance_criteria or None,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    with agent_call(ctx) as call:
        if not given:
            call.fail("nothing to update: give at least one field option (see --help)")
        reply = call.api.update_task(call.task_id(task), AgentTaskUpdate(**given))
        call.show(reply, out.headline("updated"))


@app.command()
def cancel(ctx: typer.Context, task: TaskRef) -> None:
    """Cancel a task (it is kept, with status cancelled)."""
    with agent_call(ctx) as call:
        reply = call.api.cancel_task(call.task_id(task))
        call.show(reply, lambda r: say(f"cancelled task {r.task_id}"))


@deps_app.command("add")
def deps_add(
    ctx: typer.Context,
    task: TaskRef,
    depends_on: Annotated[str, typer.Option("--depends-on", help="The task it depends on.")],
    dep_type: Annotated[
        str, typer.Option("--type", help="blocks, input (needs a contract) or related.")
    ] = "blocks",
    contract_key: Annotated[
        str | None, typer.Option(help="Contract key an input dependency consumes.")
    ] = None,
) -> None:
    """Make TASK depend on another task."""
    from orchestratia.protocol.tasks import AgentDependencyCreate

    with agent_call(ctx) as call:
        task_id, upstream = call.task_id(task), call.task_id(depends_on)
        body = AgentDependencyCreate(
            depends_on_task_id=upstream, dependency_type=dep_type, contract_key=contract_key
        )
        call.show(call.api.add_dependency(task_id, body), out.show_dependency)


@deps_app.command("remove")
def deps_remove(
    ctx: typer.Context,
    task: TaskRef,
    depends_on: Annotated[str, typer.Option("--depends-on", help="The task it depends on.")],
) -> None:
    """Remove a dependency of TASK."""
    with agent_call(ctx) as call:
        task_id, upstream = call.task_id(task), call.task_id(depends_on)
        call.api.remove_dependency(task_id, upstream)
        # The hub answers 204; JSON mode still prints what happened.
        if call.as_json:
            out.emit_json({"removed": True, "task_id": task_id, "depends_on_task_id": upstream})
        else:
            say(f"task {task_id} no longer depends on {upstream}")
