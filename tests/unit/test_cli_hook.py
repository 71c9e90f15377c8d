"""``orchestratia hook session-start`` for Claude Code, Gemini CLI and Codex, and ``init``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from orchestratia.cli.agent_api import AgentOptions
from orchestratia.cli.agent_commands import GUIDE
from orchestratia.cli.main import app
from tests.unit.cli_fakes import TASK_A, TASK_C, FakeHub, status_reply, task_public

# The environment a daemon gives an agent session, as the CLI expects it.
pytestmark = pytest.mark.usefixtures("session_env")

SAMPLES = Path(__file__).parent / "hook_samples"
STATUS = status_reply(
    [
        task_public(TASK_A, status="running"),
        task_public(
            TASK_C,
            title="Write\nthe docs",
            blocked=True,
            blocked_by=[
                {"task_id": TASK_A, "title": "API", "status": "running", "dependency_type": "input"}
            ],
        ),
    ]
)


def hook(hub: FakeHub, agent: str | None, stdin: str) -> Result:
    args = ["hook", "session-start", *(["--agent", agent] if agent else [])]
    result = CliRunner().invoke(app, args, obj=AgentOptions(transport=hub.transport), input=stdin)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def parse(result: Result) -> dict[str, Any]:
    """Stdout must be exactly one JSON document (Gemini refuses anything else)."""
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    assert result.stdout.count("\n") == 1
    return data


@pytest.mark.parametrize("agent", ["claude", "gemini", "codex"])
def test_recorded_inputs_give_the_documented_output(agent: str) -> None:
    sample = (SAMPLES / f"{agent}.json").read_text()
    assert json.loads(sample)["hook_event_name"] == "SessionStart"
    hub = FakeHub({("GET", "status"): STATUS})
    data = parse(hook(hub, agent, sample))
    assert hub.calls() == [("GET", "status")]
    assert dict(hub.requests[0].url.params) == {"session_id": "sess-1"}
    specific = data["hookSpecificOutput"]
    # Codex's schema forbids unknown keys, so the inner object holds exactly these two.
    assert set(specific) == {"hookEventName", "additionalContext"}
    assert specific["hookEventName"] == "SessionStart"
    context = specific["additionalContext"]
    assert "Session: backend (id sess-1); role: worker" in context
    assert "Project: shop (id proj-1)" in context
    assert "Server: devbox (id srv-1), online" in context
    assert "Tasks assigned to you (2):" in context
    assert f"- {TASK_A} [running] Build the orders API" in context
    assert f"- {TASK_C} [assigned, blocked by 1a2b3c4d] Write the docs" in context
    source = json.loads(sample)["source"]
    assert f"loaded at session {source}." in context
    if agent == "gemini":
        assert data == {
            "hookSpecificOutput": specific,
            "systemMessage": "Orchestratia: session context loaded",
        }
    else:
        assert set(data) == {"hookSpecificOutput"}


def test_default_agent_is_claude_and_unknown_agents_get_its_format() -> None:
    for agent in (None, "cursor"):
        data = parse(hook(FakeHub({("GET", "status"): STATUS}), agent, ""))
        assert set(data) == {"hookSpecificOutput"}


@pytest.mark.parametrize(
    "stdin",
    ["", "not json", "[1, 2]", '{"source": "../../etc $(rm -rf /)"}', "\x00\xff" * 1000],
)
def test_odd_stdin_is_only_missing_data(stdin: str) -> None:
    data = parse(hook(FakeHub({("GET", "status"): STATUS}), "claude", stdin))
    context = data["hookSpecificOutput"]["additionalContext"]
    assert "Session: backend" in context
    assert "loaded at session" not in context


def test_no_tasks_says_so() -> None:
    status = {**STATUS, "tasks": []}
    data = parse(hook(FakeHub({("GET", "status"): status}), "codex", "{}"))
    assert (
        "No tasks are assigned to you right now" in data["hookSpecificOutput"]["additionalContext"]
    )


def test_unreachable_hub_still_lets_the_agent_start() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    result = CliRunner().invoke(
        app,
        ["hook", "session-start", "--agent", "gemini"],
        obj=AgentOptions(transport=httpx.MockTransport(refuse)),
        input="{}",
    )
    assert result.exit_code == 0
    data = parse(result)
    context = data["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("Orchestratia: could not load this session's tasks (cannot reach hub")
    assert data["systemMessage"] == "Orchestratia: session context unavailable (see context)"


def test_hub_errors_and_odd_replies_still_exit_zero() -> None:
    denied = FakeHub({("GET", "status"): httpx.Response(401, json={"detail": "bad key"})})
    context = parse(hook(denied, "claude", "{}"))["hookSpecificOutput"]["additionalContext"]
    assert "(HTTP 401: bad key)" in context
    odd = FakeHub({("GET", "status"): ["not", "an", "object"]})
    context = parse(hook(odd, "claude", "{}"))["hookSpecificOutput"]["additionalContext"]
    assert "Session: unknown" in context


def test_unconfigured_terminal_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATIA_HUB_URL")
    hub = FakeHub()
    context = parse(hook(hub, "claude", "{}"))["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("Orchestratia: this terminal is not connected to a hub (no hub URL")
    assert hub.requests == []


# --- init --------------------------------------------------------------------------------------


def test_init_writes_the_guide_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0
    guide = (tmp_path / "ORCHESTRATIA.md").read_text()
    assert guide == GUIDE
    for needle in (
        "task check",
        "task view",
        "task start",
        "task complete",
        "task fail",
        "task help",
        '"contracts"',
        "--json",
        "prefix",
    ):
        assert needle in guide
    (tmp_path / "ORCHESTRATIA.md").write_text("mine")
    again = runner.invoke(app, ["init", "--json"])
    assert again.exit_code == 1
    assert "already exists; pass --force" in json.loads(again.stdout)["error"]
    assert (tmp_path / "ORCHESTRATIA.md").read_text() == "mine"
    forced = runner.invoke(app, ["--json", "init", "--force"])
    assert json.loads(forced.stdout) == {"path": str(tmp_path / "ORCHESTRATIA.md"), "written": True}
    assert (tmp_path / "ORCHESTRATIA.md").read_text() == GUIDE


def test_init_print_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init", "--print"])
    assert (result.exit_code, result.stdout) == (0, GUIDE)
    assert list(tmp_path.iterdir()) == []


def test_guide_example_result_is_a_valid_task_result() -> None:
    from orchestratia.protocol.task_documents import TaskResult

    example = GUIDE.split("```json\n", 1)[1].split("```", 1)[0]
    result = TaskResult.model_validate(json.loads(example))
    assert set(result.contracts) == {"orders_api"}


def _hook_process(tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ORCHESTRATIA_AGENT_CONFIG": str(tmp_path / "absent.yaml"),
        "ORCHESTRATIA_HUB_URL": "http://127.0.0.1:9",  # the discard port: refused at once
        "ORCHESTRATIA_API_KEY": "k",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestratia", "hook", "session-start", "--agent", "claude"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_real_stdin_is_read(tmp_path: Path) -> None:
    proc = _hook_process(tmp_path)
    out, _ = proc.communicate((SAMPLES / "claude.json").read_text(), timeout=60)
    assert proc.returncode == 0
    context = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert "could not load this session's tasks (cannot reach hub" in context


def test_an_agent_that_never_closes_stdin_does_not_stall_the_hook(tmp_path: Path) -> None:
    proc = _hook_process(tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write('{"source": "startup"')  # half a document, and the pipe stays open
    proc.stdin.flush()
    started = time.monotonic()
    try:
        assert proc.wait(timeout=60) == 0
        assert time.monotonic() - started < 30
        data = json.loads(proc.stdout.read())
    finally:
        proc.stdin.close()
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert data["hookSpecificOutput"]["hookEventName"] == "SessionStart"
