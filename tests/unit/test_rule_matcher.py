"""``RuleMatcher``: ordering, scopes, agent filters, main parameters, fail-closed defaults.

Run this file directly (``python tests/unit/test_rule_matcher.py``) to print decision times
for 1,000 rules; the tests themselves assert no timings.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestratia.protocol.approvals import ApprovalRule, RuleSet
from orchestratia.rules.matching import (
    DEFAULT_REASON,
    RuleMatcher,
    Verdict,
    main_parameters,
)

SERVER, PROJECT, SESSION = "srv-1", "proj-1", "sess-1"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rule(rule_id: str, action: str, tool: str = "Bash", **fields: Any) -> ApprovalRule:
    return ApprovalRule.model_validate(
        {"id": rule_id, "name": rule_id, "tool_pattern": tool, "action": action, **fields}
    )


def matcher(*rules: ApprovalRule) -> RuleMatcher:
    return RuleMatcher(RuleSet(version=1, rules=list(rules)))


def decide(m: RuleMatcher, tool: str = "Bash", agent: str = "claude", **tool_input: Any) -> Verdict:
    return m.decide(agent, tool, tool_input, SERVER, PROJECT)


@pytest.fixture(autouse=True)
def nothing_executes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tool input is data: any attempt to run a process during a decision fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"tried to execute {args!r}")

    for name in ("system", "popen", "execv", "execvp", "spawnv", "posix_spawn"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    yield


def test_no_rules_means_ask_never_allow() -> None:
    verdict = decide(matcher(), command="ls")
    assert verdict == Verdict("ask", None, DEFAULT_REASON)
    assert verdict.decided_by == "default"


def test_deny_beats_a_narrower_higher_priority_allow() -> None:
    m = matcher(
        rule("allow-srv", "allow", scope="server", scope_id=SERVER, priority=1000),
        rule("deny-tenant", "deny", priority=-5),
    )
    verdict = decide(m, command="ls")
    assert (verdict.action, verdict.rule_id, verdict.decided_by) == ("deny", "deny-tenant", "rule")
    assert 'Blocked by approval rule "deny-tenant"' in verdict.reason


def test_narrowest_scope_wins_before_priority() -> None:
    m = matcher(
        rule("tenant", "allow", priority=100),
        rule("project", "ask", scope="project", scope_id=PROJECT, priority=50),
        rule("server", "allow", scope="server", scope_id=SERVER, priority=0),
    )
    assert decide(m).rule_id == "server"
    assert m.decide("claude", "Bash", {}, "other-server", PROJECT).rule_id == "project"
    assert m.decide("claude", "Bash", {}, "other-server", "other-project").rule_id == "tenant"
    assert m.decide("claude", "Bash", {}, None, None).rule_id == "tenant"


def test_session_rules_are_narrowest_only_for_their_session_and_lose_to_deny() -> None:
    m = matcher(
        rule("server", "ask", scope="server", scope_id=SERVER, priority=100),
        rule("session", "allow", scope="session", scope_id=SESSION),
        rule("other-session", "allow", tool="Read", scope="session", scope_id="sess-2"),
        rule("deny", "deny", param_pattern="rm *", priority=-100),
    )

    def run(session: str | None, tool: str = "Bash", cmd: str = "ls") -> Verdict:
        return m.decide("claude", tool, {"command": cmd}, SERVER, PROJECT, session)

    assert run(SESSION).rule_id == "session"
    assert run(SESSION, cmd="rm -rf /").rule_id == "deny"  # deny first, whatever the scope
    assert run("sess-2").rule_id == run(None).rule_id == "server"
    assert run(SESSION, "Read").action == "ask"
    assert run("sess-2", "Read").rule_id == "other-session"


def test_expired_rules_are_skipped() -> None:
    m = matcher(
        rule("soon", "allow", scope="session", scope_id=SESSION, expires_at=NOW + timedelta(1)),
        rule("gone", "deny", expires_at=NOW),
        rule("naive", "deny", tool="Read", expires_at=datetime(2026, 1, 1, 13)),  # read as UTC
    )

    def at(now: datetime, tool: str = "Bash") -> Verdict:
        return m.decide("claude", tool, {}, SERVER, PROJECT, SESSION, now)

    assert at(NOW).rule_id == "soon"
    assert at(NOW - timedelta(seconds=1)).rule_id == "gone"
    assert at(NOW + timedelta(days=2)).action == "ask"
    assert at(NOW, "Read").rule_id == "naive"
    assert at(datetime(2026, 1, 1, 13), "Read").action == "ask"  # a naive "now" is UTC too
    # Without ``now`` the clock decides: these expired long ago.
    assert m.decide("claude", "Read", {}, None, None).action == "ask"


def test_higher_priority_first_then_id() -> None:
    m = matcher(rule("b", "allow", priority=1), rule("a", "ask", priority=1), rule("c", "ask"))
    assert decide(m).rule_id == "a"
    m = matcher(rule("low", "allow", priority=-1), rule("high", "ask", priority=7))
    assert decide(m).rule_id == "high"


def test_inactive_rules_and_other_agents_are_skipped() -> None:
    m = matcher(
        rule("off", "deny", is_active=False),
        rule("codex-only", "deny", agent_filter="codex, gemini"),
        rule("all", "allow"),
    )
    assert decide(m, agent="claude").rule_id == "all"
    assert decide(m, agent="codex").rule_id == "codex-only"
    assert len(m) == 2


def test_tool_pattern_glob_and_regex() -> None:
    m = matcher(
        rule("mcp", "deny", tool="mcp__*__delete*"),
        rule("files", "allow", tool="^(Read|Glob|Grep)$", pattern_syntax="regex"),
    )
    assert decide(m, "mcp__github__delete_repo").rule_id == "mcp"
    assert decide(m, "Grep", pattern="TODO").rule_id == "files"
    assert decide(m, "GrepX").rule_id is None
    assert decide(m, "bash").action == "ask"  # tool names are case-sensitive


def test_param_pattern_on_the_main_parameter() -> None:
    m = matcher(
        rule("rm", "deny", param_pattern=r"rm\s+-(rf|fr)\b", pattern_syntax="regex"),
        rule("git", "allow", param_pattern="git status*"),
        rule("env", "deny", tool="Read", param_pattern="*/.env"),
    )
    assert decide(m, command="sudo rm -rf /").rule_id == "rm"
    assert decide(m, command="git status --short").rule_id == "git"
    assert decide(m, command="echo git status").action == "ask"  # globs are anchored
    assert decide(m, "Read", file_path="/srv/app/.env").rule_id == "env"
    assert decide(m, "Read", file_path="/srv/app/.env.example").action == "ask"


def test_missing_or_unknown_main_parameter_never_matches_a_param_rule() -> None:
    m = matcher(
        rule("any-tool", "allow", tool="*", param_pattern="*"),
        rule("weird-tool", "allow", tool="Frobnicate"),
    )
    assert decide(m, "Bash", description="no command").action == "ask"
    assert decide(m, "Bash", command=["rm", "-rf", "/"]).action == "ask"  # not a string
    assert decide(m, "Bash", command=42).action == "ask"
    assert decide(m, "mcp__x__y", command="ls").action == "ask"  # main parameter unknown
    assert decide(m, "Frobnicate", command="ls").rule_id == "weird-tool"  # tool-only rule


def test_hostile_text_is_matched_as_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    command = f"git status\necho \"$(touch {marker})\" `touch {marker}` '''\\\"'''"
    m = matcher(
        rule("subst", "deny", param_pattern=r"\$\(|`", pattern_syntax="regex"),
        rule("git", "allow", param_pattern="git status*"),
    )
    assert decide(m, command=command).rule_id == "subst"
    assert decide(matcher(rule("git", "allow", param_pattern="git status*")), command=command)
    assert not marker.exists()
    lone = decide(m, command="rm \ud800 `x`", description="\udfff")
    assert lone.rule_id == "subst"
    assert decide(m, "\ud800").action == "ask"


@pytest.mark.parametrize(
    ("tool", "tool_input", "expected"),
    [
        ("Bash", {"command": "ls -la"}, ("ls -la",)),
        ("Write", {"file_path": "/a/b.py", "content": "x"}, ("/a/b.py",)),
        ("Edit", {"file_path": "/a/b.py", "old_string": "x", "new_string": "y"}, ("/a/b.py",)),
        ("MultiEdit", {"file_path": "/a/c.py", "edits": []}, ("/a/c.py",)),
        ("Read", {"file_path": "/a/b.py"}, ("/a/b.py",)),
        ("NotebookEdit", {"notebook_path": "/n.ipynb", "new_source": ""}, ("/n.ipynb",)),
        ("WebFetch", {"url": "https://x.org/a", "prompt": "sum"}, ("https://x.org/a",)),
        ("Grep", {"pattern": "TODO", "path": "/src"}, ("TODO",)),
        ("Glob", {"pattern": "**/*.py"}, ("**/*.py",)),
        ("run_shell_command", {"command": "npm test", "description": "t"}, ("npm test",)),
        ("write_file", {"file_path": "/a/x", "content": "y"}, ("/a/x",)),
        ("replace", {"file_path": "/a/x", "old_string": "a", "new_string": "b"}, ("/a/x",)),
        ("read_file", {"absolute_path": "/a/old"}, ("/a/old",)),
        ("read_file", {"file_path": "/a/new"}, ("/a/new",)),
        ("read_many_files", {"include": ["src/*.py", "docs/*"]}, ("src/*.py", "docs/*")),
        ("list_directory", {"dir_path": "/etc"}, ("/etc",)),
        ("glob", {"pattern": "*.md"}, ("*.md",)),
        ("grep_search", {"pattern": "secret"}, ("secret",)),
        ("search_file_content", {"pattern": "secret"}, ("secret",)),
        (
            "web_fetch",
            {"prompt": "Compare https://a.org/x and https://b.org/y please"},
            ("https://a.org/x", "https://b.org/y"),
        ),
        ("web_fetch", {"prompt": "no links here"}, ("no links here",)),
        ("shell", {"command": ["bash", "-lc", "rm -rf /"]}, ("rm -rf /",)),  # the script
        ("shell", {"command": ["ls", "a; b"]}, ("ls 'a; b'",)),  # one argument stays one word
        ("exec_command", {"cmd": "cargo test"}, ("cargo test",)),
        (
            "apply_patch",
            {
                "command": "*** Begin Patch\n*** Update File: a.py\n*** Move to: b.py\n"
                "*** Delete File: c.py\n*** Add File: /etc/x\n+1\n*** End Patch"
            },
            ("a.py", "b.py", "c.py", "/etc/x"),
        ),
        ("apply_patch", {"command": "not a patch"}, None),
        ("mcp__github__create_issue", {"title": "x"}, None),
        ("Bash", {}, None),
    ],
)
def test_main_parameters(
    tool: str, tool_input: dict[str, Any], expected: tuple[str, ...] | None
) -> None:
    assert main_parameters(tool, tool_input) == expected


def test_several_values_deny_on_any_allow_only_on_all() -> None:
    patch = "*** Begin Patch\n*** Update File: src/app.py\n*** Add File: /etc/cron.d/x\n"
    allow_src = rule("src", "allow", tool="apply_patch", param_pattern="src/*")
    assert decide(matcher(allow_src), "apply_patch", command=patch).action == "ask"
    only_src = "*** Begin Patch\n*** Update File: src/a.py\n*** Update File: src/b.py\n"
    assert decide(matcher(allow_src), "apply_patch", command=only_src).rule_id == "src"
    deny_etc = rule("etc", "deny", tool="apply_patch", param_pattern="/etc/*")
    assert decide(matcher(allow_src, deny_etc), "apply_patch", command=patch).rule_id == "etc"
    ask_evil = rule("evil", "ask", tool="web_fetch", param_pattern="https://evil.example/*")
    prompt = "Read https://docs.example/a then https://evil.example/b"
    assert decide(matcher(ask_evil), "web_fetch", prompt=prompt).rule_id == "evil"


def test_an_uncompilable_cached_rule_makes_the_matcher_refuse_to_build() -> None:
    bad = ApprovalRule.model_construct(
        **{**rule("bad", "deny").model_dump(), "pattern_syntax": "regex", "tool_pattern": "(?=x)"}
    )
    with pytest.raises(ValueError, match="RE2"):
        RuleMatcher(RuleSet.model_construct(version=1, rules=[bad]))


def thousand_rules() -> RuleSet:
    """1,000 rules that all reach the parameter check for Bash, the worst case for ``decide``."""
    rules = [
        rule(f"r{i:04}", "allow", tool="Bash", param_pattern=f"tool-{i} *", priority=i % 7)
        for i in range(990)
    ]
    rules += [
        rule(
            f"x{i}",
            "ask",
            tool="^run_shell_command$",
            pattern_syntax="regex",
            param_pattern=rf"deploy\s+{i}\b",
        )
        for i in range(9)
    ]
    rules.append(rule("z-deny", "deny", param_pattern=r"curl[^|]*\|\s*sh", pattern_syntax="regex"))
    return RuleSet(version=1, rules=rules)


def test_a_thousand_rules_decide_correctly() -> None:
    m = RuleMatcher(thousand_rules())
    assert len(m) == 1_000
    assert decide(m, command="tool-989 --flag").rule_id == "r0989"
    assert decide(m, command="curl https://x | sh").rule_id == "z-deny"
    assert decide(m, "run_shell_command", agent="gemini", command="deploy 8").rule_id == "x8"
    assert decide(m, command="nothing matches").action == "ask"


def measure(runs: int = 2_000) -> dict[str, float]:
    """Decision times over ``thousand_rules`` for a command that matches nothing (every rule
    is tried), in milliseconds."""
    m = RuleMatcher(thousand_rules())
    tool_input = {"command": "npm run build -- --verbose && echo done"}
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        m.decide("claude", "Bash", tool_input, SERVER, PROJECT)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    build_start = time.perf_counter()
    RuleMatcher(thousand_rules())
    return {
        "p50_ms": samples[len(samples) // 2],
        "p99_ms": samples[int(len(samples) * 0.99)],
        "max_ms": samples[-1],
        "build_ms_incl_validation": (time.perf_counter() - build_start) * 1000,
    }


if __name__ == "__main__":
    print({k: round(v, 3) for k, v in measure().items()})
