"""Approval rule and permission log shapes: RE2 validation at the edge, glob semantics, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from orchestratia.protocol.approvals import (
    MAX_PATTERN,
    ApprovalRuleUpdate,
    PermissionDecisionEntry,
    PermissionLogBatch,
    RuleSet,
    clip_tool_input,
)
from orchestratia.rules.patterns import (
    CheckedRule,
    CheckedRuleCreate,
    CheckedRuleSet,
    compile_pattern,
    escape_glob,
    glob_to_re2,
)


def rule(**fields: Any) -> CheckedRule:
    base: dict[str, Any] = {"id": "r1", "name": "n", "tool_pattern": "Bash", "action": "deny"}
    return CheckedRule.model_validate({**base, **fields})


def error_fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [e["loc"] for e in exc.value.errors()]


def test_defaults_are_a_tenant_glob_rule() -> None:
    r = rule()
    assert (r.pattern_syntax, r.scope, r.is_active, r.priority) == ("glob", "tenant", True, 0)
    assert r.param_pattern is None and r.agent_filter is None


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?=rm)", r"(?<!x)y", r"a{2000}", r"\Z", r"[z-a]", "(unclosed"],
)
def test_regex_refused_by_re2_names_the_field(pattern: str) -> None:
    with pytest.raises(ValidationError) as exc:
        rule(pattern_syntax="regex", param_pattern=pattern)
    assert error_fields(exc) == [("param_pattern",)]
    assert "RE2" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        rule(pattern_syntax="regex", tool_pattern=pattern)
    assert error_fields(exc) == [("tool_pattern",)]


def test_a_backtracking_bomb_is_accepted_because_re2_runs_it_in_linear_time() -> None:
    r = rule(pattern_syntax="regex", param_pattern=r"^(a+)+$")
    assert r.param_pattern is not None
    compiled = compile_pattern(r.param_pattern, "regex")
    assert compiled.search("a" * 100_000 + "b") is None


def test_bad_glob_and_long_patterns_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        rule(param_pattern="file[z-a]")
    assert error_fields(exc) == [("param_pattern",)]
    with pytest.raises(ValidationError):
        rule(tool_pattern="x" * (MAX_PATTERN + 1))
    with pytest.raises(ValidationError):
        rule(param_pattern="")


async def test_regex_error_is_a_422_naming_the_field() -> None:
    app = FastAPI()

    @app.post("/rules")
    def create(body: CheckedRuleCreate) -> dict[str, str]:
        return {"name": body.name}

    body = {
        "name": "x",
        "tool_pattern": "Bash",
        "pattern_syntax": "regex",
        "param_pattern": "(?=x)",
        "action": "deny",
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        reply = await client.post("/rules", json=body)
    assert reply.status_code == 422
    [detail] = reply.json()["detail"]
    assert detail["loc"] == ["body", "param_pattern"]
    assert "RE2" in detail["msg"]


def test_scope_id_is_required_below_the_tenant() -> None:
    assert rule(scope="project", scope_id="p1").scope_id == "p1"
    assert rule(scope="tenant", scope_id="t1").scope_id == "t1"  # allowed, never consulted
    for scope in ("project", "server"):
        with pytest.raises(ValidationError, match="scope_id"):
            rule(scope=scope)


def test_agent_filter_accepts_a_list_or_a_comma_separated_string() -> None:
    assert rule(agent_filter="Claude, codex").agent_filter == ["claude", "codex"]
    assert rule(agent_filter=["gemini"]).agent_filter == ["gemini"]
    assert rule(agent_filter="").agent_filter is None
    assert rule(agent_filter=[]).agent_filter is None
    with pytest.raises(ValidationError):
        rule(agent_filter=["rm -rf"])
    with pytest.raises(ValidationError):
        rule(agent_filter=[3])


def test_bodies_are_strict() -> None:
    with pytest.raises(ValidationError, match="extra"):
        rule(condition="only on weekdays")
    with pytest.raises(ValidationError, match="NUL"):
        rule(name="a\x00b")
    with pytest.raises(ValidationError):
        rule(action="maybe")


def test_update_is_revalidated_against_the_merged_rule() -> None:
    current = rule(pattern_syntax="regex", param_pattern=r"rm\s+-rf")
    with pytest.raises(ValidationError) as exc:
        ApprovalRuleUpdate(param_pattern=r"(?=x)").merged(current)
    assert error_fields(exc) == [("param_pattern",)]
    as_glob = ApprovalRuleUpdate(pattern_syntax="glob", param_pattern="rm -rf *").merged(current)
    assert (as_glob.pattern_syntax, as_glob.param_pattern) == ("glob", "rm -rf *")
    cleared = ApprovalRuleUpdate.model_validate({"param_pattern": None}).merged(current)
    assert cleared.param_pattern is None
    untouched = ApprovalRuleUpdate(priority=5).merged(current)
    assert (untouched.param_pattern, untouched.priority) == (r"rm\s+-rf", 5)
    with pytest.raises(ValidationError):
        ApprovalRuleUpdate.model_validate({"name": None}).merged(current)
    with pytest.raises(ValidationError):
        ApprovalRuleUpdate.model_validate({"id": "other"})


def test_rule_set_round_trips_as_json() -> None:
    rules = CheckedRuleSet(
        version=3, rules=[rule(), rule(id="r2", action="allow", agent_filter="claude")]
    )
    assert CheckedRuleSet.model_validate_json(rules.model_dump_json()) == rules
    as_shape = RuleSet.model_validate_json(rules.model_dump_json())
    assert as_shape.model_dump_json() == rules.model_dump_json()
    with pytest.raises(ValidationError):
        RuleSet(version=-1)


def test_a_rule_set_with_a_pattern_re2_refuses_is_invalid_only_when_checked() -> None:
    payload = {"version": 1, "rules": [rule().model_dump() | {"param_pattern": "file[z-a]"}]}
    assert RuleSet.model_validate(payload).rules[0].param_pattern == "file[z-a]"  # a shape
    with pytest.raises(ValidationError) as exc:
        CheckedRuleSet.model_validate(payload)
    assert error_fields(exc) == [("rules", 0, "param_pattern")]


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("git status*", "git status --short", True),
        ("git status*", "sudo git status", False),  # anchored: the whole text must match
        ("*", "", True),
        ("/srv/*", "/srv/app/deep/file.py", True),  # * crosses /
        ("echo *", "echo a\nb", True),  # and newlines
        ("Bash", "bash", False),  # case-sensitive
        ("Bas?", "Bash", True),
        ("file.[ch]", "file.c", True),
        ("file.[!ch]", "file.c", False),
        ("file.[!ch]", "file.o", True),
        ("x[]]y", "x]y", True),
        ("x[!]]y", "xay", True),
        ("a[b", "a[b", True),  # unterminated class: literal
        ("a.b", "axb", False),  # regex metacharacters are literal
        ("a+(b)|c", "a+(b)|c", True),
        ("[^x]", "^", True),
        ("C:\\dir\\*", "C:\\dir\\f", True),
        ("mcp__*__delete*", "mcp__github__delete_repo", True),
    ],
)
def test_glob_semantics(pattern: str, text: str, matches: bool) -> None:
    assert (compile_pattern(pattern, "glob").search(text) is not None) is matches


def test_glob_translation_is_anchored_and_dot_all() -> None:
    assert glob_to_re2("a**b") == "(?s)\\A(?:a.*b)\\z"


@pytest.mark.parametrize(
    "text", ["ls *.py", "a?b", "[x]", "[!x]", "**", "\\*", "]", "rm -rf /tmp/[a-z]*\nok", ""]
)
def test_escape_glob_matches_exactly_the_text(text: str) -> None:
    pattern = compile_pattern(escape_glob(text), "glob")
    assert pattern.search(text) is not None
    assert pattern.search(text + "x") is None
    assert pattern.search("x" + text) is None
    if "*" in text:
        assert pattern.search(text.replace("*", "anything")) is None


def test_regex_is_searched_unanchored_and_case_sensitive() -> None:
    pattern = compile_pattern(r"rm\s+-(rf|fr)\b", "regex")
    assert pattern.search("sudo rm  -fr /") is not None
    assert pattern.search("RM -rf /") is None
    assert compile_pattern("^git status$", "regex").search("git status; rm -rf ~") is None
    assert compile_pattern("a.b", "regex").search("a\nb") is None  # "." stops at a newline


def entry(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "e1",
        "session_id": "s1",
        "project_id": "p1",
        "agent": "claude",
        "tool": "Bash",
        "tool_input": {"command": "ls"},
        "decision": "denied",
        "matched_rule_id": "r1",
        "decided_by": "rule",
        "reason": "Blocked",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
    }
    return {**base, **fields}


def test_permission_entries_and_batches() -> None:
    batch = PermissionLogBatch.model_validate({"entries": [entry(), entry(id="e2")]})
    assert [e.id for e in batch.entries] == ["e1", "e2"]
    asked = PermissionDecisionEntry.model_validate(
        entry(decision="asked", decided_by="default", matched_rule_id=None)
    )
    assert asked.matched_rule_id is None
    with pytest.raises(ValidationError, match="matched_rule_id"):
        PermissionDecisionEntry.model_validate(entry(matched_rule_id=None))
    with pytest.raises(ValidationError):
        PermissionDecisionEntry.model_validate(entry(decided_by="magic"))
    with pytest.raises(ValidationError, match="larger"):
        PermissionDecisionEntry.model_validate(entry(tool_input={"command": "x" * 20_000}))
    with pytest.raises(ValidationError):
        PermissionLogBatch.model_validate({"entries": []})


def test_clip_tool_input_bounds_what_reaches_the_log() -> None:
    clipped = clip_tool_input(
        {"command": "x" * 5_000, "list": list(range(100)), "deep": {"a": {"b": {"c": {"d": 1}}}}}
    )
    assert clipped["command"] == "x" * 2_000 + "… [3000 more characters]"
    assert clipped["list"] == list(range(50))
    assert clipped["deep"] == {"a": {"b": {"c": "…"}}}
    assert clip_tool_input({"n": None, "b": True, "f": 1.5, "o": object}) == {
        "n": None,
        "b": True,
        "f": 1.5,
        "o": "<class 'object'>",
    }
    odd = clip_tool_input({"cmd\x00": "rm \x00 \ud800 é", "small": "ok"})
    assert odd == {"cmd\ufffd": "rm \ufffd ? é", "small": "ok"}


@pytest.mark.parametrize(
    "tool_input",
    [
        {"command": "y" * 999_999},
        {f"k{i}": "z" * 1_000 for i in range(200)},
        {"files": [{"path": "p" * 500, "edits": ["e" * 500] * 60}] * 60},
        {"\x00" * 300: ["\ud800" * 300] * 100},
    ],
)
def test_clipped_input_is_always_a_valid_log_entry(tool_input: dict[str, Any]) -> None:
    PermissionDecisionEntry.model_validate(entry(tool_input=clip_tool_input(tool_input)))


def test_nul_in_logged_tool_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        PermissionDecisionEntry.model_validate(entry(tool_input={"a": [{"b": "x\x00"}]}))
    PermissionDecisionEntry.model_validate(entry(tool_input={"a": "literal \\u0000 is fine"}))
