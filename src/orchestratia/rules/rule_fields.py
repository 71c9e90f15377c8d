"""What the matcher reads of a rule and a rule set (``rules.matching``), as types only.

An ``ApprovalRule`` and a ``RuleSet`` have these fields; so do the rules a hook reads from a
cache file the daemon checked (``agent.approvals.cached_rules``), without pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from orchestratia.protocol.approvals import PatternSyntax, RuleAction, RuleScope


class RuleFields(Protocol):
    """What the matcher reads of a rule: an ``ApprovalRule`` or the same fields from a cache."""

    id: str
    name: str
    pattern_syntax: PatternSyntax
    tool_pattern: str
    param_pattern: str | None
    action: RuleAction
    scope: RuleScope
    scope_id: str | None
    agent_filter: list[str] | None
    is_active: bool
    priority: int
    expires_at: datetime | None


class RuleSetFields(Protocol):
    """What the matcher reads of a ``RuleSet``."""

    @property
    def version(self) -> int: ...
    @property
    def rules(self) -> Sequence[RuleFields]: ...
