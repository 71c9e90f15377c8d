"""Rule sets in use: what a daemon caches, the dashboard's "would this match?" tester (the same
``RuleMatcher`` the hook runs) and the session rules an inbox answer creates."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ApprovalRule as RuleRow
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Forbidden, Invalid, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.approvals.rules import (
    NOT_FOUND,
    applicable,
    bump_version,
    sees_tenant_rules,
    to_wire,
    version,
)
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.protocol.approval_api import RuleTestRequest, RuleTestResult
from orchestratia.protocol.approvals import MAX_PATTERN, RuleSet
from orchestratia.rules.matching import SHELL_TOOLS, RuleMatcher, main_parameters
from orchestratia.rules.patterns import escape_glob

TOOL_PATTERN_COLUMN = 1_000  # approval_rules.tool_pattern
RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def re2_literal(text: str) -> str:
    """RE2 source matching ``text`` literally. Not ``re.escape``: it also escapes spaces and
    other characters in ways RE2 need not accept."""
    return "".join(f"\\{ch}" if ch in RE2_SPECIAL else ch for ch in text)


async def for_server(db: AsyncSession, server: Server) -> RuleSet:
    """Every rule that can apply on ``server``: the tenant's, its project's, its own, and the
    unexpired session rules of its sessions; at the tenant's current version."""
    sessions = select(TerminalSession.id).where(TerminalSession.server_id == server.id)
    where = applicable(server.tenant_id, server.project_id, server.id, sessions, utcnow())
    # Read the version first: a change committed in between then shows up as a newer version
    # later, never as a stale set labelled with the new number.
    current = await version(db, server.tenant_id)
    rows = await db.scalars(select(RuleRow).where(where).order_by(RuleRow.id))
    return RuleSet(version=current, rules=[to_wire(r) for r in rows])


async def _context(
    db: AsyncSession, caller: Caller, body: RuleTestRequest
) -> tuple[str | None, str | None, str | None]:
    """(project, server, session) of a tested call, each implied by the narrower one; every id
    must be the caller's to see, and they must agree with each other."""
    session_id, server_id, project_id = body.session_id, body.server_id, body.project_id
    if session_id is not None:
        session = await db.get(TerminalSession, session_id)
        if session is None or session.tenant_id != caller.tenant_id:
            raise NotFound("session not found")
        if server_id is not None and server_id != session.server_id:
            raise Invalid("session_id: that session is not on server_id")
        server_id = session.server_id
    if server_id is not None:
        server = await db.get(Server, server_id)
        if server is None or server.tenant_id != caller.tenant_id:
            raise NotFound("server not found")
        if project_id is not None and project_id != server.project_id:
            raise Invalid("server_id: that server is not in project_id")
        project_id = server.project_id
    if project_id is not None:
        assert caller.principal is not None
        await access(db, caller.principal, project_id)
    return project_id, server_id, session_id


async def test(db: AsyncSession, caller: Caller, body: RuleTestRequest) -> RuleTestResult:
    """What the hook would decide for this call with the rules as they are now."""
    if caller.principal is None:
        raise Forbidden("the rule tester is for people")
    if not await sees_tenant_rules(db, caller.principal):
        raise NotFound(NOT_FOUND)  # its answers would name rules they may not see
    project_id, server_id, session_id = await _context(db, caller, body)
    now = utcnow()
    where = applicable(caller.tenant_id, project_id, server_id, [session_id or ""], now)
    rows = (await db.scalars(select(RuleRow).where(where))).all()
    names = {r.id: r.name for r in rows}
    matcher = RuleMatcher(RuleSet(version=0, rules=[to_wire(r) for r in rows]))
    verdict = matcher.decide(
        body.agent, body.tool, body.tool_input, server_id, project_id, session_id, now
    )
    return RuleTestResult(
        action=verdict.action,
        rule_id=verdict.rule_id,
        rule_name=names.get(verdict.rule_id or ""),
        reason=verdict.reason,
        decided_by=verdict.decided_by,
    )


def allow_patterns(tool: str, tool_input: dict[str, object]) -> tuple[str, str | None, str] | None:
    """(tool_pattern, param_pattern, syntax) allowing exactly this tool and main parameter, or
    None when they are too long to be a rule. One main value becomes an escaped glob; several
    (a patch touching three files) an anchored RE2 alternation, which an allow rule requires
    every value to match."""
    values = main_parameters(tool, tool_input)
    if values is not None and tool in SHELL_TOOLS:  # the matcher compares trimmed commands
        values = tuple(v.strip() for v in values)
    if values is None or len(values) == 1:
        syntax, tool_pattern = "glob", escape_glob(tool)
        param = escape_glob(values[0]) if values else None
    else:
        syntax, tool_pattern = "regex", f"\\A{re2_literal(tool)}\\z"
        param = "(?s)\\A(?:" + "|".join(re2_literal(v) for v in values) + ")\\z"
    if len(tool_pattern) > min(MAX_PATTERN, TOOL_PATTERN_COLUMN):
        return None
    if param is not None and len(param) > MAX_PATTERN:
        return None
    return tool_pattern, param, syntax


async def add_session_allow(
    db: AsyncSession,
    caller: Caller,
    *,
    session: TerminalSession,
    tool: str,
    tool_input: dict[str, object],
    minutes: int,
    approval_id: str,
) -> RuleRow | None:
    """In the caller's transaction (no commit): a rule allowing this tool and main parameter in
    ``session`` for ``minutes``, audited, with the rule-set version bumped. None when the call
    cannot be expressed as a rule (its main parameter is too long)."""
    patterns = allow_patterns(tool, tool_input)
    if patterns is None:
        return None
    tool_pattern, param_pattern, syntax = patterns
    now = utcnow()
    row = RuleRow(
        id=new_id(),
        tenant_id=session.tenant_id,
        name=f"Inbox: allow {tool} for {minutes} min"[:200],
        tool_pattern=tool_pattern,
        param_pattern=param_pattern,
        pattern_syntax=syntax,
        action="allow",
        scope="session",
        scope_id=session.id,
        session_id=session.id,
        agent_filter=[],
        is_active=True,
        priority=0,
        expires_at=now + timedelta(minutes=minutes),
        created_by=caller.name,
        created_at=now,
        updated_at=now,
    )
    to_wire(row)  # the patterns must compile exactly as the hook will compile them
    db.add(row)
    await db.flush()
    new_version = await bump_version(db, session.tenant_id)
    await audit.record(
        db,
        caller.actor,
        "approval_rule.created",
        tenant_id=session.tenant_id,
        project_id=session.project_id,
        target_type="approval_rule",
        target_id=row.id,
        details={
            "name": row.name,
            "scope": "session",
            "version": new_version,
            "approval_id": approval_id,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        },
    )
    return row
