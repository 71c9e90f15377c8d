"""The approval-rule cache file, and decisions made from it (SPEC §8).

The daemon writes it (``rule_cache.RuleCache``) as ``<policy dir>/rules.json``: ``{"format": 1,
"server_id", "version", "fetched_at", "rule_set": RuleSet | null, "error": str | null}``;
``server_id`` is there because server-scoped rules need it and the hook cannot read the daemon's
config cheaply. A set this daemon could not use is cached with ``rule_set`` null and the reason.

``checked`` (true when the daemon wrote ``rule_set`` from a ``CheckedRuleSet``: every rule
validated and every pattern compiled once already, every field in its normal form) lets the
matcher be built from the JSON fields as they are, without pydantic: what a pre-tool-use hook
needs when the daemon does not answer. A file without it (an earlier daemon, a hand-written
one) is validated as before, and so is a checked one whose fields do not read as expected.

The hook imports this module when the daemon does not answer, so it holds nothing of the
daemon's own machinery (asyncio, httpx, its config) and imports pydantic only for such files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from orchestratia.agent.approvals import light_json
from orchestratia.rules.matching import RuleMatcher

if TYPE_CHECKING:
    from orchestratia.protocol.approvals import PatternSyntax, RuleAction, RuleScope

RULES_FILE = "rules.json"
CACHE_FORMAT = 1
NO_CACHE_REASON = (
    "Orchestratia has no approval rules cached on this server yet, so a person has to decide."
)


class CachedRules(NamedTuple):
    server_id: str
    version: int
    rule_set: dict[str, Any] | None  # None: the hub's set could not be used
    error: str | None = None
    checked: bool = False  # rule_set is a CheckedRuleSet's JSON (module docstring)


class _CheckedRule:
    """One rule of a checked rule set, its JSON fields as the matcher reads them."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.id: str = fields["id"]
        self.name: str = fields["name"]
        self.pattern_syntax: PatternSyntax = fields["pattern_syntax"]
        self.tool_pattern: str = fields["tool_pattern"]
        self.param_pattern: str | None = fields["param_pattern"]
        self.action: RuleAction = fields["action"]
        self.scope: RuleScope = fields["scope"]
        self.scope_id: str | None = fields["scope_id"]
        self.agent_filter: list[str] | None = fields["agent_filter"]
        self.is_active: bool = fields["is_active"]
        self.priority: int = fields["priority"]
        expires = fields["expires_at"]
        self.expires_at = None if expires is None else datetime.fromisoformat(expires)
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("a checked expiry always has its offset")


class _CheckedRuleSet:
    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.version: int = fields["version"]
        self.rules = [_CheckedRule(rule) for rule in fields["rules"]]


def read_cache(directory: str | os.PathLike[str]) -> CachedRules | None:
    """The cache file's content, or None if there is none or it is not ours to trust."""
    try:
        with open(os.path.join(directory, RULES_FILE), "rb") as handle:
            data = light_json.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        import logging

        logging.getLogger(__name__).warning("cannot read rule cache in %s: %s", directory, exc)
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None
    server_id, version, rule_set = data.get("server_id"), data.get("version"), data.get("rule_set")
    if not isinstance(server_id, str) or not isinstance(version, int):
        return None
    error = data.get("error")
    return CachedRules(
        server_id=server_id,
        version=version,
        rule_set=rule_set if isinstance(rule_set, dict) else None,
        error=error if isinstance(error, str) else None,
        checked=data.get("checked") is True,
    )


def build_matcher(cached: CachedRules | None) -> tuple[RuleMatcher | None, str]:
    """A matcher for ``cached``, or None and the reason every call must be asked about."""
    if cached is None:
        return None, NO_CACHE_REASON
    if cached.rule_set is None:
        why = cached.error or "unknown error"
        return None, f"Orchestratia cannot use this server's approval rules ({why}), so ask."
    if cached.checked:
        with contextlib.suppress(Exception):  # not as the daemon writes it: validate it as any
            return RuleMatcher(_CheckedRuleSet(cached.rule_set)), ""
    from pydantic import ValidationError

    from orchestratia.protocol.approvals import RuleSet

    try:
        return RuleMatcher(RuleSet.model_validate(cached.rule_set)), ""
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        return None, f"Orchestratia cannot use this server's approval rules ({first}), so ask."


def decide_with(
    matcher: RuleMatcher | None, no_rules: str, server_id: str | None, request: Mapping[str, Any]
) -> dict[str, Any]:
    """The verdict for one decision request (shape: ``decision_socket``) as a JSON object."""
    agent, tool, tool_input = request.get("agent"), request.get("tool"), request.get("tool_input")
    session_id, project_id = request.get("session_id"), request.get("project_id")
    if not (isinstance(agent, str) and isinstance(tool, str) and isinstance(tool_input, dict)):
        raise ValueError("agent and tool must be strings and tool_input an object")
    if not all(v is None or isinstance(v, str) for v in (session_id, project_id)):
        raise ValueError("session_id and project_id must be strings")
    if matcher is None:
        return {"action": "ask", "rule_id": None, "reason": no_rules, "version": None}
    verdict = matcher.decide(agent, tool, tool_input, server_id, project_id, session_id=session_id)
    return {
        "action": verdict.action,
        "rule_id": verdict.rule_id,
        "reason": verdict.reason,
        "version": matcher.version,
    }


def decide_from_cache(
    directory: str | os.PathLike[str], request: Mapping[str, Any]
) -> dict[str, Any]:
    """What the hook does when the daemon does not answer: the same decision, from the file."""
    cached = read_cache(directory)
    matcher, no_rules = build_matcher(cached)
    return decide_with(matcher, no_rules, cached.server_id if cached else None, request)
