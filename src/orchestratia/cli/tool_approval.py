"""The ``ask`` path of the pre-tool-use hook: a tool approval in the hub's inbox, then a wait.

``POST /api/v1/server/approvals`` with the session's token raises the approval; ``GET
approvals/{id}?wait=…`` long-polls for the decision (docs/approvals.md). We wait at most
``ORCHESTRATIA_APPROVAL_TIMEOUT`` seconds (default 120, at most ``MAX_APPROVAL_TIMEOUT``).

Whatever goes wrong — no answer in time, the hub unreachable or refusing, the agent sending
SIGTERM because its own hook timeout ran out — the result is the agent's own prompt (``ask``;
``render_decision`` turns that into a deny for Codex). Only an explicit approval allows.

Loaded only when a call needs a person, so it may import httpx and pydantic.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from orchestratia.cli.agent_api import AgentApi, AgentApiError, AgentOptions, resolve_config
from orchestratia.cli.pre_tool_use import ENV_SESSION_ID, Outcome

if TYPE_CHECKING:
    from orchestratia.agent.approvals.hook_formats import Agent, ToolCall

ENV_APPROVAL_TIMEOUT = "ORCHESTRATIA_APPROVAL_TIMEOUT"
DEFAULT_APPROVAL_TIMEOUT = 120.0
# install_hooks gives the hook HOOK_TIMEOUT (300 s) before the agent kills it, and a killed
# hook is "no objection" to Claude and Gemini; ending well before that keeps us fail-closed.
MAX_APPROVAL_TIMEOUT = 270.0
POLL_WAIT = 25  # seconds per long-poll, as the hub allows
HTTP_MARGIN = 10.0  # on top of the long-poll wait before a request counts as hung
RETRY_PAUSE = 1.0


class _Stopped(Exception):
    """The agent asked us to stop (SIGTERM/SIGINT): answer with the fallback at once."""


def approval_timeout(env: dict[str, str]) -> float:
    raw = env.get(ENV_APPROVAL_TIMEOUT, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_APPROVAL_TIMEOUT
    except ValueError:
        value = DEFAULT_APPROVAL_TIMEOUT
    if not math.isfinite(value) or value < 0:
        value = DEFAULT_APPROVAL_TIMEOUT
    return min(value, MAX_APPROVAL_TIMEOUT)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signal.Signals(signum).name)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, stop)
    except ValueError:  # not the main thread (an embedding caller): no handlers, no harm
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fallback(agent: Agent, decided_by: Any, reason: str, rule_id: str | None) -> Outcome:
    if agent == "codex":  # no prompt to fall back to: the call is refused
        return Outcome("ask", "denied", decided_by, reason, rule_id)
    return Outcome("ask", "asked", decided_by, reason, rule_id)


def _decided(reply: Any, rule_id: str | None) -> Outcome | None:
    """The outcome in a GET reply, or None while the approval is still pending."""
    status = reply.get("status") if isinstance(reply, dict) else None
    who = str(reply.get("decided_by") or "a reviewer") if isinstance(reply, dict) else ""
    said = " ".join(str(reply.get("reason") or "").split()) if isinstance(reply, dict) else ""
    phrased = bool(said) and who in said  # the hub's own default already names the person
    if status == "approved":
        reason = said if phrased else f"Approved in the Orchestratia inbox by {who}. {said}"
        return Outcome("allow", "allowed", "user", reason.strip(), rule_id)
    if status == "denied":
        why = (
            said
            if phrased
            else f"Denied in the Orchestratia inbox by {who}: {said or 'no reason'}."
        )
        reason = f"{why} Do not retry this call; choose another approach or ask."
        return Outcome("deny", "denied", "user", reason, rule_id)
    if status in ("pending", None):  # None: a creation reply that only gave the id
        return None
    raise AgentApiError(f"the hub reported approval status {status!r}")


def _request_body(agent: Agent, call: ToolCall, session_id: str | None, rule_id: str | None,
                  reason: str, timeout: float) -> dict[str, Any]:  # fmt: skip
    from orchestratia.agent.approvals.permission_shipping import redact_value
    from orchestratia.protocol.approvals import clip_tool_input

    body: dict[str, Any] = {
        "agent": agent,
        "tool": call.tool_name,
        "tool_input": clip_tool_input(redact_value(dict(call.tool_input), ())),
        "reason": reason[:2_000],
        "wait_seconds": max(1, math.ceil(timeout)),
    }
    if session_id:
        body["session_id"] = session_id
    if rule_id:
        body["rule_id"] = rule_id
    return body


def wait_for_person(
    agent: Agent,
    call: ToolCall,
    *,
    rule_id: str | None,
    rule_reason: str,
    env: dict[str, str],
    options: AgentOptions | None = None,
) -> Outcome:
    """Raise a tool approval and wait for it; see the module docstring for every outcome."""
    timeout = approval_timeout(env)
    deadline = time.monotonic() + timeout
    try:
        config = resolve_config(
            replace(options or AgentOptions(), timeout=POLL_WAIT + HTTP_MARGIN), env
        )
    except AgentApiError as exc:
        why = f"Orchestratia cannot ask for approval ({exc}). {rule_reason}"
        return _fallback(agent, "default", why, rule_id)
    try:
        with (
            _stop_on_signals(),
            AgentApi(config, transport=options.transport if options else None) as api,
        ):
            return _ask_and_wait(agent, call, api, env, rule_id, rule_reason, deadline, timeout)
    except _Stopped as exc:
        why = f"The approval wait was interrupted ({exc}). {rule_reason}"
        return _fallback(agent, "timeout", why, rule_id)


def _ask_and_wait(
    agent: Agent,
    call: ToolCall,
    api: AgentApi,
    env: dict[str, str],
    rule_id: str | None,
    rule_reason: str,
    deadline: float,
    timeout: float,
) -> Outcome:
    body = _request_body(agent, call, env.get(ENV_SESSION_ID), rule_id, rule_reason, timeout)
    try:
        created = api.call("POST", "approvals", body=body)
        approval_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(approval_id, str) or not approval_id:
            raise AgentApiError("the hub's reply has no approval id")
        outcome = _decided(created, rule_id)  # a hub may decide at once (a rule changed)
    except AgentApiError as exc:
        why = f"Orchestratia could not reach the hub to ask for approval ({exc}). {rule_reason}"
        return _fallback(agent, "default", why, rule_id)
    last_error: AgentApiError | None = None
    while outcome is None:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = max(1, min(POLL_WAIT, math.ceil(left)))
        try:
            reply = api.call("GET", f"approvals/{approval_id}", {"wait": str(wait)})
            if isinstance(reply, dict) and reply.get("status") == "expired":
                break
            outcome = _decided(reply, rule_id)
            last_error = None
        except AgentApiError as exc:  # keep trying until the deadline: the hub may come back
            last_error = exc
            time.sleep(min(RETRY_PAUSE, max(0.0, deadline - time.monotonic())))
    if outcome is not None:
        return outcome
    if last_error is not None:
        why = f"Orchestratia lost the hub while waiting for approval ({last_error}). {rule_reason}"
        return _fallback(agent, "default", why, rule_id)
    why = f"No decision in the Orchestratia inbox within {timeout:g} s. {rule_reason}"
    return _fallback(agent, "timeout", why, rule_id)
