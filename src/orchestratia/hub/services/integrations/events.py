"""Recording integration events in the transaction of the change they describe (the outbox).

``emit`` only adds a row: the event exists if and only if its change commits, and nothing is
sent from inside the transaction. The dispatcher (``dispatch``) turns committed events into
webhook deliveries and user notifications.

Waking the dispatcher: a session made by a sessionmaker passed to ``wake_on_commit`` sets the
hub's ``integrations_due`` after a commit that recorded events, whichever path committed it
(``transaction.run``, an assignment pass, a sweep, a service that commits itself); a rollback
forgets them. Without a wake-up the dispatcher still finds them at its next poll."""

from __future__ import annotations

import asyncio
import os
import time

from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from orchestratia.hub.db.integration_models import IntegrationEvent
from orchestratia.hub.db.types import utcnow
from orchestratia.protocol.integration_events import EventType

# Keys in ``Session.info``: the event to set, and whether this transaction recorded events.
WAKE = "orchestratia.integrations_due"
EMITTED = "orchestratia.integration_events"


def new_event_id() -> str:
    """A Standard Webhooks message id: ``msg_`` + 32 hex digits, the first 16 the time in ns,
    so ids of one process sort in the order the events were recorded (ties of ``created_at``
    within a transaction keep their order through the dispatcher)."""
    return f"msg_{time.time_ns():016x}{os.urandom(8).hex()}"


def emit(
    db: AsyncSession, tenant_id: str, project_id: str, type: EventType, data: BaseModel
) -> IntegrationEvent:
    """Record ``type`` for ``project_id`` in ``db``'s transaction."""
    row = IntegrationEvent(
        id=new_event_id(),
        tenant_id=tenant_id,
        project_id=project_id,
        type=type,
        data=data.model_dump(mode="json"),
        created_at=utcnow(),
    )
    db.add(row)
    db.info[EMITTED] = True
    return row


def wake_on_commit(sessionmaker: async_sessionmaker[AsyncSession], due: asyncio.Event) -> None:
    """Have every session of ``sessionmaker`` set ``due`` once it commits events."""
    sessionmaker.configure(info={WAKE: due})


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(EMITTED, False):
        due = session.info.get(WAKE)
        if isinstance(due, asyncio.Event):
            due.set()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(EMITTED, None)
