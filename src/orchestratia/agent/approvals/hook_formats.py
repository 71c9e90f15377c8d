"""Each agent's pre-tool-use hook on the wire: parse its stdin JSON, render our answer.

Checked against each agent's documentation:

- Claude Code (https://code.claude.com/docs/en/hooks, "PreToolUse"): stdin holds session_id,
  transcript_path, cwd, permission_mode, hook_event_name "PreToolUse", tool_name, tool_input,
  tool_use_id. We answer on stdout with exit 0 and
  ``{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision":
  "allow"|"deny"|"ask", "permissionDecisionReason": "..."}}``; a deny reason is shown to the
  model, an ask reason to the user in Claude's own prompt.
- Gemini CLI (https://geminicli.com/docs/hooks/reference, "BeforeTool"): stdin holds
  session_id, transcript_path, cwd, hook_event_name "BeforeTool", timestamp, tool_name,
  tool_input (and mcp_context for MCP tools). We answer ``{"decision": "deny", "reason": ...}``
  (the reason goes to the model as the tool error) or ``{"decision": "allow"}``. ``ask`` is
  ``{"decision": "ask", ...}``: undocumented on the site but part of ``HookDecision`` in
  packages/core/src/hooks/types.ts, and the scheduler turns it into Gemini's own confirmation
  prompt even in YOLO mode. Gemini builds that fired BeforeTool *after* confirmation ignore it.
- Codex (https://developers.openai.com/codex/hooks; codex-rs/hooks/schema/generated/
  pre-tool-use.command.input.schema.json and events/pre_tool_use.rs): stdin holds session_id,
  turn_id, transcript_path (nullable), cwd, hook_event_name "PreToolUse", model,
  permission_mode, tool_name ("Bash", "apply_patch", "mcp__server__tool"), tool_input,
  tool_use_id. Only ``permissionDecision: "deny"`` (in the Claude-shaped hookSpecificOutput)
  is honoured; Codex reports "allow" (without updatedInput) and "ask" as unsupported and runs
  the tool anyway. So allow prints nothing (Codex's own approval policy still applies), and ask
  - which Codex cannot show - is rendered as a deny: failing closed. Hooks need
  ``[features] codex_hooks = true`` in ~/.codex/config.toml on the releases that gate them;
  later releases enable hooks by default and call the key ``hooks``, keeping ``codex_hooks`` as
  an alias, so ``codex_hooks = true`` works on both.

Input that is not what the agent documents (bad JSON, wrong types, duplicate keys, no tool name,
too large) raises ``HookInputError``; ``fail_closed`` renders it as a deny with a clear reason.
Tool input is returned as parsed JSON data and never interpreted here.
"""

from __future__ import annotations

from orchestratia.agent.approvals import light_json

# Plain classes, not NamedTuples or dataclasses, and types only for type checking: the hook's
# fast path imports this module, and ``typing``, ``collections``, ``dataclasses`` or pydantic
# would each cost it several ms (``cli.hook_entry``). ``TYPE_CHECKING`` is a local constant
# for the same reason; mypy treats any name so called as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal

    from orchestratia.protocol.approvals import RuleAction

    Agent = Literal["claude", "gemini", "codex"]

AGENTS: tuple[Agent, ...] = ("claude", "gemini", "codex")
EVENT: dict[Agent, str] = {"claude": "PreToolUse", "gemini": "BeforeTool", "codex": "PreToolUse"}
CODEX_FEATURE_FLAG = ("features", "codex_hooks")  # [features] codex_hooks = true
MAX_HOOK_INPUT = 1_000_000  # bytes; a larger tool call is refused rather than half-read
MAX_TOOL_NAME = 256
MAX_REASON = 1_000


class HookInputError(ValueError):
    """The hook's stdin is not a tool call we can judge; the message says why, in plain words."""


class Record:
    """Equality and repr by the ``__slots__`` fields, as a NamedTuple would compare."""

    __slots__: tuple[str, ...] = ()

    def fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Record)
            and type(other) is type(self)
            and (self.fields() == other.fields())
        )

    def __hash__(self) -> int:
        return hash(self.fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({inner})"


class ToolCall(Record):
    """The parts of a hook's stdin the decision needs; ``tool_input`` is untouched JSON data."""

    __slots__ = ("agent", "cwd", "session_id", "tool_input", "tool_name", "tool_use_id")

    def __init__(
        self,
        agent: Agent,
        tool_name: str,
        tool_input: Mapping[str, Any],
        session_id: str | None,
        cwd: str | None,
        tool_use_id: str | None,
    ) -> None:
        self.agent = agent
        self.tool_name = tool_name
        self.tool_input = tool_input
        self.session_id = session_id
        self.cwd = cwd
        self.tool_use_id = tool_use_id


class HookReply(Record):
    """What the hook process prints on stdout and the code it exits with."""

    __slots__ = ("exit_code", "stdout")

    def __init__(self, stdout: str, exit_code: int = 0) -> None:
        self.stdout = stdout
        self.exit_code = exit_code


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "tool_name" keys could be read differently by the agent and by us: refuse them.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise HookInputError(f"hook input repeats the key {key!r}")
        result[key] = value
    return result


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise HookInputError(f"hook input field {key!r} must be a string")
    return value


def parse_pre_tool_use(agent: Agent, raw: str | bytes) -> ToolCall:
    """The tool call in ``agent``'s hook stdin; raises ``HookInputError`` for anything else."""
    if agent not in AGENTS:
        raise HookInputError(f"unknown agent {agent!r}")
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > MAX_HOOK_INPUT:
        raise HookInputError(f"hook input is larger than {MAX_HOOK_INPUT} bytes")
    try:
        parsed = light_json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except HookInputError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HookInputError(f"hook input is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(parsed, dict):
        raise HookInputError("hook input must be a JSON object")
    event = parsed.get("hook_event_name")
    if event != EVENT[agent]:
        raise HookInputError(
            f"expected a {EVENT[agent]} hook from {agent}, got hook_event_name {event!r:.80}"
        )
    tool_name = parsed.get("tool_name")
    if not isinstance(tool_name, str) or not tool_name.strip():
        raise HookInputError("hook input has no tool_name")
    if len(tool_name) > MAX_TOOL_NAME:
        raise HookInputError(f"tool_name is longer than {MAX_TOOL_NAME} characters")
    tool_input = parsed.get("tool_input")
    if not isinstance(tool_input, dict):
        raise HookInputError("hook input field 'tool_input' must be a JSON object")
    return ToolCall(
        agent=agent,
        tool_name=tool_name,
        tool_input=tool_input,
        session_id=_optional_str(parsed, "session_id"),
        cwd=_optional_str(parsed, "cwd"),
        tool_use_id=_optional_str(parsed, "tool_use_id"),
    )


def _clean_reason(reason: str) -> str:
    text = " ".join(reason.split()) or "No reason given."
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _claude_shape(action: RuleAction, reason: str) -> str:
    return light_json.dumps(
        {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": action,
                "permissionDecisionReason": reason,
            }
        }
    )


def render_decision(agent: Agent, action: RuleAction, reason: str) -> HookReply:
    """Our decision in ``agent``'s documented output format (see the module docstring)."""
    reason = _clean_reason(reason)
    if agent == "claude":
        return HookReply(_claude_shape(action, reason))
    if agent == "gemini":
        if action == "allow":
            return HookReply(light_json.dumps({"decision": "allow"}))
        body = {"decision": action, "reason": reason}
        if action == "ask":
            body["systemMessage"] = reason  # shown to the user next to Gemini's prompt
        return HookReply(light_json.dumps(body))
    if agent == "codex":
        if action == "allow":
            return HookReply("")  # no objection; Codex's own approval policy still applies
        if action == "ask":
            reason = _clean_reason(
                f"Needs a person's approval, which Codex cannot ask for: {reason}"
            )
        return HookReply(_claude_shape("deny", reason))
    raise ValueError(f"unknown agent {agent!r}")


def fail_closed(agent: Agent, error: Exception) -> HookReply:
    """A deny for input we could not judge: never an allow, and the reason says why."""
    return render_decision(
        agent,
        "deny",
        f"Orchestratia could not check this tool call, so it was not run: {error}.",
    )
