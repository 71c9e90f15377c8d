"""Approval rules and the permission log (SPEC §2, §8): REST bodies, the rule set the daemon
caches, and the permission-log entries hooks write. Shapes only: what a pattern means and whether
it compiles is ``orchestratia.rules.patterns``, which also holds the checked variants of these
models (``CheckedRule``, ``CheckedRuleCreate``, ``CheckedRuleSet``) that the hub and the daemon
validate rules with.

Rule bodies are strict: a newer hub sending a field this daemon does not understand (a condition
that narrows an ``allow``, say) must make the rule set unreadable - and so everything ``ask`` -
rather than be silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from orchestratia.protocol.base import Frame
from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import JsonObject, NotBlank, StrictBody

RuleAction = Literal["allow", "deny", "ask"]
# ``session`` rules come from the inbox ("allow this for this session for N minutes"): their
# scope_id is the session id and they carry ``expires_at``.
RuleScope = Literal["tenant", "project", "server", "session"]
PatternSyntax = Literal["glob", "regex"]
PermissionDecision = Literal["allowed", "denied", "asked"]
DecidedBy = Literal["rule", "user", "timeout", "default"]

MAX_PATTERN = 1_000
MAX_RULES = 10_000
MAX_BATCH = 500
MAX_TOOL_INPUT_CHARS = 16_000
AGENT_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
RuleId = Field(min_length=1, max_length=64)


def _agents(value: Any) -> Any:
    """Accept ``"claude, codex"`` as well as ``["claude", "codex"]``; empty means every agent."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list):
        value = [v.strip().lower() if isinstance(v, str) else v for v in value]
        value = [v for v in value if v != ""] or None
    return value


class _RuleFields(StrictBody):
    # pattern_syntax comes before the patterns so their validators can read it.
    name: str = Field(min_length=1, max_length=200)
    pattern_syntax: PatternSyntax = "glob"
    tool_pattern: str = Field(min_length=1, max_length=MAX_PATTERN)
    param_pattern: str | None = Field(default=None, min_length=1, max_length=MAX_PATTERN)
    action: RuleAction
    scope: RuleScope = "tenant"
    scope_id: str | None = Field(default=None, min_length=1, max_length=64)
    agent_filter: list[str] | None = Field(default=None, max_length=20)
    is_active: bool = True
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)

    _agent_list = field_validator("agent_filter", mode="before")(_agents)

    @field_validator("agent_filter")
    @classmethod
    def _agent_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not re.match(AGENT_NAME, name):
                raise ValueError(f"agent names are short lowercase words, not {name!r}")
        return value

    @model_validator(mode="after")
    def _scope_target(self) -> _RuleFields:
        # A tenant rule's scope_id is not consulted (the hub may store the tenant id there).
        if self.scope != "tenant" and self.scope_id is None:
            raise ValueError(f"scope_id must name the {self.scope} of a {self.scope}-scoped rule")
        return self


class ApprovalRuleCreate(_RuleFields):
    """A new rule from the dashboard; a bad regex is a 422 naming ``tool_pattern`` or
    ``param_pattern``."""

    # Not on _RuleFields: a stored rule named before blank names were refused must still load.
    name: Annotated[str, Field(min_length=1, max_length=200), NotBlank]


class ApprovalRule(_RuleFields):
    """A stored rule as the hub serves it and the daemon caches it. Past ``expires_at`` the
    rule no longer applies, whether or not a fresher rule set has arrived."""

    id: str = RuleId
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A naive time cannot be compared with "now"; the hub always sends UTC.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


RuleT = TypeVar("RuleT", bound=ApprovalRule)


class ApprovalRuleUpdate(StrictBody):
    """A partial change. Patterns are only checkable against the syntax the rule ends up with,
    so the service must call ``merged`` (which re-validates the whole rule) before storing."""

    name: Annotated[str, Field(min_length=1, max_length=200), NotBlank] | None = None
    pattern_syntax: PatternSyntax | None = None
    tool_pattern: str | None = Field(default=None, min_length=1, max_length=MAX_PATTERN)
    param_pattern: str | None = Field(default=None, min_length=1, max_length=MAX_PATTERN)
    action: RuleAction | None = None
    scope: RuleScope | None = None
    scope_id: str | None = Field(default=None, min_length=1, max_length=64)
    agent_filter: list[str] | None = Field(default=None, max_length=20)
    is_active: bool | None = None
    priority: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)

    _agent_list = field_validator("agent_filter", mode="before")(_agents)

    def merged(self, current: RuleT) -> RuleT:
        """``current`` with the fields this update set (an explicit null clears an optional
        field); raises ``pydantic.ValidationError`` naming the offending field."""
        data = current.model_dump()
        data.update(self.model_dump(exclude_unset=True))
        # Validated as the class it came as: a checked rule stays checked (``rules.patterns``).
        return type(current).model_validate(data)


class RuleSet(StrictBody):
    """What the daemon caches: every rule of the tenant it may need, with a version that only
    grows, so a stale push never replaces a newer cache."""

    version: NonNegInt32
    rules: list[ApprovalRule] = Field(default_factory=list, max_length=MAX_RULES)


class ApprovalRulesUpdatedFrame(Frame):
    """Hub -> daemon: the tenant's rules changed; fetch ``GET /api/v1/server/approval-rules``
    unless the cached set is already at ``version`` or newer."""

    type: Literal["approval_rules_updated"] = "approval_rules_updated"
    version: NonNegInt32


def _loggable(text: str) -> str:
    # PostgreSQL refuses NUL, and JSON parsers refuse lone surrogates: neither may stall a batch.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _clip(value: Any, max_chars: int, max_items: int, depth: int) -> Any:
    if isinstance(value, str):
        cut = len(value) - max_chars
        return _loggable(value if cut <= 0 else f"{value[:max_chars]}… [{cut} more characters]")
    if depth <= 0 and isinstance(value, dict | list):
        return "…"
    if isinstance(value, dict):
        return {
            _loggable(str(k)[: min(max_chars, 200)]): _clip(v, max_chars, max_items, depth - 1)
            for k, v in list(value.items())[:max_items]
        }
    if isinstance(value, list):
        return [_clip(v, max_chars, max_items, depth - 1) for v in value[:max_items]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _loggable(str(value))


def clip_tool_input(tool_input: Mapping[str, Any]) -> JsonObject:
    """A bounded, storable copy of tool input for the permission log (redact secrets first):
    long strings are cut with a note of how much, long lists and objects keep their first
    items, deep nesting is elided, NUL and lone surrogates are replaced. The result always
    passes ``PermissionDecisionEntry``, so one odd tool call can never stall a log batch."""
    for max_chars, max_items in ((2_000, 50), (300, 20), (40, 8)):
        clipped: JsonObject = _clip(dict(tool_input), max_chars, max_items, 4)
        if len(json.dumps(clipped, ensure_ascii=False)) <= MAX_TOOL_INPUT_CHARS:
            return clipped
    return {"clipped": "tool input too large to log"}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class PermissionDecisionEntry(StrictBody):
    """One pre-tool-use decision. ``id`` is chosen by the daemon so a batch re-sent after a lost
    reply is stored once. ``tool_input`` arrives already redacted and clipped."""

    id: str = RuleId
    session_id: str = Field(min_length=1, max_length=64)
    project_id: str | None = Field(default=None, min_length=1, max_length=64)
    agent: str = Field(pattern=AGENT_NAME)
    tool: str = Field(min_length=1, max_length=256)
    tool_input: JsonObject = Field(default_factory=dict)
    decision: PermissionDecision
    matched_rule_id: str | None = Field(default=None, min_length=1, max_length=64)
    decided_by: DecidedBy
    reason: str = Field(default="", max_length=2_000)
    created_at: datetime

    @field_validator("tool_input")
    @classmethod
    def _bounded(cls, value: JsonObject) -> JsonObject:
        if len(json.dumps(value, ensure_ascii=False, default=str)) > MAX_TOOL_INPUT_CHARS:
            raise ValueError(f"tool_input is larger than {MAX_TOOL_INPUT_CHARS} characters")
        if _has_nul(value):
            raise ValueError("tool_input must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _rule_named(self) -> PermissionDecisionEntry:
        if self.decided_by == "rule" and self.matched_rule_id is None:
            raise ValueError("matched_rule_id is required when decided_by is 'rule'")
        return self


class PermissionLogBatch(StrictBody):
    entries: list[PermissionDecisionEntry] = Field(min_length=1, max_length=MAX_BATCH)
