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

Shell tools (``SHELL_TOOLS``) are matched per simple command (``shell_commands``, whitespace
around the command ignored): a ``deny`` or ``ask`` rule matches if it matches *any* part (or the
whole command, a command inside a substitution, or a part from any of its words on, so that a
prefix command such as ``sudo``, ``env X=1`` or ``nice -n 5`` hides nothing); the call is
allowed only if *every* part is allowed by the allow rule that decides that part, and the
command has no substitution, no redirection into a file and no background job, and could be
parsed at all; otherwise it is ``ask``. A rule without a ``param_pattern`` does not look at the
command, so it decides the whole call as before (an allow of the bare tool ``Bash`` allows any
command) once no deny or ask rule matches a part, unless the command could not be parsed: then
the deny check was only a rough one and the call is ``ask``. An allow whose glob has no wildcard
(what an inbox "allow this for N minutes" makes) decides the whole call too, parsed or not: it
allows exactly that command, which a person has read. An argv (``shell``, ``local_shell``, …) is
one command quoted back together, and ``bash -lc SCRIPT`` (``sh``/``zsh``/``dash``, any ``-c``
flags) is judged as ``SCRIPT``.

Tool input is only ever read as data: looked up by key, parsed as shell grammar by a pure parser,
matched with RE2; nothing is ever run.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from orchestratia.rules.pattern_engine import compile_pattern
from orchestratia.rules.shell_commands import ShellCommand, split_command

# Types only: a hook deciding from the cache file builds a matcher without pydantic, from rule
# fields the daemon already checked (``agent.approvals.cached_rules``).
if TYPE_CHECKING:
    from orchestratia.protocol.approvals import DecidedBy, PatternSyntax, RuleAction
    from orchestratia.rules.pattern_engine import CompiledPattern
    from orchestratia.rules.rule_fields import RuleFields, RuleSetFields


SCOPE_RANK = {"session": 0, "server": 1, "project": 2, "tenant": 3}
DEFAULT_REASON = "No approval rule matches this tool call, so a person has to decide."
ASK_SHELL = "A person has to decide."

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
# Tools whose main parameter is shell command text (apply_patch carries a patch, not a command).
SHELL_TOOLS = frozenset(
    {"Bash", "run_shell_command", "shell", "local_shell", "shell_command", "exec_command"}
)
ARGV_TOOLS = frozenset({"shell", "local_shell", "shell_command", "exec_command"})
LIST_TOOLS = frozenset({"read_many_files"})
ARGV_SHELLS = frozenset({"sh", "bash", "zsh", "dash"})
_SHELL_FLAGS = re.compile(r"-[a-np-zA-NP-Z]+")  # letters that take no argument ("-o" does)
_URL = re.compile(r"https?://[^\s<>\"'`]+")  # no nested repetition: linear on any input
_ONE_CHAR_CLASS = re.compile(r"\[[^!]\]")  # "[*]": how escape_glob writes a literal "*"
_PATCH_PATH = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+)$", re.M)


class Verdict(NamedTuple):
    """What to do with one tool call, which rule said so (``None``: the default) and why."""

    action: RuleAction
    rule_id: str | None
    reason: str

    @property
    def decided_by(self) -> DecidedBy:
        return "rule" if self.rule_id is not None else "default"


class _Rule(NamedTuple):
    rule: RuleFields
    tool_literal: str | None  # a glob without wildcards is compared as a plain string
    tool: CompiledPattern
    param: CompiledPattern | None
    agents: frozenset[str] | None
    exact: bool  # a glob param_pattern matching one text only (an inbox "allow this command")
    # Whether it is tried on the word suffixes of a simple command: ask rules, and deny rules
    # that may match a suffix without matching the simple command it was cut from (anchored at
    # the start). An unanchored deny matching a suffix matches its command too, where a deny is
    # never shadowed (deny rules come first), so trying it again would only cost time. Allow
    # rules never judge a suffix: it is not a command of its own.
    on_suffixes: bool


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
                values.append(_argv_command(raw))
            elif tool in LIST_TOOLS:
                values.extend(raw)
        elif isinstance(raw, str):
            values.append(raw)
    if tool == "apply_patch":
        values = [path.strip() for text in values for path in _PATCH_PATH.findall(text)]
    elif tool == "web_fetch":
        values = [url for text in values for url in (_URL.findall(text) or [text])]
    return tuple(_safe_text(v) for v in values) or None


def _argv_command(argv: Sequence[str]) -> str:
    """The shell command an argv runs: the script of ``bash -lc SCRIPT`` (and ``sh``, ``zsh``,
    ``dash``; flags of letters only, so ``-o pipefail`` is not read as one), else the argv quoted
    back into one command, so that an argument stays one word."""
    from pathlib import PurePosixPath  # argv tools are rare: not worth its import every call

    flags = list(itertools.takewhile(lambda arg: arg.startswith("-"), argv[1:]))
    if (
        PurePosixPath(argv[0]).name in ARGV_SHELLS
        and len(argv) > len(flags) + 1
        and any("c" in flag for flag in flags)
        and all(_SHELL_FLAGS.fullmatch(flag) for flag in flags)
    ):
        return argv[len(flags) + 1]
    return shlex.join(argv)


class RuleMatcher:
    """Decides tool calls from one ``RuleSet``; build once per cached rule set, reuse freely."""

    def __init__(self, rule_set: RuleSetFields) -> None:
        """Compile every active rule; raises ``ValueError`` if a pattern does not compile, in
        which case the caller must treat the cache as unusable (everything ``ask``)."""
        self.version = rule_set.version
        ordered = sorted(
            (r for r in rule_set.rules if r.is_active),
            key=lambda r: (r.action != "deny", SCOPE_RANK[r.scope], -r.priority, r.id),
        )
        # Rules repeat patterns (tool patterns above all), and compiling is most of the time a
        # hook deciding from the cache file spends here: each distinct pattern is compiled once.
        self._patterns: dict[tuple[str, PatternSyntax], CompiledPattern] = {}
        self._rules = [self._compile(r) for r in ordered]
        # Most rule sets hold no expiring rule; then "now" is never needed.
        self._expiring = any(r.expires_at is not None for r in ordered)

    def _pattern(self, text: str, syntax: PatternSyntax) -> CompiledPattern:
        key = (text, syntax)
        if key not in self._patterns:
            self._patterns[key] = compile_pattern(text, syntax)
        return self._patterns[key]

    def _compile(self, rule: RuleFields) -> _Rule:
        literal = rule.pattern_syntax == "glob" and not any(c in rule.tool_pattern for c in "*?[")
        return _Rule(
            rule=rule,
            tool_literal=rule.tool_pattern if literal else None,
            tool=self._pattern(rule.tool_pattern, rule.pattern_syntax),
            param=(
                self._pattern(rule.param_pattern, rule.pattern_syntax)
                if rule.param_pattern is not None
                else None
            ),
            agents=frozenset(rule.agent_filter) if rule.agent_filter else None,
            exact=rule.pattern_syntax == "glob"
            and rule.param_pattern is not None
            and not any(c in _ONE_CHAR_CLASS.sub("", rule.param_pattern) for c in "*?["),
            on_suffixes=rule.param_pattern is not None
            and (rule.action == "ask" or (rule.action == "deny" and _anchored(rule))),
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
        """The verdict of the first rule that applies and matches, else ``ask``; shell tools are
        judged per simple command (module docstring). Rules whose ``expires_at`` is not after
        ``now`` (default: the current time) are skipped."""
        tool = _safe_text(tool)
        if self._expiring:
            now = datetime.now(UTC) if now is None else now
            now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
        candidates = self._candidates(agent, tool, server_id, project_id, session_id, now)
        if not candidates:
            return Verdict("ask", None, DEFAULT_REASON)
        values = main_parameters(tool, tool_input)
        if tool in SHELL_TOOLS and values is not None:
            return _decide_shell(candidates, [split_command(v) for v in values])
        return _first(candidates, _encoded(values))

    def _candidates(
        self,
        agent: str,
        tool: str,
        server_id: str | None,
        project_id: str | None,
        session_id: str | None,
        now: datetime | None,
    ) -> list[_Rule]:
        """The rules that apply to this call and whose tool pattern matches, in order."""
        tool_bytes = tool.encode("utf-8")
        found: list[_Rule] = []
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
            found.append(entry)
        return found

    def __len__(self) -> int:
        return len(self._rules)


def _first(candidates: Sequence[_Rule], params: tuple[bytes, ...] | None) -> Verdict:
    """The first candidate whose param pattern (if any) matches ``params``: any value for deny
    and ask rules, every value for allow rules."""
    for entry in candidates:
        rule = entry.rule
        if entry.param is not None and not _param_matches(
            entry.param, params, every=rule.action == "allow"
        ):
            continue
        return Verdict(rule.action, rule.id, _reason(rule))
    return Verdict("ask", None, DEFAULT_REASON)


def _decide_shell(candidates: Sequence[_Rule], commands: Sequence[ShellCommand]) -> Verdict:
    """Shell commands, part by part (module docstring)."""
    verdicts: dict[str, Verdict] = {}

    def of(text: str) -> Verdict:
        if text not in verdicts:
            verdicts[text] = _first(candidates, (_safe_text(text).encode("utf-8"),))
        return verdicts[text]

    probed = [of(text) for command in commands for text in command.deny_texts]
    on_suffixes = [e for e in candidates if e.on_suffixes]
    if on_suffixes:
        suffixes = dict.fromkeys(t for command in commands for t in command.suffix_texts)
        probed += [_first(on_suffixes, (_safe_text(t).encode("utf-8"),)) for t in suffixes]
    for verdict in probed:
        if verdict.action == "deny":
            return verdict
    # An ask rule asks if it matches any text, unless an allow rule ordered before it decides the
    # whole call: one without a param_pattern (it matches every text alike) or an exact one (a
    # person allowed this very command).
    rank = {e.rule.id: i for i, e in enumerate(candidates)}
    asks = [v for v in probed if v.action == "ask" and v.rule_id is not None]
    first_ask = min((rank[v.rule_id] for v in asks if v.rule_id is not None), default=len(rank))
    # A blanket allow never read the command, so it may not decide one we could not read either:
    # the deny check on such text is only a rough one.
    parsed = all(c.parsed for c in commands)
    whole = {e.rule.id for e in candidates if (e.param is None and parsed) or e.exact}
    decider = probed[0].rule_id if probed and probed[0].action == "allow" else None
    if decider in whole and rank[decider or ""] < first_ask:
        return probed[0]
    if asks:
        return min(asks, key=lambda v: rank[v.rule_id or ""])
    refusal = next((c.refusal for c in commands if c.refusal is not None), None)
    if refusal is not None:
        return Verdict("ask", None, f"No allow rule covers this command: {refusal}. {ASK_SHELL}")
    parts = [of(part) for command in commands for part in command.parts]
    if not parts:
        return Verdict("ask", None, DEFAULT_REASON)
    not_allowed = next((v for v in parts if v.action != "allow"), None)
    return parts[0] if not_allowed is None else not_allowed


def _anchored(rule: RuleFields) -> bool:
    """Whether ``rule``'s param pattern may match at the start of a text only (conservative:
    any ``^`` or ``\\A`` in a regex; a glob unless it starts with ``*``)."""
    pattern = rule.param_pattern or ""
    if rule.pattern_syntax == "glob":
        return not pattern.startswith("*")
    return "^" in pattern or "\\A" in pattern


def _encoded(values: tuple[str, ...] | None) -> tuple[bytes, ...] | None:
    return None if values is None else tuple(v.encode("utf-8") for v in values)


def _param_matches(
    pattern: CompiledPattern, values: Sequence[bytes] | None, *, every: bool
) -> bool:
    if not values:
        return False
    hits = (pattern.search(v) is not None for v in values)
    return all(hits) if every else any(hits)


def _reason(rule: RuleFields) -> str:
    what = f'approval rule "{rule.name}" ({rule.scope} scope, id {rule.id})'
    if rule.action == "deny":
        return f"Blocked by {what}. Do not retry this call; choose another approach or ask."
    if rule.action == "allow":
        return f"Allowed by {what}."
    return f"{what[0].upper()}{what[1:]} requires a person to approve this call."
