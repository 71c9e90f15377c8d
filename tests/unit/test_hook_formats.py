"""Pre-tool-use hook wire formats: recorded-style inputs for each agent, decided by a small rule
set and rendered in that agent's documented answer; hostile input fails closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orchestratia.agent.approvals.hook_formats import (
    EVENT,
    MAX_HOOK_INPUT,
    MAX_REASON,
    HookInputError,
    HookReply,
    fail_closed,
    parse_pre_tool_use,
    render_decision,
)
from orchestratia.protocol.approvals import ApprovalRule, RuleSet
from orchestratia.rules.matching import RuleMatcher

if TYPE_CHECKING:
    from orchestratia.agent.approvals.hook_formats import Agent

SAMPLES = Path(__file__).parent / "hook_samples" / "pretooluse"
SHELLS = "^(Bash|run_shell_command)$"
RULES = RuleSet(
    version=1,
    rules=[
        ApprovalRule.model_validate(r)
        for r in [
            {
                "id": "no-rm",
                "name": "no rm -rf",
                "tool_pattern": SHELLS,
                "pattern_syntax": "regex",
                "param_pattern": r"\brm\s+-(rf|fr)\b",
                "action": "deny",
            },
            {
                "id": "no-subst",
                "name": "no command substitution",
                "tool_pattern": SHELLS,
                "pattern_syntax": "regex",
                "param_pattern": r"\$\(|`",
                "action": "deny",
            },
            {
                "id": "git-status",
                "name": "git status",
                "tool_pattern": "Bash",
                "param_pattern": "git status*",
                "action": "allow",
            },
            {
                "id": "edit-src",
                "name": "edit src",
                "tool_pattern": "Edit",
                "param_pattern": "/srv/app/src/*",
                "action": "allow",
                "agent_filter": "claude",
            },
            {
                "id": "read-app",
                "name": "read app",
                "tool_pattern": "read_file",
                "param_pattern": "/srv/app/*",
                "action": "allow",
                "scope": "project",
                "scope_id": "proj-1",
            },
            {
                "id": "patch-src",
                "name": "patch src",
                "tool_pattern": "apply_patch",
                "param_pattern": "src/*",
                "action": "allow",
            },
        ]
    ],
)
MATCHER = RuleMatcher(RULES)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def run_hook(agent: Agent, raw: bytes) -> HookReply:
    """What ``orchestratia hook pre-tool-use`` will do, minus the inbox and the log."""
    try:
        call = parse_pre_tool_use(agent, raw)
    except HookInputError as exc:
        return fail_closed(agent, exc)
    verdict = MATCHER.decide(agent, call.tool_name, call.tool_input, "srv-1", "proj-1")
    return render_decision(agent, verdict.action, verdict.reason)


def claude_answer(reply: HookReply) -> dict[str, Any]:
    assert reply.exit_code == 0
    body = json.loads(reply.stdout)
    assert list(body) == ["hookSpecificOutput"]
    out: dict[str, Any] = body["hookSpecificOutput"]
    assert set(out) == {"hookEventName", "permissionDecision", "permissionDecisionReason"}
    assert out["hookEventName"] == "PreToolUse"
    return out


@pytest.mark.parametrize(
    ("name", "decision", "rule"),
    [
        ("claude_allow_git_status.json", "allow", "git status"),
        ("claude_allow_edit.json", "allow", "edit src"),
        ("claude_deny_rm_rf.json", "deny", "no rm -rf"),
        ("claude_ask_webfetch.json", "ask", None),
        ("claude_hostile_chained_command.json", "deny", "no rm -rf"),
    ],
)
def test_claude_samples(name: str, decision: str, rule: str | None) -> None:
    out = claude_answer(run_hook("claude", sample(name)))
    assert out["permissionDecision"] == decision
    if rule:
        assert f'"{rule}"' in out["permissionDecisionReason"]
    else:
        assert "No approval rule matches" in out["permissionDecisionReason"]


def test_gemini_samples() -> None:
    allow = json.loads(run_hook("gemini", sample("gemini_allow_read_file.json")).stdout)
    assert allow == {"decision": "allow"}
    deny = json.loads(run_hook("gemini", sample("gemini_deny_rm_rf.json")).stdout)
    assert deny["decision"] == "deny" and '"no rm -rf"' in deny["reason"]
    assert set(deny) == {"decision", "reason"}
    ask = json.loads(run_hook("gemini", sample("gemini_ask_web_fetch.json")).stdout)
    assert ask["decision"] == "ask"
    assert ask["reason"] == ask["systemMessage"]


def test_codex_samples() -> None:
    assert run_hook("codex", sample("codex_allow_bash.json")) == HookReply("", 0)
    deny = claude_answer(run_hook("codex", sample("codex_deny_bash.json")))
    assert (
        deny["permissionDecision"] == "deny" and '"no rm -rf"' in deny["permissionDecisionReason"]
    )
    # The patch also adds /etc/cron.d/app, so "patch src" cannot allow it: ask, which Codex
    # cannot show, so it is refused rather than left to run.
    ask = claude_answer(run_hook("codex", sample("codex_ask_apply_patch.json")))
    assert ask["permissionDecision"] == "deny"
    assert ask["permissionDecisionReason"].startswith("Needs a person's approval")


def test_parsed_fields() -> None:
    call = parse_pre_tool_use("codex", sample("codex_ask_apply_patch.json"))
    assert (call.agent, call.tool_name, call.session_id, call.cwd, call.tool_use_id) == (
        "codex",
        "apply_patch",
        "019a4c2e-7d10-7b3a-9e55-4f0c6a2d8e71",
        "/srv/app",
        "call_Zx83",
    )
    assert call.tool_input["command"].startswith("*** Begin Patch")
    hostile = parse_pre_tool_use("claude", sample("claude_hostile_chained_command.json"))
    assert "'''" in hostile.tool_input["command"] and "`id`" in hostile.tool_input["command"]
    assert parse_pre_tool_use("gemini", sample("gemini_ask_web_fetch.json")).tool_use_id is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("hostile_duplicate_tool_name.json", "repeats the key 'tool_name'"),
        ("hostile_missing_tool_name.json", "no tool_name"),
        ("hostile_tool_name_number.json", "no tool_name"),
        ("hostile_tool_input_string.json", "'tool_input' must be a JSON object"),
        ("hostile_wrong_event.json", "expected a PreToolUse hook"),
        ("hostile_invalid_json.txt", "not valid JSON"),
        ("hostile_not_json.txt", "not valid JSON"),
    ],
)
@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_hostile_input_fails_closed(name: str, message: str, agent: Agent) -> None:
    with pytest.raises(HookInputError, match=message):
        parse_pre_tool_use(agent, sample(name))
    out = claude_answer(run_hook(agent, sample(name)))
    assert out["permissionDecision"] == "deny"
    assert out["permissionDecisionReason"].startswith("Orchestratia could not check this tool")
    assert message.split("'")[0].strip() in out["permissionDecisionReason"]


def test_gemini_fails_closed_too() -> None:
    reply = json.loads(run_hook("gemini", sample("hostile_not_json.txt")).stdout)
    assert reply["decision"] == "deny" and "not valid JSON" in reply["reason"]
    # A Claude PreToolUse payload is not a Gemini BeforeTool one, and the reverse.
    assert "expected a BeforeTool" in run_hook("gemini", sample("claude_deny_rm_rf.json")).stdout
    wrong = claude_answer(run_hook("claude", sample("gemini_allow_read_file.json")))
    assert wrong["permissionDecision"] == "deny"


def test_lone_surrogate_is_data_not_a_crash() -> None:
    out = claude_answer(run_hook("claude", sample("hostile_lone_surrogate.json")))
    assert out["permissionDecision"] == "deny"  # "rm -rf" still matches around it


def valid(command: str = "ls", **extra: Any) -> dict[str, Any]:
    return {
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command},
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (json.dumps(valid(session_id=7)).encode(), "'session_id' must be a string"),
        (json.dumps(valid(cwd=["/"])).encode(), "'cwd' must be a string"),
        (json.dumps({**valid(), "tool_name": "  "}).encode(), "no tool_name"),
        (json.dumps({**valid(), "tool_name": "x" * 300}).encode(), "longer than 256"),
        (json.dumps({**valid(), "tool_input": None}).encode(), "must be a JSON object"),
        (json.dumps({"tool_name": "Bash", "tool_input": {}}).encode(), "hook_event_name None"),
        (json.dumps(valid("x" * MAX_HOOK_INPUT)).encode(), "larger than"),
    ],
)
def test_malformed_input(raw: bytes, message: str) -> None:
    with pytest.raises(HookInputError, match=message):
        parse_pre_tool_use("claude", raw)


def test_str_input_and_quotes_newlines_are_just_strings() -> None:
    command = "echo \"'''\" $(whoami) `date`\nprintf '%s' \"\\\"\""
    call = parse_pre_tool_use("claude", json.dumps(valid(command, session_id="s")))
    assert call.tool_input == {"command": command}
    verdict = MATCHER.decide("claude", call.tool_name, call.tool_input, "srv-1", "proj-1")
    assert verdict.rule_id == "no-subst"


def test_unknown_agent() -> None:
    with pytest.raises(HookInputError, match="unknown agent"):
        parse_pre_tool_use("aider", b"{}")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown agent"):
        render_decision("aider", "deny", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("agent", ["claude", "gemini", "codex"])
@pytest.mark.parametrize("action", ["allow", "deny", "ask"])
def test_every_reply_is_one_line_of_ascii_json_or_nothing(agent: Agent, action: str) -> None:
    reason = "multi\nline\t" + "é\ud800" + "r" * 5_000
    reply = render_decision(agent, action, reason)  # type: ignore[arg-type]
    assert reply.exit_code == 0
    if reply.stdout == "":
        assert (agent, action) == ("codex", "allow")
        return
    assert "\n" not in reply.stdout and reply.stdout.isascii()
    body = json.loads(reply.stdout)
    text = body.get("reason") or body.get("hookSpecificOutput", {}).get("permissionDecisionReason")
    if text is not None:
        assert (
            len(text) <= MAX_REASON
            and "\n" not in text
            and text.startswith(("multi line", "Needs a person's approval"))
        )


def test_expected_events() -> None:
    assert EVENT == {"claude": "PreToolUse", "gemini": "BeforeTool", "codex": "PreToolUse"}
