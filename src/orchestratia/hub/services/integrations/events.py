"""Recording integration events in the transaction of the change they describe (the outbox).

``emit`` only adds a row: the event exists if and only if its change commits, and nothing is
sent from inside the transaction. The dispatcher (``dispatch``) turns committed events into
webhook deliveries and user notifications."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import IntegrationEvent
from orchestratia.hub.db.types import utcnow
from orchestratia.protocol.integration_events import EventType


def new_event_id() -> str:
    """A Standard Webhooks message id (``msg_`` + 32 hex digits)."""
    return f"msg_{uuid.uuid4().hex}"


def emit(
    db: AsyncSession, tenant_id: str, project_id: str, type: EventType, data: BaseModel
) -> IntegrationEvent:
    """Record ``type`` for ``project_id`` in ``db``'s transaction."""
    event = IntegrationEvent(
        id=new_event_id(),
        tenant_id=tenant_id,
        project_id=project_id,
        type=type,
        data=data.model_dump(mode="json"),
        created_at=utcnow(),
    )
    db.add(event)
    return event
