"""``RuleMatcher``: the pre-tool-use decision from the cached approval rules (SPEC §8).

Order, fixed when the matcher is built: **deny rules first**, then the **narrowest scope**
(session, then server, then project, then tenant), then **higher priority first** (``priority``
100 beats 0; a negative priority sinks a rule below the default), then rule **id** ascending so
equal rules always resolve the same way. The first rule that applies and matches decides.
Nothing matching is ``ask``: there is never an implicit allow.

A rule applies when it is active, not past its ``expires_at``, its scope is the tenant, this
project, this server or this session, and its agent filter is empty or names this agent. It
matches when ``tool_pattern`` matches the tool name and, if it has a ``param_pattern``, that
matches the tool's *main parameter* (pattern semantics: ``orchestratia.protocol.approvals``). A
tool whose main parameter is unknown, or absent from the input, never matches a rule with a
``param_pattern``.

Some tools carry several main values (a patch touching three files, a fetch prompt naming two
URLs). Then a ``deny`` or ``ask`` rule matches if *any* value matches, an ``allow`` rule only if
*every* value does: one allowed path must not carry an unlisted one through.

Tool input is only ever read as data: looked up by key and matched with RE2, nothing else. Shell
commands are not parsed, so an allow glob ``git status*`` also allows ``git status; rm -rf ~``;
deny rules, which are checked first, are the guard against such chains.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestratia.protocol.approvals import (
    ApprovalRule,
    CompiledPattern,
    DecidedBy,
    RuleAction,
    RuleSet,
    compile_pattern,
)

SCOPE_RANK = {"session": 0, "server": 1, "project": 2, "tenant": 3}
DEFAULT_REASON = "No approval rule matches this tool call, so a person has to decide."

# Main parameter of each known tool: the input keys to read, in order; every present one counts.
# Claude Code: https://code.claude.com/docs/en/hooks ("PreToolUse" input: Bash command,
#   Write/Edit/Read file_path, WebFetch url, Glob/Grep pattern, WebSearch query); MultiEdit
#   file_path and NotebookEdit notebook_path per its tools reference.
# Gemini CLI: https://geminicli.com/docs/tools/file-system/ and packages/core/src/tools/
#   tool-names.ts (run_shell_command command, read_file/write_file/replace file_path - read_file
#   took absolute_path before -, list_directory dir_path, glob and grep_search pattern, the
#   latter formerly search_file_content, read_many_files include, web_fetch prompt holding the
#   URLs, google_web_search query).
# Codex: https://developers.openai.com/codex/hooks and codex-rs/hooks/src/events/pre_tool_use.rs
#   (shell-like tools reach hooks as "Bash" with tool_input.command; apply_patch carries the
#   patch in tool_input.command). Its internal shell tool names are mapped as well, in case a
#   build reports them: shell/local_shell (argv list), shell_command, exec_command (cmd).
MAIN_PARAMETER: dict[str, tuple[str, ...]] = {
    "Bash": ("command",),
    "Edit": ("file_path",),
    "MultiEdit": ("file_path",),
    "Write": ("file_path",),
    "Read": ("file_path",),
    "NotebookEdit": ("notebook_path",),
    "WebFetch": ("url",),
    "WebSearch": ("query",),
    "Grep": ("pattern",),
    "Glob": ("pattern",),
    "run_shell_command": ("command",),
    "write_file": ("file_path",),
    "replace": ("file_path",),
    "read_file": ("file_path", "absolute_path"),
    "read_many_files": ("include", "paths"),
    "list_directory": ("dir_path", "path"),
    "glob": ("pattern",),
    "grep_search": ("pattern",),
    "search_file_content": ("pattern",),
    "web_fetch": ("url", "prompt"),
    "google_web_search": ("query",),
    "shell": ("command",),
    "local_shell": ("command",),
    "shell_command": ("command",),
    "exec_command": ("cmd", "command"),
    "apply_patch": ("command",),
}
# Where the documented value is a list: one command (argv), or several values. Anywhere else a
# list is not what the tool takes, so it counts as no main parameter at all.
ARGV_TOOLS = frozenset({"shell", "local_shell", "shell_command", "exec_command"})
LIST_TOOLS = frozenset({"read_many_files"})
_URL = re.compile(r"https?://[^\s<>\"'`]+")  # no nested repetition: linear on any input
_PATCH_PATH = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+)$", re.M)


@dataclass(frozen=True)
class Verdict:
    """What to do with one tool call, which rule said so (``None``: the default) and why."""

    action: RuleAction
    rule_id: str | None
    reason: str

    @property
    def decided_by(self) -> DecidedBy:
        return "rule" if self.rule_id is not None else "default"


@dataclass(frozen=True)
class _Rule:
    rule: ApprovalRule
    tool_literal: str | None  # a glob without wildcards is compared as a plain string
    tool: CompiledPattern
    param: CompiledPattern | None
    agents: frozenset[str] | None


def _safe_text(value: str) -> str:
    """JSON may hold lone surrogates, which RE2's UTF-8 encoding refuses; keep them visible."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def main_parameters(tool: str, tool_input: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The values a ``param_pattern`` is matched against, or ``None`` when there are none."""
    keys = MAIN_PARAMETER.get(tool)
    if keys is None or not isinstance(tool_input, Mapping):
        return None
    values: list[str] = []
    for key in keys:
        raw = tool_input.get(key)
        if isinstance(raw, list) and raw and all(isinstance(v, str) for v in raw):
            if tool in ARGV_TOOLS:
                values.append(" ".join(raw))
            elif tool in LIST_TOOLS:
                values.extend(raw)
        elif isinstance(raw, str):
            values.append(raw)
    if tool == "apply_patch":
        values = [path.strip() for text in values for path in _PATCH_PATH.findall(text)]
    elif tool == "web_fetch":
        values = [url for text in values for url in (_URL.findall(text) or [text])]
    return tuple(_safe_text(v) for v in values) or None


class RuleMatcher:
    """Decides tool calls from one ``RuleSet``; build once per cached rule set, reuse freely."""

    def __init__(self, rule_set: RuleSet) -> None:
        """Compile every active rule; raises ``ValueError`` if a pattern does not compile, in
        which case the caller must treat the cache as unusable (everything ``ask``)."""
        self.version = rule_set.version
        ordered = sorted(
            (r for r in rule_set.rules if r.is_active),
            key=lambda r: (r.action != "deny", SCOPE_RANK[r.scope], -r.priority, r.id),
        )
        self._rules = [self._compile(r) for r in ordered]
        # Most rule sets hold no expiring rule; then "now" is never needed.
        self._expiring = any(r.expires_at is not None for r in ordered)

    @staticmethod
    def _compile(rule: ApprovalRule) -> _Rule:
        literal = rule.pattern_syntax == "glob" and not any(c in rule.tool_pattern for c in "*?[")
        return _Rule(
            rule=rule,
            tool_literal=rule.tool_pattern if literal else None,
            tool=compile_pattern(rule.tool_pattern, rule.pattern_syntax),
            param=(
                compile_pattern(rule.param_pattern, rule.pattern_syntax)
                if rule.param_pattern is not None
                else None
            ),
            agents=frozenset(rule.agent_filter) if rule.agent_filter else None,
        )

    def decide(
        self,
        agent: str,
        tool: str,
        tool_input: Mapping[str, Any],
        server_id: str | None,
        project_id: str | None,
        session_id: str | None = None,
        now: datetime | None = None,
    ) -> Verdict:
        """The verdict of the first rule that applies and matches, else ``ask``. Rules whose
        ``expires_at`` is not after ``now`` (default: the current time) are skipped."""
        tool = _safe_text(tool)
        tool_bytes = tool.encode("utf-8")
        params: tuple[bytes, ...] | None = None
        params_read = False  # most rules are settled by the tool name alone
        if self._expiring:
            now = datetime.now(UTC) if now is None else now
            now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
        for entry in self._rules:
            rule = entry.rule
            if rule.scope == "project" and rule.scope_id != project_id:
                continue
            if rule.scope == "server" and rule.scope_id != server_id:
                continue
            if rule.scope == "session" and rule.scope_id != session_id:
                continue
            if rule.expires_at is not None and now is not None and rule.expires_at <= now:
                continue
            if entry.agents is not None and agent not in entry.agents:
                continue
            if entry.tool_literal is not None:
                if entry.tool_literal != tool:
                    continue
            elif entry.tool.search(tool_bytes) is None:
                continue
            if entry.param is not None:
                if not params_read:
                    params, params_read = _encoded(main_parameters(tool, tool_input)), True
                if not _param_matches(entry.param, params, every=rule.action == "allow"):
                    continue
            return Verdict(rule.action, rule.id, _reason(rule))
        return Verdict("ask", None, DEFAULT_REASON)

    def __len__(self) -> int:
        return len(self._rules)


def _encoded(values: tuple[str, ...] | None) -> tuple[bytes, ...] | None:
    return None if values is None else tuple(v.encode("utf-8") for v in values)


def _param_matches(
    pattern: CompiledPattern, values: Sequence[bytes] | None, *, every: bool
) -> bool:
    if not values:
        return False
    hits = (pattern.search(v) is not None for v in values)
    return all(hits) if every else any(hits)


def _reason(rule: ApprovalRule) -> str:
    what = f'approval rule "{rule.name}" ({rule.scope} scope, id {rule.id})'
    if rule.action == "deny":
        return f"Blocked by {what}. Do not retry this call; choose another approach or ask."
    if rule.action == "allow":
        return f"Allowed by {what}."
    return f"{what[0].upper()}{what[1:]} requires a person to approve this call."
