"""The inbox API (docs/approvals.md): list what waits for a person; decide, singly or in bulk."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from orchestratia.hub.actions import approvals
from orchestratia.hub.api.callers import UserCallerDep
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.services.inbox import items as inbox
from orchestratia.protocol.inbox import DecisionResult, DecisionResults, InboxKind, InboxList
from orchestratia.protocol.rest import StrictBody

router = APIRouter(tags=["inbox"])
OptionalId = Annotated[str | None, Query(max_length=64)]


class DecisionIn(StrictBody):
    kind: InboxKind
    id: str = Field(min_length=1, max_length=64)
    decision_id: str = Field(min_length=8, max_length=64)
    action: Literal["approve", "deny", "respond", "acknowledge"]
    response: str | None = Field(default=None, max_length=20_000)
    feedback: str | None = Field(default=None, max_length=20_000)
    allow_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    # For plan reviews: the assignment epoch the reviewer saw; a newer one refuses the decision.
    epoch: int | None = Field(default=None, ge=0)


class DecisionsIn(StrictBody):
    decisions: list[DecisionIn] = Field(min_length=1, max_length=200)


@router.get("/api/v1/inbox", dependencies=[needs("tasks:read")])
async def list_inbox(
    caller: UserCallerDep,
    db: SessionDep,
    project_id: OptionalId = None,
    server_id: OptionalId = None,
    session_id: OptionalId = None,
    kind: Annotated[InboxKind | None, Query()] = None,
) -> InboxList:
    filters = inbox.Filters(project_id, server_id, session_id, kind)
    return InboxList.model_validate({"items": await inbox.pending(db, caller, filters)})


@router.post("/api/v1/inbox/decisions", dependencies=[needs("tasks:write")])
async def decide(
    body: DecisionsIn, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> DecisionResults:
    """Each decision commits on its own, so one refused item never undoes the others."""
    decisions = [inbox.Decision(**item.model_dump()) for item in body.decisions]
    outcomes = await approvals.decide(db, hub, caller, decisions)
    return DecisionResults(
        results=[
            DecisionResult(id=item.id, decision_id=item.decision_id, outcome=outcome, detail=detail)
            for item, (outcome, detail) in zip(body.decisions, outcomes, strict=True)
        ]
    )
