"""What the hub tells other tools: the event outbox, webhook endpoints with their delivery log,
Telegram bots and the links of users to chats, and per-user notifications.

``IntegrationEvent`` rows are written in the transaction of the change they describe, so an
event exists exactly when its change committed; a dispatcher fans each one out to the
endpoints and users that want it (``WebhookDelivery``, ``Notification``), and workers on any
hub replica deliver those, each attempt claimed by one replica through a lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _id, _tenant
from orchestratia.hub.db.types import UTCDateTime


class IntegrationEvent(Base):
    """One event (``task.created``, ``approval.requested``, …) as webhooks and notifications
    carry it. ``id`` is the ``webhook-id`` on every attempt of every endpoint."""

    __tablename__ = "integration_events"
    __table_args__ = (Index("ix_integration_events_pending", "dispatched_at", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_<uuid hex>
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _created()
    # Set once the dispatcher made this event's deliveries and notifications.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Event types this endpoint receives; empty means every type.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The receiver asked for order: an event waits until the endpoint's earlier ones ended.
    ordered: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_sealed: Mapped[str] = mapped_column(Text)
    # After a rotation both secrets sign until ``previous_secret_expires_at``.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The first failure of the current run of failures; None while the endpoint answers.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """The attempt series of one event to one endpoint: the same ``webhook-id`` every time."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(
        ForeignKey("integration_events.id", ondelete="CASCADE"), index=True
    )
    # pending → succeeded | failed (retries exhausted or endpoint disabled)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _created()
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The replica that claimed the next attempt, until when; another may take it after.
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookAttempt(Base):
    """One HTTP request of a delivery, for the delivery log."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = _created()
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    response_excerpt: Mapped[str | None] = mapped_column(Text, default=None)
    replica: Mapped[str | None] = mapped_column(String(64), default=None)


class TelegramBot(Base):
    """A project's Telegram bot. The token is sealed; one replica at a time polls it."""

    __tablename__ = "telegram_bots"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    token_sealed: Mapped[str] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    # "polling" (getUpdates) or "webhook" (Telegram posts to the hub's public URL).
    mode: Mapped[str] = mapped_column(String(16), default="polling")
    # The secret_token Telegram sends back in webhook mode (SHA-256 kept; compared on receipt).
    webhook_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    update_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    poll_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    poll_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()


class TelegramLink(Base):
    """A user's Telegram chat with a project's bot; only linked chats can do anything."""

    __tablename__ = "telegram_links"
    __table_args__ = (UniqueConstraint("bot_id", "user_id"), UniqueConstraint("chat_id", "bot_id"))
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    bot_id: Mapped[str] = mapped_column(ForeignKey("telegram_bots.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    telegram_username: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = _created()


class TelegramLinkCode(Base):
    """A one-time code a user sends the bot (``/start <code>``) to link their chat."""

    __tablename__ = "telegram_link_codes"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    bot_id: Mapped[str] = mapped_column(ForeignKey("telegram_bots.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class TelegramMessage(Base):
    """A message the bot sent about an inbox item, so a reply to it or a tap on its buttons
    finds the item (``kind``: intervention or approval)."""

    __tablename__ = "telegram_messages"
    __table_args__ = (UniqueConstraint("bot_id", "chat_id", "message_id"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    bot_id: Mapped[str] = mapped_column(ForeignKey("telegram_bots.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = _created()


class Notification(Base):
    """One event for one user over one channel (telegram, email), retried a few times."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id", "channel"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(
        ForeignKey("integration_events.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _created()
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class NotificationPreference(Base):
    """Which event types reach a user over a channel; no row means the channel's defaults."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "channel"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = _created()
