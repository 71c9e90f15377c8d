"""``orchestratia hook pre-tool-use [--agent claude|gemini|codex]``: judge one tool call.

The agent runs this before every tool call with its hook JSON on stdin (formats:
``agent.hook_formats``). We decide from the approval rules the daemon caches (SPEC §8):

- ``allow`` / ``deny`` by a rule: answered at once; a deny reason is shown to the model.
- ``ask`` (an ask rule, or no rule at all): a tool approval is raised in the hub's inbox and we
  wait up to ``ORCHESTRATIA_APPROVAL_TIMEOUT`` seconds (``tool_approval``). Approved → allow,
  denied → deny with the reviewer's reason; no answer, or no hub → the agent's own prompt
  (Claude, Gemini) or a deny (Codex, which has no prompt to fall back to). Never an allow.
- Input that is not a tool call of that agent: a deny saying why (``fail_closed``).

Every outcome is appended to the daemon's permission spool, which the daemon ships to the hub.

Speed: this runs once per tool call, so the decision path imports only cheap standard-library
modules and our light ones (no asyncio, dataclasses, pathlib, typer or pydantic, not even
``json`` or ``typing``). The daemon's ``RuleMatcher`` answers over its socket
(``agent.decision_socket``); only if it does not answer do we load the rule set ourselves
(``agent.cached_rules``: RE2, and pydantic unless the daemon marked the file checked). The
installed hook runs this through ``cli.hook_entry`` (``python -I -S``: no ``site`` at start,
see ``third_party``); ``cli.console`` reaches ``main`` without importing typer.

Outside an Orchestratia session (no ``ORCHESTRATIA_SESSION_ID``, e.g. the user's own terminal
after ``install-hooks``) there is no policy to apply: we print nothing, which every agent takes
as "no objection", so its own permission rules decide as if we were not installed.

Tool input is data: it is parsed as JSON, matched by RE2, logged; never evaluated or run.
"""

from __future__ import annotations

import os
import select
import sys
import time

from orchestratia.agent.approvals import light_json
from orchestratia.agent.approvals.decision_socket import ask_daemon
from orchestratia.agent.approvals.hook_formats import (
    AGENTS,
    MAX_HOOK_INPUT,
    HookInputError,
    HookReply,
    Record,
    fail_closed,
    parse_pre_tool_use,
    render_decision,
)
from orchestratia.agent.approvals.permission_spool import append_entry, new_entry
from orchestratia.cli.hook_entry import hook_agent

TYPE_CHECKING = False  # not typing's: see light_json
if TYPE_CHECKING:
    from typing import Any, Literal

    from orchestratia.agent.approvals.hook_formats import Agent, ToolCall
    from orchestratia.cli.agent_api import AgentOptions
    from orchestratia.protocol.approvals import DecidedBy, PermissionDecision, RuleAction

ENV_POLICY_DIR = "ORCHESTRATIA_POLICY_DIR"
ENV_SESSION_ID = "ORCHESTRATIA_SESSION_ID"
ENV_PROJECT_ID = "ORCHESTRATIA_PROJECT_ID"
STDIN_WAIT = 2.0  # an agent that never closes our stdin must not stall its own tool call
DAEMON_WAIT = 1.0  # then the cache file is quicker than waiting on a stuck daemon
UNREADABLE_TOOL = "(unreadable hook input)"


class Outcome(Record):
    """The final answer for one tool call and how it came about (for the permission log)."""

    __slots__ = ("action", "decided_by", "decision", "reason", "rule_id")

    def __init__(
        self,
        action: RuleAction,
        decision: PermissionDecision,
        decided_by: DecidedBy,
        reason: str,
        rule_id: str | None = None,
    ) -> None:
        self.action = action
        self.decision = decision
        self.decided_by = decided_by
        self.reason = reason
        self.rule_id = rule_id


def read_input(fd: int, seconds: float = STDIN_WAIT) -> bytes:
    """Stdin up to a little past ``MAX_HOOK_INPUT`` (so oversize is detectable), ending at EOF,
    at the deadline, or as soon as what arrived is one whole JSON document."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + seconds
    try:
        while size <= MAX_HOOK_INPUT:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if not select.select([fd], [], [], 0)[0] and _whole_json(b"".join(chunks)):
                break
    except (OSError, ValueError):  # no usable stdin at all: what we have is judged as is
        pass
    return b"".join(chunks)


def _whole_json(data: bytes) -> bool:
    try:
        light_json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def decide(policy_dir: str | None, request: dict[str, Any]) -> dict[str, Any]:
    """The rule verdict ``{action, rule_id, reason}``: the daemon's, else the cache file's."""
    if policy_dir is None:
        return {
            "action": "ask",
            "rule_id": None,
            "reason": "This session does not know where Orchestratia keeps its approval rules "
            f"({ENV_POLICY_DIR} is not set), so a person has to decide.",
        }
    try:
        return ask_daemon(policy_dir, request, DAEMON_WAIT)
    except (OSError, ValueError):
        pass
    third_party()
    from orchestratia.agent.approvals.cached_rules import decide_from_cache

    return decide_from_cache(policy_dir, request)


def third_party() -> None:
    """Make the interpreter's site-packages importable, as a normal start would have.

    The installed hook starts Python with ``-I -S`` (``cli.hook_entry``): no ``site`` and so
    none of the third-party packages the slower paths need (RE2, pydantic, bashlex, httpx).
    ``-I`` keeps ignoring the user's site directory and ``PYTHON*`` variables here."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def _from_rules(verdict: dict[str, Any]) -> Outcome | None:
    action, rule_id = verdict.get("action"), verdict.get("rule_id")
    reason = str(verdict.get("reason") or "")
    if action == "allow" and isinstance(rule_id, str):
        return Outcome("allow", "allowed", "rule", reason, rule_id)
    if action == "deny" and isinstance(rule_id, str):
        return Outcome("deny", "denied", "rule", reason, rule_id)
    return None  # ask, or anything unexpected: a person decides


def judge(
    agent: Agent, call: ToolCall, env: dict[str, str], options: AgentOptions | None
) -> Outcome:
    """The outcome for a parsed tool call (may wait for a person)."""
    policy_dir = env.get(ENV_POLICY_DIR) or None
    request = {
        "agent": agent,
        "tool": call.tool_name,
        "tool_input": call.tool_input,
        "session_id": env.get(ENV_SESSION_ID),
        "project_id": env.get(ENV_PROJECT_ID) or None,
    }
    try:
        verdict = decide(policy_dir, request)
    except Exception as exc:  # an unusable cache is "no rules": a person decides
        verdict = {"action": "ask", "rule_id": None, "reason": f"Rules unavailable ({exc})."}
    outcome = _from_rules(verdict)
    if outcome is not None:
        return outcome
    third_party()
    from orchestratia.cli.tool_approval import wait_for_person

    rule_id = verdict.get("rule_id")
    return wait_for_person(
        agent,
        call,
        rule_id=rule_id if isinstance(rule_id, str) else None,
        rule_reason=str(verdict.get("reason") or ""),
        env=env,
        options=options,
    )


def record(env: dict[str, str], agent: str, tool: str, tool_input: Any, outcome: Outcome) -> None:
    """Append the outcome to the permission spool; a failure is reported, never fatal."""
    if not env.get(ENV_POLICY_DIR):
        return
    entry = new_entry(
        session_id=env.get(ENV_SESSION_ID),
        project_id=env.get(ENV_PROJECT_ID) or None,
        agent=agent,
        tool=tool,
        tool_input=tool_input,
        decision=outcome.decision,
        matched_rule_id=outcome.rule_id,
        decided_by=outcome.decided_by,
        reason=outcome.reason,
    )
    try:
        append_entry(env[ENV_POLICY_DIR], entry)
    except OSError as exc:
        print(f"orchestratia: permission log not written: {exc}", file=sys.stderr)


def run(
    agent_name: str,
    stdin_fd: int = 0,
    env: dict[str, str] | None = None,
    options: AgentOptions | None = None,
) -> HookReply:
    """Read, judge, record and render one tool call. Never raises and never allows by
    accident: any failure past parsing is a deny (Codex) or the agent's own prompt."""
    env = dict(os.environ) if env is None else env
    name = agent_name.strip().lower()
    if name not in AGENTS:
        # A setup error: block in the way all three agents understand (exit 2, reason on stderr).
        message = f"orchestratia: unknown --agent {agent_name!r}; use claude, gemini or codex"
        print(message, file=sys.stderr)
        return HookReply(fail_closed("claude", ValueError(message)).stdout, exit_code=2)
    agent: Agent = name  # narrowed by the AGENTS check above
    raw = read_input(stdin_fd)
    if not env.get(ENV_SESSION_ID):
        return HookReply("")  # not an Orchestratia session: see the module docstring
    try:
        call = parse_pre_tool_use(agent, raw)
    except HookInputError as exc:
        print(f"orchestratia: refused a tool call: {exc}", file=sys.stderr)
        reply = fail_closed(agent, exc)
        denied = Outcome("deny", "denied", "default", f"Unreadable hook input: {exc}.")
        record(env, agent, UNREADABLE_TOOL, {}, denied)
        return reply
    try:
        outcome = judge(agent, call, env, options)
    except Exception as exc:  # a bug here must not let the call through
        print(f"orchestratia: hook failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        fallback: Literal["ask", "deny"] = "deny" if agent == "codex" else "ask"
        outcome = Outcome(
            fallback,
            "denied" if fallback == "deny" else "asked",
            "default",
            f"Orchestratia could not judge this call ({type(exc).__name__}); decide yourself.",
        )
    record(env, agent, call.tool_name, call.tool_input, outcome)
    return render_decision(agent, outcome.action, outcome.reason)


def emit(reply: HookReply) -> None:
    """Exactly the agent's JSON (or nothing) on stdout."""
    if reply.stdout:
        sys.stdout.write(reply.stdout + "\n")
    sys.stdout.flush()


def fast_main(args: list[str]) -> int | None:
    """``cli.console``'s way in, without typer; None for arguments only the full CLI knows
    (``--help``, the hub connection options), which then handles them."""
    agent = hook_agent(args)
    if agent is None:
        return None
    reply = run(agent)
    emit(reply)
    return reply.exit_code
