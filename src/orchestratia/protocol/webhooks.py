"""Webhook endpoints and their delivery log as the REST API and the Webhooks page speak them.

What can be checked without the hub is checked here: the URL's shape (http(s), a host, no
credentials in it, at most 2,048 characters), the event filter (known types only, no
duplicates) and the sizes of every field. Whether the URL's host is an address the hub may
send to is the hub's check (it resolves the name)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, field_validator

from orchestratia.protocol.integration_events import EVENT_TYPES, EventType
from orchestratia.protocol.rest import StrictBody

MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 200
# The longest a rotation keeps the old secret signing too, so receivers can switch over.
MAX_OVERLAP_HOURS = 72
DeliveryStatus = Literal["pending", "succeeded", "failed"]
DELIVERY_PAGE_MAX = 200


def check_webhook_url(url: str) -> str:
    """The URL as given, if its shape is one the hub sends to."""
    if url != url.strip() or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("must name a host, like https://hooks.example.com/orchestratia")
    if parts.username is not None or parts.password is not None:
        # They would sit in the database and the log in the clear; the signature is the
        # receiver's proof that the hub sent the request.
        raise ValueError("must not contain a user name or password; the signature authenticates")
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    if parts.fragment:
        raise ValueError("must not contain a #fragment (it is never sent)")
    return url


WebhookUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(check_webhook_url)
]


def check_event_filter(value: Any) -> Any:
    """Name the first unknown or repeated event type; the types themselves are checked after."""
    if not isinstance(value, list):
        return value
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            continue
        if item not in EVENT_TYPES:
            raise ValueError(f"{item[:60]!r} is not an event type; known: {', '.join(EVENT_TYPES)}")
        if item in seen:
            raise ValueError(f"names {item!r} twice")
        seen.add(item)
    return value


class _EventFilter(StrictBody):
    _known_events = field_validator("events", mode="before", check_fields=False)(check_event_filter)


class WebhookCreate(_EventFilter):
    project_id: str = Field(min_length=1, max_length=64)
    url: WebhookUrl
    # The event types to send; empty means every type, including ones added later.
    events: list[EventType] = Field(default_factory=list, max_length=len(EVENT_TYPES))
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    # Deliver one event at a time, in order (a slow or failing endpoint then holds the rest).
    ordered: bool = False
    enabled: bool = True


class WebhookUpdate(_EventFilter):
    """Fields left out stay as they are. ``enabled: true`` also re-enables an endpoint the hub
    disabled after sustained failure."""

    url: WebhookUrl | None = None
    events: list[EventType] | None = Field(default=None, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    ordered: bool | None = None
    enabled: bool | None = None


class SecretRotate(StrictBody):
    # How long the old secret keeps signing beside the new one (0: it stops at once).
    overlap_hours: int = Field(default=24, ge=0, le=MAX_OVERLAP_HOURS)


class WebhookPublic(BaseModel):
    id: str
    project_id: str
    project_name: str
    url: str
    description: str
    events: list[EventType]
    enabled: bool
    ordered: bool
    created_at: datetime
    updated_at: datetime
    # Until when the previous secret still signs after a rotation; None when it does not.
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    # The newest delivery's status and HTTP status, for the endpoint's health at a glance.
    last_delivery_status: DeliveryStatus | None = None
    last_delivery_at: datetime | None = None
    last_status_code: int | None = None


class WebhookCreated(WebhookPublic):
    # ``whsec_…``: shown in this answer only; the hub keeps it sealed and never shows it again.
    secret: str


class SecretRotated(BaseModel):
    id: str
    secret: str  # the new one, shown this once
    previous_secret_expires_at: datetime | None


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]


class DeliveryQuery(BaseModel):
    """A page of an endpoint's deliveries, newest first; ``before`` is the ``next_before`` of
    the previous page."""

    status: DeliveryStatus | None = None
    limit: int = Field(default=50, ge=1, le=DELIVERY_PAGE_MAX)
    before: str | None = Field(default=None, min_length=1, max_length=64)


class DeliveryPublic(BaseModel):
    id: str
    endpoint_id: str
    event_id: str  # the ``webhook-id`` header of every attempt
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None  # None once the delivery ended
    give_up_at: datetime
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None = None
    created_at: datetime
    completed_at: datetime | None


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryPublic]
    next_before: str | None


class AttemptPublic(BaseModel):
    number: int
    started_at: datetime
    latency_ms: int | None
    status_code: int | None
    ok: bool
    error: str | None
    response_excerpt: str | None


class DeliveryDetail(DeliveryPublic):
    attempts_log: list[AttemptPublic]


class RedeliverResult(BaseModel):
    queued: int  # deliveries that will be attempted again now


class WebhookTestResult(BaseModel):
    """What the receiver made of a test event (its one attempt, also in the delivery log)."""

    delivery_id: str
    event_id: str
    ok: bool
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
