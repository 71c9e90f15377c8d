"""Approval rules as the public agent (v0.20) caches them (SPEC §5; shapes recorded in
``tests/fixtures/public_agent_v020``).

The public daemon stores the reply of ``GET /api/v1/server/approval-rules`` verbatim and its
pre-tool-use hook walks it as a list, in order. The first rule whose ``tool_pattern`` and
``param_pattern`` (``fnmatch`` globs, the latter on the tool's whole main parameter) match,
whose ``scope_type``/``scope_id`` fit the session's project and whose ``agent_filter`` (``all``
or a comma list, compared with an agent the hook guesses) names the agent, decides: ``allow``
allows, *any other action denies*. Nothing matching leaves the call to the agent's own prompt.
It applies a rule whatever its ``param_pattern`` when the call has no main parameter it knows.

It cannot express RE2 patterns, our per-simple-command shell semantics, session scope, expiry
or a reliable agent filter, so every rule is translated to err towards deny or ask:

- ``deny`` and ``ask`` rules (the latter deny there) are sent as *covers*, matching at least
  what they match here: a regex becomes a glob of its mandatory literal runs (``rm\\s+-rf`` →
  ``*rm*-rf*``, or ``*`` when there are none); a glob that can reach a shell tool is widened to
  ``*<glob>*``, since a simple command is a piece of the whole command; the agent filter is
  dropped, and the scope becomes the tenant: that hook applies a project rule only when it
  knows the session's project (``ORCHESTRATIA_PROJECT_ID``), while tenant allows always apply,
  and the hub sends a server only the rules that can apply to it anyway. A regex the stdlib
  parser may read differently from RE2 (POSIX classes, nested sets) is covered by ``*``.
- ``allow`` rules are sent only where the public hook decides exactly as we do: tool-only rules
  (no ``param_pattern``) that cannot reach a shell tool, ``param_pattern`` rules on a tool whose
  main parameter the public hook reads from the same field, and, on ``Bash`` /
  ``run_shell_command``, a literal command of plain words. Any other allow rule is left out, so
  the call falls through to later rules or the agent's own prompt (ask). Session rules, expiring
  rules and allow rules for some agents only are left out too.

Sent in our matching order (deny first, then narrowest scope, priority, id): since every rule
before an allow matches at least what it matches here, the public hook allows a call only if
we would allow it as well.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from orchestratia.protocol.approvals import ApprovalRule, RuleAction
from orchestratia.rules.matching import SCOPE_RANK, SHELL_TOOLS
from orchestratia.rules.patterns import compile_pattern, escape_glob
from orchestratia.rules.shell_commands import split_command

with warnings.catch_warnings():  # the stdlib regex parser, used only to find literal runs
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

# Tools whose main parameter the public hook reads from the field we read (its
# agent-skills/hooks/orchestratia-pretooluse.sh, lines 59-69).
SAME_PARAMETER = frozenset(
    {"Edit", "Write", "Read", "MultiEdit", "write_file", "replace", "WebFetch", "Glob", "Grep",
     "grep_search", "Bash", "run_shell_command"}
)  # fmt: skip
PLAIN_COMMAND = re.compile(r"[A-Za-z0-9_./=:,+@%-]+(?: [A-Za-z0-9_./=:,+@%-]+)*")


class PublicApprovalRule(BaseModel):
    """One rule as the public hook reads it (field names and defaults: its hook, lines 88-121)."""

    id: str
    name: str
    tool_pattern: str
    param_pattern: str | None
    action: RuleAction
    scope_type: Literal["tenant", "project", "server", "session"]
    scope_id: str | None
    agent_filter: str
    is_active: bool = True
    priority: int


def public_rules(rules: Sequence[ApprovalRule]) -> list[PublicApprovalRule]:
    """The list a public daemon caches for ``rules`` (module docstring)."""
    ordered = sorted(
        (r for r in rules if r.is_active),
        key=lambda r: (r.action != "deny", SCOPE_RANK[r.scope], -r.priority, r.id),
    )
    found: list[PublicApprovalRule] = []
    for rule in ordered:
        if rule.action != "allow":
            found += _covers(rule)
        elif (exact := _exact(rule)) is not None:
            found.append(exact)
    return found


def _public(
    rule: ApprovalRule, tool: str, param: str | None, agents: str, *, tenant: bool = False
) -> PublicApprovalRule:
    """``rule`` in the public shape; ``tenant`` sends it with tenant scope, which that hook
    applies always (it skips a project rule when it does not know the session's project)."""
    return PublicApprovalRule(
        id=rule.id,
        name=rule.name,
        tool_pattern=tool,
        param_pattern=param,
        action=rule.action,
        scope_type="tenant" if tenant else rule.scope,
        scope_id=None if tenant else rule.scope_id,
        agent_filter=agents,
        priority=rule.priority,
    )


def _reaches_shell(rule: ApprovalRule) -> bool:
    tool = compile_pattern(rule.tool_pattern, rule.pattern_syntax)
    return any(tool.search(name) is not None for name in SHELL_TOOLS)


def _covers(rule: ApprovalRule) -> list[PublicApprovalRule]:
    """Deny/ask rules matching at least every call ``rule`` matches here: one per tool name of
    a regex that is an anchored list of names, else one with a glob tool pattern."""
    tools = [rule.tool_pattern]
    if rule.pattern_syntax == "regex":
        names = regex_names(rule.tool_pattern)
        tools = [escape_glob(name) for name in names] if names else ["*"]
    param = rule.param_pattern
    if param is not None:
        if rule.pattern_syntax == "regex":
            param = regex_cover(param)
        elif _reaches_shell(rule):
            param = f"*{param}*"
    param = None if param == "*" else param
    return [_public(rule, tool, param, "all", tenant=True) for tool in tools]


def _exact(rule: ApprovalRule) -> PublicApprovalRule | None:
    """``rule`` (an allow) if the public hook applies it exactly as we do, else None."""
    if rule.scope == "session" or rule.expires_at is not None or rule.agent_filter:
        return None
    if rule.pattern_syntax != "glob":
        return None
    param = rule.param_pattern
    if _reaches_shell(rule):
        if rule.tool_pattern not in ("Bash", "run_shell_command") or param is None:
            return None
        split = split_command(param)
        if not PLAIN_COMMAND.fullmatch(param) or split.parts != (param,) or split.refusal:
            return None  # a glob or a compound command would allow chains there
    elif param is not None and rule.tool_pattern not in SAME_PARAMETER:
        return None
    return _public(rule, rule.tool_pattern, param, "all")


def regex_names(pattern: str) -> list[str] | None:
    """The names an RE2 pattern of the form ``^name$`` or ``^(a|b|c)$`` matches, or None."""
    parsed = _parse(pattern)
    if parsed is None:
        return None
    items: list[Any] = list(parsed.data)
    starts = [
        (sre_constants.AT, sre_constants.AT_BEGINNING),
        (sre_constants.AT, sre_constants.AT_BEGINNING_STRING),
    ]
    ends = [
        (sre_constants.AT, sre_constants.AT_END),
        (sre_constants.AT, sre_constants.AT_END_STRING),
    ]
    if len(items) < 3 or items[0] not in starts or items[-1] not in ends:  # RE2's $: end of text
        return None
    body = items[1:-1]
    if len(body) == 1 and body[0][0] is sre_constants.SUBPATTERN:
        body = list(body[0][1][-1].data)
    if len(body) == 1 and body[0][0] is sre_constants.BRANCH:
        names = [_literal(list(alternative.data)) for alternative in body[0][1][1]]
    else:
        names = [_literal(body)]
    found = [n for n in names if n is not None]
    return found if len(found) == len(names) else None


def _parse(pattern: str) -> Any:
    """The stdlib parse of ``pattern``, or None when it fails or ignores case (then literals
    say nothing); RE2 syntax it does not know fails, which callers take as "anything". So does
    anything the two engines may read differently: POSIX classes (``[[:space:]]``, which the
    stdlib reads as a set followed by a literal ``]``), collating elements and equivalence
    classes, and whatever the stdlib warns about (nested sets, set operations)."""
    if any(posix in pattern for posix in ("[:", "[=", "[.")):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = sre_parse.parse(pattern)
    except (re.error, ValueError, OverflowError, RecursionError, Warning):
        return None
    return None if parsed.state.flags & (re.IGNORECASE | re.VERBOSE) else parsed


def _literal(items: list[Any]) -> str | None:
    if not items or any(op is not sre_constants.LITERAL for op, _ in items):
        return None
    return "".join(chr(arg) for _, arg in items)


def regex_cover(pattern: str) -> str:
    """A glob matching every text in which ``pattern`` (searched, unanchored) finds a match:
    the literal runs every match must contain, in order, with ``*`` around and between them."""
    parsed = _parse(pattern)
    if parsed is None:
        return "*"
    runs: list[str] = [""]
    for op, arg in parsed.data:
        if op is sre_constants.LITERAL:
            runs[-1] += chr(arg)
        elif op is not sre_constants.AT:  # anchors take no characters
            runs.append("")
    literal = "*".join(escape_glob(run) for run in runs if run)
    return f"*{literal}*" if literal else "*"
