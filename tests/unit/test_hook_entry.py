"""The pre-tool-use hook as ``install-hooks`` writes it (``python -I -S …/hook_entry.py``):
run through a shell in a bare environment, it answers every input of the corpus exactly as
``pre_tool_use.run`` does in process (stdout, exit code, spooled entry), with the daemon up and
down, and neither ``PYTHON*`` variables nor the current directory reach its imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestratia.agent.approvals.cached_rules import build_matcher, decide_with, read_cache
from orchestratia.agent.approvals.permission_spool import SPOOL_FILE
from orchestratia.cli import hook_entry
from orchestratia.cli.agent import app
from orchestratia.cli.pre_tool_use import run
from tests.unit.hook_corpus import (
    RULES,
    SAMPLES,
    decision_socket,
    hook_inputs,
    tool_call,
    write_rules,
)

AGENTS = ("claude", "gemini", "codex")
ASK_RUNS = 2  # an ask loads httpx and pydantic (~0.5 s): a few prove the path, in process the rest


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each agent's installed pre-tool-use command line."""
    home = tmp_path_factory.mktemp("home")
    result = CliRunner().invoke(app, ["install-hooks", "--home", str(home)])
    assert result.exit_code == 0, result.output
    events = {"claude": "PreToolUse", "gemini": "BeforeTool", "codex": "PreToolUse"}
    found = {}
    for agent, event in events.items():
        name = "hooks.json" if agent == "codex" else "settings.json"
        settings = json.loads((home / f".{agent}" / name).read_text())
        [command] = [h["command"] for g in settings["hooks"][event] for h in g["hooks"]]
        assert " -I -S " in command and command.endswith(f"pre-tool-use --agent {agent}")
        found[agent] = command
    return found


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    directory = tmp_path / "policy"
    write_rules(directory, RULES)
    return directory


@pytest.fixture
def daemon(policy: Path) -> Iterator[None]:
    """The daemon's own matcher answering on the policy socket."""
    cached = read_cache(policy)
    assert cached is not None
    matcher, no_rules = build_matcher(cached)
    assert matcher is not None, no_rules

    def decide(request: Mapping[str, Any]) -> dict[str, Any]:
        return decide_with(matcher, no_rules, cached.server_id, request)

    with decision_socket(policy, decide):
        yield


def bare_env(policy: Path, **extra: str) -> dict[str, str]:
    """What an agent's session passes, and nothing of this test process (no venv, no PYTHON*)."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(policy.parent),
        "ORCHESTRATIA_AGENT_CONFIG": str(policy.parent / "no-such-agent.yaml"),
        "ORCHESTRATIA_SESSION_ID": "sess-1",
        "ORCHESTRATIA_PROJECT_ID": "proj-1",
        "ORCHESTRATIA_POLICY_DIR": str(policy),
        **extra,
    }


def installed(command: str, data: bytes, env: dict[str, str], cwd: Path) -> tuple[str, int]:
    done = subprocess.run(["/bin/sh", "-c", command], input=data, env=env, cwd=cwd,
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert b"Traceback" not in done.stderr, done.stderr
    return done.stdout.decode(), done.returncode


def in_process(agent: str, data: bytes, env: dict[str, str], tmp_path: Path) -> tuple[str, int]:
    stdin = tmp_path / "stdin"
    stdin.write_bytes(data)
    with stdin.open("rb") as handle:
        reply = run(agent, stdin_fd=handle.fileno(), env=env)
    return (reply.stdout + "\n" if reply.stdout else ""), reply.exit_code


def last_entry(policy: Path) -> dict[str, Any]:
    lines = (policy / SPOOL_FILE).read_text().splitlines()
    entry: dict[str, Any] = json.loads(lines[-1])
    assert entry.pop("id") and entry.pop("created_at")
    return entry


def compare(
    agent: str, data: bytes, command: str, env: dict[str, str], tmp_path: Path, policy: Path
) -> dict[str, Any]:
    """Both ways on one input; the spooled entry (the same in both) for the caller."""
    expected = in_process(agent, data, env, tmp_path)
    entry = last_entry(policy)
    assert installed(command, data, env, tmp_path) == expected, data[:300]
    assert last_entry(policy) == entry, data[:300]
    return entry


@pytest.mark.parametrize("agent", AGENTS)
def test_the_installed_command_decides_as_run_does_with_the_daemon_up(
    agent: str, commands: dict[str, str], policy: Path, daemon: None, tmp_path: Path
) -> None:
    env = bare_env(policy)
    decided = {"allowed": 0, "denied": 0, "asked": 0}
    asks = 0
    for who, data in hook_inputs():
        if who != agent:
            continue
        expected = in_process(agent, data, env, tmp_path)
        entry = last_entry(policy)
        decided[entry["decision"]] += 1
        if entry["decided_by"] != "rule" and entry["tool"] != "(unreadable hook input)":
            asks += 1  # an ask (Codex: denied for want of a person)
            if asks > ASK_RUNS:
                continue
        assert installed(commands[agent], data, env, tmp_path) == expected, data[:300]
        assert last_entry(policy) == entry, data[:300]
    assert all(decided.values()) or agent == "codex", decided  # Codex renders ask as a deny
    assert decided["allowed"] >= 3 and decided["denied"] >= 10, decided


def test_the_installed_command_decides_from_the_cache_with_the_daemon_down(
    commands: dict[str, str], policy: Path, tmp_path: Path
) -> None:
    """No socket: the hook loads the cache file itself, after adding site-packages."""
    env = bare_env(policy)
    cases = [
        ("claude", (SAMPLES / "claude_allow_git_status.json").read_bytes(), "allowed"),
        ("gemini", tool_call("gemini", "run_shell_command", {"command": "ls; rm -rf x"}), "denied"),
        ("codex", tool_call("codex", "Bash", {"command": "ls -la | wc -l"}), "allowed"),
    ]
    for agent, data, decision in cases:
        entry = compare(agent, data, commands[agent], env, tmp_path, policy)
        assert (entry["decision"], entry["decided_by"]) == (decision, "rule")


def test_nothing_from_the_environment_or_the_directory_reaches_its_imports(
    commands: dict[str, str], policy: Path, tmp_path: Path
) -> None:
    """``-I``: ``PYTHONPATH``, ``PYTHONSTARTUP``, the user site and the current directory are
    ignored, so a project's own ``json.py``, ``site.py`` or ``orchestratia/`` cannot run."""
    marker = tmp_path / "pwned"
    trap = tmp_path / "trap"
    for module in (
        "json.py",
        "site.py",
        "_json.py",
        "orchestratia/__init__.py",
        "sitecustomize.py",
    ):
        (trap / module).parent.mkdir(parents=True, exist_ok=True)
        (trap / module).write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = bare_env(policy, PYTHONPATH=str(trap), PYTHONSTARTUP=str(trap / "json.py"),
                   PYTHONUSERBASE=str(trap), PYTHONHOME=str(trap))  # fmt: skip
    data = tool_call("claude", "Bash", {"command": "ls; rm -rf /"})
    for _ in range(2):  # the daemon down, then a malformed input (json's error path)
        stdout, code = installed(commands["claude"], data, env, trap)
        assert (
            code == 0 and json.loads(stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
        )
        data = b'{"hook_event_name": "PreToolUse", "tool_name": '
    assert not marker.exists()
    spooled = [json.loads(line) for line in (policy / SPOOL_FILE).read_text().splitlines()]
    assert [entry["decided_by"] for entry in spooled] == ["rule", "default"]


def test_other_arguments_reach_the_full_cli(commands: dict[str, str], policy: Path) -> None:
    help_command = commands["claude"].replace("--agent claude", "--help")
    done = subprocess.run(["/bin/sh", "-c", help_command], capture_output=True, timeout=60,
                          env=bare_env(policy), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"Usage:" in done.stdout and b"pre-tool-use" in done.stdout
    unknown = commands["claude"].replace("--agent claude", "--agent cursor")
    stdout, code = installed(unknown, b"{}", bare_env(policy), policy.parent)
    assert code == 2 and "deny" in stdout


def test_a_working_directory_of_its_own_is_not_needed(
    commands: dict[str, str], policy: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chmod(gone, 0)  # the agent's cwd may be unreadable to us: nothing is looked up there
    try:
        stdout, code = installed(
            commands["gemini"],
            tool_call("gemini", "run_shell_command", {"command": "git status"}),
            bare_env(policy),
            gone,
        )
    finally:
        os.chmod(gone, 0o700)
    assert code == 0 and json.loads(stdout)["decision"] in ("allow", "ask")


def package_copy(tmp_path: Path) -> Path:
    """A copy of this package to break in place, as a half-finished upgrade would; its root
    stands for the site-packages directory the hook is installed in."""
    root = tmp_path / "site-packages"
    source = Path(hook_entry.__file__).parents[1]
    shutil.copytree(source, root / "orchestratia", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def run_copy(root: Path, agent: str, data: bytes, env: dict[str, str]) -> tuple[str, str, int]:
    entry = root / "orchestratia" / "cli" / "hook_entry.py"
    done = subprocess.run([sys.executable, "-I", "-S", str(entry), "pre-tool-use", "--agent",
                           agent], input=data, env=env, capture_output=True, timeout=60,
                          check=False)  # fmt: skip
    return done.stdout.decode(), done.stderr.decode(), done.returncode


def denied(agent: str, stdout: str) -> bool:
    reply = json.loads(stdout)
    if agent == "gemini":
        return bool(reply["decision"] == "deny")
    return bool(reply["hookSpecificOutput"]["permissionDecision"] == "deny")


@pytest.mark.parametrize("agent", AGENTS)
def test_a_hook_that_cannot_import_blocks_the_call(
    agent: str, policy: Path, tmp_path: Path
) -> None:
    """Exit 1 would be a non-blocking error (the call runs): a failed import is a deny, exit 2."""
    root = package_copy(tmp_path)
    (root / "orchestratia" / "agent" / "approvals" / "decision_socket.py").write_text(
        "from orchestratia.agent.approvals.removed_in_this_release import ask_daemon\n"
    )
    data = tool_call(agent, "Bash", {"command": "git status"})
    stdout, stderr, code = run_copy(root, agent, data, bare_env(policy))
    assert code == 2 and denied(agent, stdout), (stdout, stderr)
    assert "refused a tool call" in stderr and "removed_in_this_release" in stderr
    assert "Traceback" not in stderr


def test_a_failure_after_the_decision_blocks_the_call(policy: Path, tmp_path: Path) -> None:
    """A spool that raises something other than OSError, after a deny rule decided (daemon
    down, so the cache decides): still a deny, never the exit 1 that lets the call run."""
    root = package_copy(tmp_path)
    spool = root / "orchestratia" / "agent" / "approvals" / "permission_spool.py"
    spool.write_text(spool.read_text() + "\n\ndef append_entry(*args, **kwargs):\n"
                     "    raise TypeError('entry field of an unknown type')\n")  # fmt: skip
    data = tool_call("claude", "Bash", {"command": "ls; rm -rf x"})
    stdout, stderr, code = run_copy(root, "claude", data, bare_env(policy))
    assert code == 2 and denied("claude", stdout), (stdout, stderr)
    assert "TypeError: entry field of an unknown type" in stderr


def test_without_even_the_reply_formats_exit_2_alone_blocks(policy: Path, tmp_path: Path) -> None:
    root = package_copy(tmp_path)
    (root / "orchestratia" / "agent" / "approvals" / "hook_formats.py").write_text("1/0\n")
    data = tool_call("codex", "Bash", {"command": "git status"})
    stdout, stderr, code = run_copy(root, "codex", data, bare_env(policy))
    assert (stdout, code) == ("", 2), stderr
    assert "refused a tool call" in stderr and "ZeroDivisionError" in stderr


def test_modules_installed_beside_the_package_do_not_shadow_the_standard_library(
    policy: Path, tmp_path: Path
) -> None:
    """The package root comes after the standard library on ``sys.path``: a ``select.py`` or
    ``fcntl.py`` in site-packages (which the fast path imports) never runs."""
    root = package_copy(tmp_path)
    marker = tmp_path / "pwned"
    for module in ("select.py", "fcntl.py", "typing.py"):
        (root / module).write_text(f"open({str(marker)!r}, 'w').close()\n")
    data = tool_call("claude", "Bash", {"command": "ls; rm -rf /"})
    stdout, stderr, code = run_copy(root, "claude", data, bare_env(policy))
    assert code == 0 and denied("claude", stdout), (stdout, stderr)
    assert not marker.exists()
