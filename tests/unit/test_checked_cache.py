"""A rule cache the daemon marked ``checked`` is matched without pydantic (``cached_rules``),
with exactly the decisions the validated rule set gives, on every request of the hook corpus;
a checked file not in the daemon's form is validated as before. The isolated hook deciding from
such a file imports neither pydantic nor bashlex for a plain command."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestratia.agent.approvals.cached_rules import (
    CachedRules,
    build_matcher,
    decide_with,
)
from orchestratia.agent.approvals.hook_formats import AGENTS, HookInputError, parse_pre_tool_use
from orchestratia.agent.approvals.light_json import dumps
from orchestratia.cli import hook_entry
from orchestratia.rules.patterns import CheckedRuleSet
from tests.unit.hook_corpus import RULES, SHELLS, hook_inputs

NOW = datetime.now(UTC)
MORE_RULES: list[dict[str, Any]] = [
    {"id": "expired", "name": "expired allow", "tool_pattern": "Bash", "param_pattern": "rm *",
     "action": "allow", "scope": "session", "scope_id": "sess-1",
     "expires_at": (NOW - timedelta(hours=1)).isoformat()},
    {"id": "later", "name": "live allow", "tool_pattern": "Bash", "param_pattern": "make lint",
     "action": "allow", "scope": "session", "scope_id": "sess-1",
     "expires_at": (NOW + timedelta(hours=1)).isoformat()},
    {"id": "off", "name": "disabled deny", "tool_pattern": "*", "action": "deny",
     "is_active": False},
    {"id": "srv", "name": "server ask", "tool_pattern": SHELLS, "pattern_syntax": "regex",
     "param_pattern": "^curl ", "action": "ask", "scope": "server", "scope_id": "srv-1"},
    {"id": "gem", "name": "gemini reads", "tool_pattern": "read_*", "action": "allow",
     "agent_filter": "gemini,codex", "priority": 5},
    {"id": "exact", "name": "exact", "tool_pattern": "Bash", "param_pattern": "echo [*]",
     "action": "allow", "priority": -3},
    {"id": "web", "name": "web", "tool_pattern": "WebFetch", "param_pattern": "https://x.test/*",
     "action": "allow", "scope": "project", "scope_id": "proj-1"},
]  # fmt: skip
EXTRA_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("Bash", {"command": "make lint"}),
    ("Bash", {"command": "rm x"}),
    ("Bash", {"command": "echo *"}),
    ("Bash", {"command": "curl -s x | sh"}),
    ("read_file", {"file_path": "/srv/app/a.py"}),
    ("read_many_files", {"include": ["a", "b"]}),
    ("WebFetch", {"url": "https://x.test/a"}),
    ("Edit", {"file_path": "/srv/app/src/a.py"}),
    ("shell", {"command": ["bash", "-lc", "ls; rm -rf /"]}),
    ("exec_command", {"cmd": "git status"}),
    ("apply_patch", {"command": "*** Update File: a.py\n"}),
]


def checked_set() -> dict[str, Any]:
    payload = {"version": 3, "rules": [*RULES, *MORE_RULES]}
    return CheckedRuleSet.model_validate(payload).model_dump(mode="json")


def requests() -> list[dict[str, Any]]:
    found = []
    for agent, data in hook_inputs():
        try:
            call = parse_pre_tool_use(agent, data)  # type: ignore[arg-type]
        except HookInputError:
            continue
        found.append({"agent": agent, "tool": call.tool_name, "tool_input": call.tool_input})
    found += [{"agent": a, "tool": t, "tool_input": i} for a in AGENTS for t, i in EXTRA_CALLS]
    ids = [("sess-1", "proj-1"), ("sess-2", None)]
    return [{**r, "session_id": s, "project_id": p} for r in found for s, p in ids]


def test_a_checked_cache_decides_as_the_validated_one() -> None:
    rule_set = checked_set()
    light, _ = build_matcher(CachedRules("srv-1", 3, rule_set, None, checked=True))
    validated, _ = build_matcher(CachedRules("srv-1", 3, rule_set, None, checked=False))
    assert light is not None and validated is not None
    assert {type(r.rule).__name__ for r in light._rules} == {"_CheckedRule"}
    assert {type(r.rule).__name__ for r in validated._rules} == {"ApprovalRule"}
    seen = set()
    for request in requests():
        verdict = decide_with(light, "", "srv-1", request)
        assert verdict == decide_with(validated, "", "srv-1", request), request
        seen.add((verdict["action"], verdict["rule_id"]))
    assert len(seen) >= 10, seen  # many different rules decided, both ways alike


def test_a_checked_cache_not_in_the_daemons_form_is_validated() -> None:
    rule_set = checked_set()
    del rule_set["rules"][0]["priority"]  # the validated path fills in the default
    rule_set["rules"][1]["agent_filter"] = "claude"  # and normalises this
    light, _ = build_matcher(CachedRules("srv-1", 3, rule_set, None, checked=True))
    assert light is not None
    assert {type(r.rule).__name__ for r in light._rules} == {"ApprovalRule"}
    bad = {**rule_set, "rules": [{**rule_set["rules"][0], "param_pattern": "(unclosed"}]}
    matcher, reason = build_matcher(CachedRules("srv-1", 3, bad, None, checked=True))
    assert matcher is None and "not a valid" in reason


def test_the_isolated_hook_imports_neither_pydantic_nor_bashlex(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    policy.mkdir(mode=0o700)
    body = {"format": 1, "server_id": "srv-1", "version": 3, "rule_set": checked_set(),
            "error": None, "checked": True}  # fmt: skip
    (policy / "rules.json").write_text(dumps(body))
    call = {"hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "ls -la | wc -l && git status"}}  # fmt: skip
    env = {"ORCHESTRATIA_SESSION_ID": "sess-1", "ORCHESTRATIA_POLICY_DIR": str(policy)}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", hook_entry.__file__, "pre-tool-use"],
        input=dumps(call).encode(), env=env, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert b'"permissionDecision": "allow"' in done.stdout, done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines()}
    assert "re2" in imported and "orchestratia.rules.matching" in imported
    assert not {"pydantic", "bashlex", "orchestratia.protocol.approvals"} & imported
