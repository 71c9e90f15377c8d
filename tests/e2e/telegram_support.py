"""Telegram end to end: the hub's notification rows written into its database as the event
dispatcher writes them (one ``IntegrationEvent`` and one ``Notification`` for a person, channel
``telegram``), so the Telegram worker has something to send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from orchestratia.hub.db.integration_models import IntegrationEvent, Notification
from orchestratia.hub.db.models import User
from orchestratia.hub.services.integrations.events import new_event_id
from tests.e2e.processes import HubProcess


def notify(hub: HubProcess, project_id: str, email: str, type: str, data: dict[str, Any]) -> str:
    """Queue ``type`` for ``email`` over Telegram; the event's id."""
    engine = create_engine(f"sqlite:///{hub.data_dir / 'hub.db'}")
    now = datetime.now(UTC)
    try:
        with Session(engine) as db:
            user = db.scalar(select(User).where(User.email == email))
            assert user is not None, email
            event = IntegrationEvent(
                id=new_event_id(),
                tenant_id=user.tenant_id,
                project_id=project_id,
                type=type,
                data=data,
                created_at=now,
            )
            db.add(event)
            db.flush()
            db.add(
                Notification(
                    tenant_id=user.tenant_id,
                    user_id=user.id,
                    event_id=event.id,
                    channel="telegram",
                    status="pending",
                    attempts=0,
                    next_attempt_at=now - timedelta(seconds=1),
                    created_at=now,
                )
            )
            db.commit()
            return event.id
    finally:
        engine.dispose()


def approval_event(item: dict[str, Any], project_id: str) -> dict[str, Any]:
    """``approval.requested`` data for an inbox ``tool_approval`` item."""
    return {
        "approval": {
            "id": item["id"],
            "project_id": project_id,
            "server_id": item.get("server_id") or "",
            "session_id": item.get("session_id"),
            "agent": item.get("agent"),
            "tool": item["title"],
            "main_param": item.get("detail") or None,
            "status": "pending",
            "created_at": item["created_at"],
            "expires_at": item.get("expires_at"),
        }
    }


def intervention_event(item: dict[str, Any], project_id: str) -> dict[str, Any]:
    """``intervention.created`` data for an inbox intervention item."""
    return {
        "intervention": {
            "id": item["id"],
            "project_id": project_id,
            "task_id": item.get("task_id"),
            "session_id": item.get("session_id"),
            "type": item.get("type", "help"),
            "question": item["title"],
            "urgency": item.get("urgency", "normal"),
            "status": "pending",
            "created_at": item["created_at"],
        }
    }
