"""Rule patterns: what a pattern means, compiling it, and the rule models that insist it compiles.

Pattern semantics live here, shared by hub and daemon, so that the hub validates a pattern with
exactly the engine that will later run it (and its "would this match?" tester can share them):

- ``glob`` (the default): ``*`` matches any run of characters *including* ``/`` and newlines,
  ``?`` any one character, ``[abc]``/``[!abc]`` a character class; case-sensitive; anchored, so
  the pattern must match the whole text (``git status*``, not ``*git status*``).
- ``regex``: RE2 syntax (no backreferences or lookaround, so no catastrophic backtracking),
  case-sensitive, searched (unanchored) like ``grep``: ``rm\\s+-rf`` matches anywhere in the
  command; anchor with ``^``/``$`` when you mean the whole text. ``.`` does not cross a newline
  unless the pattern says ``(?s)``.

A bad pattern is refused where it enters: the hub's create and update bodies (a 422 naming
``tool_pattern`` or ``param_pattern``) and the rule set a daemon fetches (unreadable, so every
call is asked about) are validated with the ``Checked*`` models below.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information
from pydantic import Field, ValidationInfo, field_validator

from orchestratia.protocol.approvals import (
    MAX_RULES,
    ApprovalRule,
    ApprovalRuleCreate,
    PatternSyntax,
    RuleSet,
)


class CompiledPattern(Protocol):
    # UTF-8 bytes are the fast path: a str is re-encoded on every call.
    def search(self, text: str | bytes) -> object | None: ...


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print parse errors on stderr, which a hook must own
    options.never_capture = True  # only "does it match" is ever asked; groups cost time
    return options


_OPTIONS = _re2_options()


def glob_to_re2(pattern: str) -> str:
    """The anchored RE2 expression for a glob (semantics in the module docstring)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if not out or out[-1] != ".*":  # "**" means the same as "*"
                out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            # fnmatch rules: "[!" negates, and a "]" right after "[" or "[!" is a member.
            end = i + 1 if pattern[i : i + 1] == "!" else i
            end = pattern.find("]", end + 1 if pattern[end : end + 1] == "]" else end)
            if end < 0:  # no closing bracket: a literal "[", as fnmatch does
                out.append(re.escape(ch))
                continue
            body, i = pattern[i:end], end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            for special in ("\\", "[", "]", "^"):
                body = body.replace(special, "\\" + special)
            out.append(f"[{'^' if negate else ''}{body}]")
        else:
            out.append(re.escape(ch))
    return f"(?s)\\A(?:{''.join(out)})\\z"


def escape_glob(text: str) -> str:
    """A glob matching exactly ``text``: each metacharacter becomes a one-member class."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


def compile_pattern(pattern: str, syntax: PatternSyntax) -> CompiledPattern:
    """Compile a rule pattern; raises ``ValueError`` saying why RE2 refuses it."""
    source = glob_to_re2(pattern) if syntax == "glob" else pattern
    try:
        return cast(CompiledPattern, re2.compile(source, _OPTIONS))
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(f"not a valid {syntax} pattern for the RE2 engine: {detail}") from None


def _compiles(value: str | None, info: ValidationInfo) -> str | None:
    syntax = info.data.get("pattern_syntax")  # absent when it was itself invalid
    if value is not None and syntax is not None:
        compile_pattern(value, syntax)
    return value


_check = field_validator("tool_pattern", "param_pattern")


class CheckedRuleCreate(ApprovalRuleCreate):
    """A new rule from the dashboard whose patterns compile."""

    _compiles = _check(_compiles)


class CheckedRule(ApprovalRule):
    """A stored rule whose patterns compile."""

    _compiles = _check(_compiles)


class CheckedRuleSet(RuleSet):
    """A rule set every pattern of which compiles."""

    # Narrowing a field's type is how pydantic adds checks to an inherited field; mypy sees a
    # list's invariance, but nothing here ever puts a plain rule into this list.
    rules: list[CheckedRule] = Field(  # type: ignore[assignment]
        default_factory=list, max_length=MAX_RULES
    )
