"""``orchestratia hook pre-tool-use`` with recorded-format inputs for each agent: rule allow and
deny, ask → approved/denied in the inbox (a local stub hub), ask with the hub unreachable or
silent (never an allow), hostile input (never executed, fails closed), and the daemon socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestratia.agent.approvals.hook_formats import MAX_HOOK_INPUT
from orchestratia.agent.approvals.permission_spool import SPOOL_FILE
from orchestratia.cli.pre_tool_use import run
from tests.support import free_port, wait_sync
from tests.unit.approval_stub import ApprovalStub
from tests.unit.hook_corpus import FILE_RULES, NO_RM, SHELLS, decision_socket, write_rules

SAMPLES = Path(__file__).parent / "hook_samples" / "pretooluse"
ENTRY = "from orchestratia.cli.console import main; main()"
RULES: list[dict[str, Any]] = [
    NO_RM,
    {"id": "no-subst", "name": "no command substitution", "tool_pattern": SHELLS,
     "pattern_syntax": "regex", "param_pattern": r"\$\(|`", "action": "deny"},
    {"id": "git-status", "name": "git status", "tool_pattern": "Bash",
     "param_pattern": "git status*", "action": "allow"},
    *FILE_RULES,
]  # fmt: skip


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    directory = tmp_path / "policy"
    write_rules(directory, RULES)
    return directory


def hook_env(policy: Path, hub_url: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(policy.parent),
        "ORCHESTRATIA_AGENT_CONFIG": str(policy.parent / "no-such-agent.yaml"),
        "ORCHESTRATIA_SESSION_ID": "sess-1",
        "ORCHESTRATIA_PROJECT_ID": "proj-1",
        "ORCHESTRATIA_POLICY_DIR": str(policy),
        "ORCHESTRATIA_HUB_URL": hub_url,
        "ORCHESTRATIA_API_KEY": "orcs_session_token",
        **extra,
    }


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"


def run_inline(agent: str, data: bytes, env: dict[str, str], tmp_path: Path) -> str:
    stdin = tmp_path / "stdin.json"
    stdin.write_bytes(data)
    with stdin.open("rb") as handle:
        reply = run(agent, stdin_fd=handle.fileno(), env=env)
    assert reply.exit_code == 0
    return reply.stdout


def run_process(agent: str, data: bytes, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "hook", "pre-tool-use", "--agent", agent],
        input=data, env=env, cwd=cwd, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def decision(agent: str, stdout: str) -> tuple[str, str]:
    """(allow|deny|ask, reason) from the agent's documented output."""
    if agent == "codex" and stdout == "":
        return "allow", ""
    body = json.loads(stdout)
    if agent == "gemini":
        return body["decision"], body.get("reason", "")
    out = body["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    return out["permissionDecision"], out["permissionDecisionReason"]


def spooled(policy: Path) -> list[dict[str, Any]]:
    path = policy / SPOOL_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    ("sample", "expected", "rule"),
    [
        ("claude_allow_git_status", "allow", "git-status"),
        ("claude_allow_edit", "allow", "edit-src"),
        ("claude_deny_rm_rf", "deny", "no-rm"),
        ("gemini_allow_read_file", "allow", "read-app"),
        ("gemini_deny_rm_rf", "deny", "no-rm"),
        ("codex_allow_bash", "allow", "git-status"),
        ("codex_deny_bash", "deny", "no-rm"),
    ],
)
def test_rules_decide_in_each_agents_format(
    sample: str, expected: str, rule: str, policy: Path, tmp_path: Path
) -> None:
    agent = sample.split("_")[0]
    stdout = run_inline(agent, (SAMPLES / f"{sample}.json").read_bytes(), hook_env(
        policy, unreachable()), tmp_path)  # fmt: skip
    action, reason = decision(agent, stdout)
    assert action == expected
    if expected == "deny":  # the model reads this reason
        assert f"id {rule}" in reason and "Do not retry" in reason
    [entry] = spooled(policy)
    assert entry["decided_by"] == "rule" and entry["matched_rule_id"] == rule
    assert entry["decision"] == {"allow": "allowed", "deny": "denied"}[expected]
    assert (entry["session_id"], entry["project_id"], entry["agent"]) == ("sess-1", "proj-1", agent)


@pytest.mark.parametrize(
    ("sample", "tool"),
    [("claude_ask_webfetch", "WebFetch"), ("gemini_ask_web_fetch", "web_fetch"),
     ("codex_ask_apply_patch", "apply_patch")],
)  # fmt: skip
def test_ask_approved_in_the_inbox_allows(
    sample: str, tool: str, policy: Path, tmp_path: Path
) -> None:
    agent = sample.split("_")[0]
    with ApprovalStub() as hub:
        process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "hook", "pre-tool-use", "--agent", agent],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=hook_env(policy, hub.url), cwd=tmp_path,
        )  # fmt: skip
        stdout, stderr = b"", b""
        try:
            assert process.stdin is not None
            process.stdin.write((SAMPLES / f"{sample}.json").read_bytes())
            process.stdin.close()
            # Polling the stub: the hook is a separate process.
            wait_sync(lambda: hub.created, 30, "the hook to raise an approval", interval=0.02)
            hub.decide("appr-1", "approved", "")
            assert process.stdout is not None and process.stderr is not None
            stdout, stderr = process.stdout.read(), process.stderr.read()  # until it exits
            process.wait(timeout=30)
        finally:
            process.kill()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
    assert process.returncode == 0, stderr
    action, reason = decision(agent, stdout.decode())
    assert action == "allow"
    assert "Approved" in reason or agent != "claude"
    [body] = hub.created
    assert (body["agent"], body["tool"], body["session_id"]) == (agent, tool, "sess-1")
    assert hub.headers[0]["X-API-Key"] == "orcs_session_token"
    [entry] = spooled(policy)
    assert (entry["decision"], entry["decided_by"]) == ("allowed", "user")


def test_ask_denied_in_the_inbox_denies_with_the_reviewers_reason(
    policy: Path, tmp_path: Path
) -> None:
    denied = {"status": "denied", "reason": "use the staging docs", "decided_by": "ana"}
    with ApprovalStub(decide_on_create=denied) as hub:
        stdout = run_inline("claude", (SAMPLES / "claude_ask_webfetch.json").read_bytes(),
                            hook_env(policy, hub.url), tmp_path)  # fmt: skip
    action, reason = decision("claude", stdout)
    assert action == "deny"
    assert "use the staging docs" in reason and "ana" in reason
    assert hub.created[0]["rule_id"] == "fetch"
    [entry] = spooled(policy)
    assert (entry["decision"], entry["decided_by"], entry["matched_rule_id"]) == (
        "denied", "user", "fetch")  # fmt: skip


@pytest.mark.parametrize(
    ("sample", "fallback"),
    [("claude_ask_webfetch", "ask"), ("gemini_ask_web_fetch", "ask"),
     ("codex_ask_apply_patch", "deny")],
)  # fmt: skip
def test_ask_with_the_hub_unreachable_is_never_allowed(
    sample: str, fallback: str, policy: Path, tmp_path: Path
) -> None:
    agent = sample.split("_")[0]
    stdout = run_process(agent, (SAMPLES / f"{sample}.json").read_bytes(),
                         hook_env(policy, unreachable()), tmp_path)  # fmt: skip
    action, reason = decision(agent, stdout)
    assert action == fallback
    assert "could not reach the hub" in reason
    [entry] = spooled(policy)
    assert entry["decided_by"] == "default"
    assert entry["decision"] == ("denied" if agent == "codex" else "asked")


def test_no_decision_in_time_falls_back_to_the_agents_prompt(policy: Path, tmp_path: Path) -> None:
    env = hook_env(policy, "", ORCHESTRATIA_APPROVAL_TIMEOUT="1")
    with ApprovalStub() as hub:
        env["ORCHESTRATIA_HUB_URL"] = hub.url
        started = time.monotonic()
        stdout = run_inline("claude", (SAMPLES / "claude_ask_webfetch.json").read_bytes(), env,
                            tmp_path)  # fmt: skip
    assert time.monotonic() - started < 10
    action, reason = decision("claude", stdout)
    assert action == "ask" and "within 1 s" in reason
    assert spooled(policy)[0]["decided_by"] == "timeout"


HOSTILE_COMMANDS = [
    "echo $(touch {marker})",
    "echo `touch {marker}`",
    "'''\"; touch {marker}; echo '''",
    "git status\n$(touch {marker})",
    'python -c \'import os; os.system("touch {marker}")\' "$(touch {marker})"',
]


def hostile_inputs(marker: Path) -> list[bytes]:
    inputs = [p.read_bytes() for p in sorted(SAMPLES.glob("hostile_*"))]
    for command in HOSTILE_COMMANDS:
        call = {"hook_event_name": "PreToolUse", "tool_name": "Bash",
                "tool_input": {"command": command.format(marker=marker)}}  # fmt: skip
        inputs.append(json.dumps(call).encode())
    inputs.append(f'{{"hook_event_name": "PreToolUse", "tool_name": "$(touch {marker})", '
                  f'"tool_input": {{"command": "\'\'\'$(touch {marker})'.encode())  # fmt: skip
    inputs.append(json.dumps({"hook_event_name": "PreToolUse", "tool_name": f"`touch {marker}`",
                              "tool_input": {}}).encode())  # fmt: skip
    return inputs


def test_hostile_input_never_runs_and_is_never_allowed(policy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    env = hook_env(policy, unreachable())
    for data in hostile_inputs(marker):
        stdout = run_process("claude", data, env, tmp_path)
        action, reason = decision("claude", stdout)
        assert action != "allow", (data, stdout)
        if action == "deny":
            assert reason
        assert not marker.exists(), data
    assert not marker.exists()
    assert all(entry["decision"] != "allowed" for entry in spooled(policy))


def test_malformed_input_is_a_deny_with_a_clear_reason(policy: Path, tmp_path: Path) -> None:
    for name in ("hostile_invalid_json.txt", "hostile_duplicate_tool_name.json"):
        stdout = run_inline("gemini", (SAMPLES / name).read_bytes(), hook_env(
            policy, unreachable()), tmp_path)  # fmt: skip
        assert json.loads(stdout)["decision"] == "deny"
        assert "could not check this tool call" in json.loads(stdout)["reason"]
    oversize = b"{" + b" " * MAX_HOOK_INPUT + b"}"
    stdout = run_inline("claude", oversize, hook_env(policy, unreachable()), tmp_path)
    assert decision("claude", stdout)[0] == "deny"
    assert [e["decided_by"] for e in spooled(policy)] == ["default"] * 3


def test_an_open_stdin_does_not_stall_the_hook(policy: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "hook", "pre-tool-use", "--agent", "claude"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=hook_env(policy, unreachable()),
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write((SAMPLES / "claude_deny_rm_rf.json").read_bytes())
        process.stdin.flush()  # and never closed, like a careless agent
        line = process.stdout.readline()
        assert decision("claude", line.decode())[0] == "deny"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.stdin.close()
        process.stdout.close()


def test_outside_a_session_the_hook_stays_out_of_the_way(policy: Path, tmp_path: Path) -> None:
    env = hook_env(policy, unreachable())
    del env["ORCHESTRATIA_SESSION_ID"]
    assert run_process("claude", (SAMPLES / "claude_deny_rm_rf.json").read_bytes(), env,
                       tmp_path) == ""  # fmt: skip
    assert spooled(policy) == []


def test_without_any_cached_rules_a_person_decides(tmp_path: Path) -> None:
    empty = tmp_path / "policy"
    empty.mkdir(mode=0o700)
    stdout = run_inline("claude", (SAMPLES / "claude_allow_git_status.json").read_bytes(),
                        hook_env(empty, unreachable()), tmp_path)  # fmt: skip
    assert decision("claude", stdout)[0] == "ask"


def test_unknown_agent_blocks(policy: Path, tmp_path: Path) -> None:
    stdin = tmp_path / "stdin.json"
    stdin.write_bytes((SAMPLES / "claude_allow_git_status.json").read_bytes())
    with stdin.open("rb") as handle:
        reply = run("cursor", stdin_fd=handle.fileno(), env=hook_env(policy, unreachable()))
    assert reply.exit_code == 2
    assert decision("claude", reply.stdout)[0] == "deny"


@pytest.fixture
def daemon_socket(policy: Path) -> Iterator[list[dict[str, Any]]]:
    """A decision socket whose answers differ from the cache file, to see which one spoke."""
    asked: list[dict[str, Any]] = []

    def decide(request: Any) -> dict[str, Any]:
        asked.append(dict(request))
        return {"action": "allow", "rule_id": "from-daemon", "reason": "daemon says yes"}

    with decision_socket(policy, decide):
        yield asked


def test_the_daemons_matcher_answers_when_it_is_up(
    policy: Path, tmp_path: Path, daemon_socket: list[dict[str, Any]]
) -> None:
    stdout = run_process("claude", (SAMPLES / "claude_deny_rm_rf.json").read_bytes(),
                         hook_env(policy, unreachable()), tmp_path)  # fmt: skip
    assert decision("claude", stdout) == ("allow", "daemon says yes")
    [request] = daemon_socket
    assert request["tool"] == "Bash" and request["session_id"] == "sess-1"
    assert request["tool_input"]["command"] == "rm -rf build/ dist/"
    assert spooled(policy)[0]["matched_rule_id"] == "from-daemon"


CHAIN_RULES: list[dict[str, Any]] = [
    {"id": "ls", "name": "ls", "tool_pattern": "Bash", "param_pattern": "ls*", "action": "allow"},
    {"id": "ls-gemini", "name": "ls", "tool_pattern": "run_shell_command", "param_pattern": "ls*",
     "action": "allow"},
    {"id": "no-rm", "name": "no rm", "tool_pattern": "Bash", "param_pattern": "rm -rf*",
     "action": "deny"},
]  # fmt: skip


@pytest.mark.parametrize(
    ("sample", "expected", "rule"),
    [
        ("claude_chained_semicolon", "deny", "no-rm"),
        ("claude_chained_newline", "deny", "no-rm"),
        ("claude_chained_leading_space", "deny", "no-rm"),
        ("claude_chained_quoted_semicolon", "allow", "ls"),
        ("codex_chained_curl_pipe_sh", "deny", None),  # ask; Codex has no prompt to fall back to
        ("codex_chained_substitution", "deny", "no-rm"),
        ("gemini_chained_redirect", "ask", None),
        ("gemini_chained_pipe_allowed", "allow", "ls-gemini"),
    ],
)
def test_compound_commands_through_the_hook(
    sample: str, expected: str, rule: str | None, tmp_path: Path
) -> None:
    """Glob rules ``ls*`` → allow and ``rm -rf*`` → deny judge each simple command."""
    policy = tmp_path / "policy"
    write_rules(policy, CHAIN_RULES)
    agent = sample.split("_")[0]
    data = (SAMPLES / f"{sample}.json").read_bytes()
    stdout = run_inline(agent, data, hook_env(policy, unreachable()), tmp_path)
    assert decision(agent, stdout)[0] == expected, stdout
    [entry] = spooled(policy)
    assert entry["matched_rule_id"] == rule
    assert (entry["decision"] == "allowed") == (expected == "allow")
