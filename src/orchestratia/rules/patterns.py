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

from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator

from orchestratia.protocol.approvals import (
    MAX_RULES,
    ApprovalRule,
    ApprovalRuleCreate,
    RuleSet,
)
from orchestratia.rules.pattern_engine import compile_pattern as compile_pattern
from orchestratia.rules.pattern_engine import escape_glob as escape_glob
from orchestratia.rules.pattern_engine import glob_to_re2 as glob_to_re2

if TYPE_CHECKING:
    from orchestratia.rules.pattern_engine import CompiledPattern as CompiledPattern


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
