"""``orchestratia hook session-start``: tell an AI agent, as it starts, who it is and what it owns.

The agent CLI runs this as its SessionStart hook, passes its own JSON on stdin, and injects our
stdout into the model's context. A SessionStart hook must never stop an agent from starting, so
every failure (no config, hub down, bad stdin) still prints valid output and exits 0.

Output formats, checked against each agent's documentation:

- Claude Code (https://code.claude.com/docs/en/hooks, "SessionStart"): JSON on stdout,
  ``{"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": "..."}}``.
- Gemini CLI (https://geminicli.com/docs/hooks/reference, "SessionStart"; example in
  docs/hooks/writing-hooks.md): the same ``hookSpecificOutput.additionalContext``, plus an
  optional ``systemMessage`` shown to the user; stdout must hold nothing but the JSON.
- Codex (https://developers.openai.com/codex/hooks; schema
  codex-rs/hooks/schema/generated/session-start.command.output.schema.json): the same
  ``hookSpecificOutput`` with ``hookEventName`` required; unknown keys are rejected.
"""

from __future__ import annotations

import json
import re
import sys
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from orchestratia.cli.agent_api import AgentApi, AgentApiError, HubReplyError, resolve_config
from orchestratia.cli.output import agent_options, connection_callback, short_id

if TYPE_CHECKING:
    from orchestratia.protocol.agent_status import (
        AgentStatus,
        ProjectRef,
        ServerBrief,
        SessionBrief,
    )
    from orchestratia.protocol.task_replies import TaskPublic

app = typer.Typer(
    help="Hooks for AI agent CLIs.", no_args_is_help=True, callback=connection_callback
)

AGENTS = ("claude", "gemini", "codex")
# A hook delays the agent's first prompt; keep the wait short unless the user asks otherwise.
HOOK_TIMEOUT = 5.0
MAX_STDIN = 1_000_000
STDIN_WAIT = 2.0
MAX_TITLE = 200
_SOURCE = re.compile(r"^[a-z_]{1,20}$")


def _read_with_deadline(stream: IO[str], seconds: float) -> str:
    """Up to ``MAX_STDIN`` of ``stream``, giving up after ``seconds``: an agent that forgets to
    close our stdin must not stall its own start."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: read() cannot hang
        return stream.read(MAX_STDIN)
    import os
    import select
    import time

    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + seconds
    while size < MAX_STDIN:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def read_hook_input(stream: IO[str] | None) -> dict[str, Any]:
    """The agent's hook JSON, or ``{}`` when there is none or it is not a JSON object."""
    try:
        if stream is None or stream.isatty():
            return {}
        data = json.loads(_read_with_deadline(stream, STDIN_WAIT) or "null")
    except Exception:  # bad input is only missing information, never a reason to fail
        return {}
    return data if isinstance(data, dict) else {}


def _one_line(value: Any, limit: int = MAX_TITLE) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _named(item: SessionBrief | ProjectRef | ServerBrief | None) -> str:
    if item is None:
        return "unknown"
    return f"{_one_line(item.name) or '?'} (id {item.id or '?'})"


def task_lines(tasks: list[TaskPublic]) -> list[str]:
    lines = []
    for t in tasks:
        state: str = t.status
        if t.blocked:
            blockers = [short_id(b.task_id) for b in t.blocked_by]
            state += f", blocked by {', '.join(blockers)}" if blockers else ", blocked"
        lines.append(f"- {t.id} [{state}] {_one_line(t.title)}")
    return lines


def describe_status(status: AgentStatus | None, source: str | None) -> str:
    """The context text for a session the hub knows about (``None``: it answered, but with
    nothing this CLI could read)."""
    lines = [
        "You are running in an Orchestratia session (a terminal managed by an Orchestratia hub)."
    ]
    if source:
        lines.append(f"This context was loaded at session {source}.")
    session, role = (status.session, status.role) if status else (None, None)
    lines.append(f"Session: {_named(session)}; role: {role or 'none'}")
    lines.append(f"Project: {_named(status.project if status else None)}")
    server = status.server if status else None
    online = f", {server.status}" if server is not None and server.status else ""
    lines.append(f"Server: {_named(server)}{online}")
    tasks = status.tasks if status else []
    if tasks:
        lines.append(f"Tasks assigned to you ({len(tasks)}):")
        lines.extend(task_lines(tasks))
        lines.append(
            "Read one with `orchestratia task view <id>`, then `orchestratia task start <id>`; "
            "finish with `orchestratia task complete <id> --result '<json>'` (or `task fail`, "
            "`task help`)."
        )
    else:
        lines.append(
            "No tasks are assigned to you right now; `orchestratia task check` looks again."
        )
    lines.append("`orchestratia init --print` shows the full guide to the orchestratia CLI.")
    return "\n".join(lines)


def build_context(ctx: typer.Context, hook_input: dict[str, Any]) -> tuple[str, bool]:
    """The context text, and whether the hub told us about this session."""
    source = hook_input.get("source")
    source = source if isinstance(source, str) and _SOURCE.match(source) else None
    options = agent_options(ctx)
    try:
        config = resolve_config(options, default_timeout=HOOK_TIMEOUT)
    except AgentApiError as exc:
        return (
            f"Orchestratia: this terminal is not connected to a hub ({exc}); "
            "orchestratia commands will not work here.",
            False,
        )
    try:
        with AgentApi(config, transport=options.transport) as api:
            status: AgentStatus | None = api.status(config.session_id).data
    except HubReplyError:
        status = None  # the hub answered: say what little is known rather than fail
    except AgentApiError as exc:
        return (
            f"Orchestratia: could not load this session's tasks ({exc}). "
            "Run `orchestratia task check` later to see what is assigned to you.",
            False,
        )
    return describe_status(status, source), True


def session_start_output(agent: str, context: str, loaded: bool) -> dict[str, Any]:
    """The documented SessionStart reply for ``agent`` (unknown agents get Claude's)."""
    output: dict[str, Any] = {
        "hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}
    }
    if agent == "gemini":
        output["systemMessage"] = (
            "Orchestratia: session context loaded"
            if loaded
            else "Orchestratia: session context unavailable (see context)"
        )
    return output


@app.command("session-start")
def session_start(
    ctx: typer.Context,
    agent: Annotated[
        str, typer.Option(help="Which agent runs the hook: claude, gemini or codex.")
    ] = "claude",
) -> None:
    """Print this session's identity and assigned tasks in the agent's SessionStart format."""
    hook_input = read_hook_input(sys.stdin)
    try:
        context, loaded = build_context(ctx, hook_input)
    except Exception as exc:  # whatever breaks, the agent must still start
        context = f"Orchestratia: could not build session context ({type(exc).__name__}: {exc})."
        loaded = False
    name = agent.strip().lower()
    # An unknown --agent is a setup slip; Claude's format is the common one, so use it.
    typer.echo(
        json.dumps(session_start_output(name if name in AGENTS else "claude", context, loaded))
    )


@app.command("pre-tool-use")
def pre_tool_use(
    ctx: typer.Context,
    agent: Annotated[
        str, typer.Option(help="Which agent runs the hook: claude, gemini or codex.")
    ] = "claude",
) -> None:
    """Allow, deny or ask about one tool call by the approval rules (stdin: the agent's JSON).

    The plain `orchestratia hook pre-tool-use [--agent X]` form skips this typer layer for
    speed (`cli.console`), and `install-hooks` writes a faster line still (`cli.hook_entry`);
    all run the same code.
    """
    from orchestratia.cli.pre_tool_use import emit, run

    reply = run(agent, options=agent_options(ctx))
    emit(reply)
    raise typer.Exit(reply.exit_code)
