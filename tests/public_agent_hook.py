"""What the public agent v0.20's pre-tool-use hook decides from its cached rules: a faithful
re-implementation for tests, written from agent-skills/hooks/orchestratia-pretooluse.sh
(kumarimlab/orchestratia-agent @ 6fbf8a5; line numbers in the comments). Field names, defaults
and per-tool parameters are in tests/fixtures/public_agent_v020."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any, Literal

FIXTURES = Path(__file__).parent / "fixtures" / "public_agent_v020"
_SHAPES = json.loads((FIXTURES / "hook_main_parameter.json").read_text())
PARAMETER: dict[str, list[str]] = _SHAPES["parameter"]
GUESS = _SHAPES["agent_guess"]


def guess_agent(tool_name: str, env: dict[str, str]) -> str:
    """Lines 44-55."""
    if env.get("ORCHESTRATIA_AGENT_NAME"):
        return env["ORCHESTRATIA_AGENT_NAME"]
    if tool_name in GUESS["claude"]:
        return "claude"
    if tool_name in GUESS["gemini"]:
        return "gemini"
    if tool_name == "shell" or env.get("CODEX_SANDBOX_DIR"):
        return "codex"
    return "claude"


def main_parameter(tool_name: str, tool_input: dict[str, Any]) -> Any:
    """Lines 59-69 (``Agent`` keeps the first 200 characters of its prompt)."""
    param: Any = ""
    for key in PARAMETER.get(tool_name, []):
        param = param or tool_input.get(key, "")
    return param[:200] if tool_name == "Agent" and param else param


def decide(
    cache_file: Path, tool_name: str, tool_input: dict[str, Any], env: dict[str, str]
) -> tuple[Literal["allow", "deny", "ask"], str | None]:
    """(decision, matched rule id): lines 73-121. Raises where the hook's python would exit 1
    (a non-blocking error: no rule applies), e.g. when the cache is not a list of objects."""
    rules = json.loads(cache_file.read_text())  # lines 75-80
    project_id = env.get("ORCHESTRATIA_PROJECT_ID", "")
    agent_name = guess_agent(tool_name, env)
    param = main_parameter(tool_name, tool_input)
    for rule in rules:  # line 88
        if not rule.get("is_active", True):
            continue
        tp = rule.get("tool_pattern", "")
        if tp != "*" and not fnmatch.fnmatch(tool_name, tp):  # line 94
            continue
        pp = rule.get("param_pattern")
        if pp and param and not fnmatch.fnmatch(param, pp):  # line 99
            continue
        scope_type, scope_id = rule.get("scope_type", "tenant"), rule.get("scope_id")
        if scope_type == "project" and scope_id and scope_id != project_id:  # line 105
            continue
        agent_f = rule.get("agent_filter", "all")
        named = [a.strip() for a in agent_f.split(",")]
        if agent_f != "all" and agent_name and agent_name not in named:  # lines 110-113
            continue
        action = rule.get("action", "allow")  # line 116: anything but allow denies
        return ("allow" if action == "allow" else "deny"), rule.get("id")
    return "ask", None
