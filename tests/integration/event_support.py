"""Reading the integration event outbox and what the dispatcher made of it, and inbox decisions
for scripted flows."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from orchestratia.hub.db.integration_models import IntegrationEvent, Notification, WebhookDelivery
from orchestratia.protocol.integration_events import (
    ApprovalEventData,
    InterventionEventData,
    ServerEventData,
    SessionEventData,
    TaskEventData,
    WebhookPayload,
)
from tests.integration.running_hub import RunningHub
from tests.support import wait_until

M = TypeVar("M")

# The payload model each event type must carry, by the part of the type before the dot.
DATA_MODELS: dict[str, type[Any]] = {
    "task": TaskEventData,
    "intervention": InterventionEventData,
    "session": SessionEventData,
    "server": ServerEventData,
    "approval": ApprovalEventData,
}


async def decide(
    admin: httpx.AsyncClient, kind: str, item_id: str, action: str, **extra: Any
) -> dict[str, Any]:
    """One inbox decision; its result, which must be ``applied``."""
    decision = {"kind": kind, "id": item_id, "decision_id": str(uuid.uuid4()), "action": action}
    res = await admin.post("/api/v1/inbox/decisions", json={"decisions": [decision | extra]})
    assert res.status_code == 200, res.text
    result: dict[str, Any] = res.json()["results"][0]
    assert result["outcome"] == "applied", result
    return result


async def events(hub: RunningHub, *types: str) -> list[IntegrationEvent]:
    """Recorded events (of ``types``, if given), in dispatch order."""
    async with hub.state.sessionmaker() as db:
        query = select(IntegrationEvent).order_by(IntegrationEvent.created_at, IntegrationEvent.id)
        if types:
            query = query.where(IntegrationEvent.type.in_(types))
        return list(await db.scalars(query))


def payload(event: IntegrationEvent) -> WebhookPayload:
    """The webhook body of ``event``, validated, with data of the model its type names."""
    body = WebhookPayload.model_validate(
        {"type": event.type, "timestamp": event.created_at, "data": event.data}
    )
    assert isinstance(body.data, DATA_MODELS[event.type.split(".")[0]]), event.type
    return body


async def data_of(hub: RunningHub, model: type[M], *types: str) -> list[M]:
    """The validated payloads of the events of ``types`` (all carrying ``model``), in order."""
    found: list[M] = []
    for event in await events(hub, *types):
        data = payload(event).data
        assert isinstance(data, model), event.type
        found.append(data)
    return found


async def wait_for_types(hub: RunningHub, wanted: Collection[str]) -> list[IntegrationEvent]:
    """Every event so far, once events of all ``wanted`` types are among them."""

    async def probe() -> list[IntegrationEvent] | None:
        rows = await events(hub)
        return rows if set(wanted) <= {e.type for e in rows} else None

    seen: list[IntegrationEvent] = await wait_until(
        probe, timeout=15, message=f"events of types {sorted(wanted)}"
    )
    return seen


async def wait_dispatched(hub: RunningHub) -> list[IntegrationEvent]:
    """Every event, once the hub's dispatcher has taken them all."""

    async def probe() -> list[IntegrationEvent] | None:
        rows = await events(hub)
        return rows if rows and all(e.dispatched_at is not None for e in rows) else None

    done: list[IntegrationEvent] = await wait_until(probe, timeout=15, message="all dispatched")
    return done


async def deliveries(hub: RunningHub) -> list[WebhookDelivery]:
    async with hub.state.sessionmaker() as db:
        return list(await db.scalars(select(WebhookDelivery)))


async def notifications(hub: RunningHub) -> list[Notification]:
    async with hub.state.sessionmaker() as db:
        return list(await db.scalars(select(Notification)))
