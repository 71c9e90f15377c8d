"""The approval-rule cache file, and decisions made from it (SPEC §8).

The daemon writes it (``rule_cache.RuleCache``) as ``<policy dir>/rules.json``: ``{"format": 1,
"server_id", "version", "fetched_at", "rule_set": RuleSet | null, "error": str | null}``;
``server_id`` is there because server-scoped rules need it and the hook cannot read the daemon's
config cheaply. A set this daemon could not use is cached with ``rule_set`` null and the reason.

The pre-tool-use hook imports this module when the daemon does not answer, so it holds nothing
of the daemon's own machinery (asyncio, httpx, its config): only the file and the matcher.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestratia.protocol.approvals import RuleSet
from orchestratia.rules.matching import RuleMatcher

log = logging.getLogger(__name__)

RULES_FILE = "rules.json"
CACHE_FORMAT = 1
NO_CACHE_REASON = (
    "Orchestratia has no approval rules cached on this server yet, so a person has to decide."
)


@dataclass(frozen=True)
class CachedRules:
    server_id: str
    version: int
    rule_set: dict[str, Any] | None  # None: the hub's set could not be used
    error: str | None = None


def read_cache(directory: Path) -> CachedRules | None:
    """The cache file's content, or None if there is none or it is not ours to trust."""
    try:
        data = json.loads((directory / RULES_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read rule cache in %s: %s", directory, exc)
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
    )


def build_matcher(cached: CachedRules | None) -> tuple[RuleMatcher | None, str]:
    """A matcher for ``cached``, or None and the reason every call must be asked about."""
    if cached is None:
        return None, NO_CACHE_REASON
    if cached.rule_set is None:
        why = cached.error or "unknown error"
        return None, f"Orchestratia cannot use this server's approval rules ({why}), so ask."
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


def decide_from_cache(directory: Path, request: Mapping[str, Any]) -> dict[str, Any]:
    """What the hook does when the daemon does not answer: the same decision, from the file."""
    cached = read_cache(directory)
    matcher, no_rules = build_matcher(cached)
    return decide_with(matcher, no_rules, cached.server_id if cached else None, request)
