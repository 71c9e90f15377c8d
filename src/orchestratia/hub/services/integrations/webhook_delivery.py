"""Webhook deliveries in the database: which are due, what an attempt came to, when the
endpoint is given up on, and the owner's redelivery and test events.

A delivery is one event's attempt series to one endpoint; every attempt carries the event's id
as ``webhook-id``. Attempts are claimed through ``leases`` (one replica per attempt) and their
outcome recorded with ``record`` in one transaction: the attempt row for the log, the
delivery's next state, and the endpoint's health. Nothing here commits or talks to the
network; ``hub.actions.webhook_worker`` does both."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, and_, exists, not_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.sealing import Keyring, SealingError
from orchestratia.hub.services import audit
from orchestratia.hub.services.integrations import leases, retry, signing
from orchestratia.hub.services.integrations.events import new_event_id
from orchestratia.hub.services.integrations.webhook_http import AttemptResult
from orchestratia.hub.settings import HubSettings
from orchestratia.protocol.dashboard_events import WebhookDisabled

log = logging.getLogger(__name__)
TEST_EVENT = "webhook.test"
DISABLED = "endpoint disabled"
SYSTEM = audit.Actor("system", "webhook-delivery")
_timestamp: TypeAdapter[datetime] = TypeAdapter(datetime)


def body(event: IntegrationEvent) -> bytes:
    """The request body of ``event``: ``{type, timestamp, data}`` (``WebhookPayload``) as
    compact JSON, the same bytes on every attempt."""
    payload = {
        "type": event.type,
        "timestamp": _timestamp.dump_python(event.created_at, mode="json"),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_for(
    event: IntegrationEvent, endpoint: WebhookEndpoint, give_up_at: datetime
) -> WebhookDelivery:
    """A new pending delivery of ``event`` to ``endpoint``, due now, retried until
    ``give_up_at`` (the dispatcher passes now + ``webhook_retry_window``)."""
    return WebhookDelivery(
        tenant_id=endpoint.tenant_id,
        project_id=endpoint.project_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        give_up_at=give_up_at,
    )


def lease(settings: HubSettings) -> timedelta:
    """How long a claimed attempt is this replica's: past the request's own time limit, so a
    live replica always records its outcome before another may try again."""
    return timedelta(seconds=2 * settings.webhook_timeout + 1)


def _ready() -> list[ColumnElement[bool]]:
    """Claim conditions beyond being due: the endpoint is enabled, and for an ``ordered``
    endpoint no earlier event's delivery is still pending (retrying or waiting)."""
    earlier = aliased(WebhookDelivery)
    earlier_event = aliased(IntegrationEvent)
    this_event = aliased(IntegrationEvent)
    blocked = exists(
        select(earlier.id)
        .select_from(earlier)
        .join(earlier_event, earlier_event.id == earlier.event_id)
        .join(this_event, this_event.id == WebhookDelivery.event_id)
        .where(
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.status == "pending",
            earlier.id != WebhookDelivery.id,
            or_(
                earlier_event.created_at < this_event.created_at,
                and_(
                    earlier_event.created_at == this_event.created_at,
                    earlier_event.id < this_event.id,
                ),
            ),
        )
        .correlate(WebhookDelivery)
    )
    enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(true()))
    ordered = select(WebhookEndpoint.id).where(WebhookEndpoint.ordered.is_(true()))
    return [
        WebhookDelivery.endpoint_id.in_(enabled),
        or_(WebhookDelivery.endpoint_id.not_in(ordered), not_(blocked)),
    ]


async def claim_due(
    db: AsyncSession, owner: str, settings: HubSettings, limit: int
) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due deliveries to ``owner`` (commits)."""
    return await leases.claim(
        db, WebhookDelivery, owner=owner, lease=lease(settings), limit=limit, extra=_ready()
    )


@dataclass(frozen=True)
class Request:
    """Everything one attempt sends, read while the delivery is leased."""

    delivery_id: str
    endpoint_id: str
    number: int
    url: str
    msg_id: str
    body: bytes = field(repr=False)
    # Opened just for signing; kept out of any repr so no log line can carry them.
    secrets: list[str] = field(repr=False)

    # Empty when the endpoint's secret does not open: nothing unsigned is ever sent.
    UNSIGNABLE = "the signing secret cannot be opened (the hub's operator must restore its key)"

    def headers(self, timestamp: int) -> dict[str, str]:
        return signing.signed_headers(self.secrets, self.msg_id, timestamp, self.body)


async def request_for(db: AsyncSession, keyring: Keyring, delivery: WebhookDelivery) -> Request:
    """The request of ``delivery``'s next attempt."""
    event = await db.get_one(IntegrationEvent, delivery.event_id)
    endpoint = await db.get_one(WebhookEndpoint, delivery.endpoint_id)
    return Request(
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        number=delivery.attempts + 1,
        url=endpoint.url,
        msg_id=event.id,
        body=body(event),
        secrets=_secrets(keyring, endpoint),
    )


def _secrets(keyring: Keyring, endpoint: WebhookEndpoint) -> list[str]:
    try:
        return signing.signing_secrets(keyring, endpoint, utcnow())
    except SealingError:
        # The operator's doing (a key retired too early): the attempt fails and says so.
        log.error("webhook endpoint %s: its signing secret does not open", endpoint.id)
        return []


async def record(
    db: AsyncSession,
    request: Request,
    result: AttemptResult,
    owner: str,
    settings: HubSettings,
) -> tuple[WebhookAttempt, WebhookDisabled | None] | None:
    """Record what ``owner``'s attempt came to: the attempt row, the delivery's next state
    (succeeded, retried after a backoff, or failed past its ``give_up_at``) and the endpoint's
    health. None when the lease was no longer ``owner``'s (nothing is recorded; roll back);
    otherwise the attempt and, when this failure disabled the endpoint, the dashboard notice.
    Does not commit."""
    # Finishing attempts of one endpoint take turns (row lock on PostgreSQL, the write lock on
    # SQLite, taken before anything is read): none can put a delivery back to pending after
    # another disabled the endpoint.
    await db.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == request.endpoint_id)
        .values(id=WebhookEndpoint.id)
        .execution_options(synchronize_session=False)
    )
    now = utcnow()
    delivery = await db.get_one(WebhookDelivery, request.delivery_id, populate_existing=True)
    endpoint = await db.get_one(WebhookEndpoint, request.endpoint_id, populate_existing=True)
    event_type = await db.scalar(
        select(IntegrationEvent.type).where(IntegrationEvent.id == delivery.event_id)
    )
    values: dict[str, Any] = {
        "attempts": request.number,
        "last_status_code": result.status_code,
        "last_error": result.error,
    }
    retry_at = None
    if not result.ok and endpoint.enabled:
        base, cap = settings.webhook_retry_base, settings.webhook_retry_cap
        retry_at = retry.next_attempt_at(now, request.number, base, cap, delivery.give_up_at)
    if retry_at is not None:
        values.update(status="pending", next_attempt_at=retry_at)
    else:
        status = "succeeded" if result.ok else "failed"
        error = result.error if result.ok or endpoint.enabled else f"{DISABLED}; {result.error}"
        values.update(status=status, completed_at=now, last_error=error)
    if not await leases.release(db, WebhookDelivery, delivery.id, owner, **values):
        return None
    attempt = WebhookAttempt(
        tenant_id=delivery.tenant_id,
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        number=request.number,
        started_at=result.started_at,
        latency_ms=result.latency_ms,
        status_code=result.status_code,
        ok=result.ok,
        error=result.error,
        response_excerpt=result.response_excerpt,
        replica=owner,
    )
    db.add(attempt)
    notice = None
    if event_type != TEST_EVENT:  # a test event says nothing about the endpoint's health
        notice = await _track_health(db, endpoint, result.ok, now, settings)
    await db.flush()
    return attempt, notice


async def _track_health(
    db: AsyncSession,
    endpoint: WebhookEndpoint,
    ok: bool,
    now: datetime,
    settings: HubSettings,
) -> WebhookDisabled | None:
    """Start or end the endpoint's run of failures; disable it once the run lasted
    ``webhook_disable_after``."""
    if ok:
        endpoint.failing_since = None
        return None
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        return None
    failing_for = now - endpoint.failing_since
    if not endpoint.enabled or failing_for < timedelta(seconds=settings.webhook_disable_after):
        return None
    reason = (
        f"no successful delivery since {endpoint.failing_since.isoformat(timespec='seconds')}; "
        "re-enable the endpoint once the receiver works"
    )
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    endpoint.updated_at = now
    failed: Any = await db.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error=DISABLED, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    await audit.record_on(
        db,
        SYSTEM,
        "webhook.disabled",
        "webhook_endpoint",
        endpoint,
        details={
            "url": endpoint.url,
            "failing_since": endpoint.failing_since.isoformat(),
            "deliveries_failed": failed.rowcount,
        },
    )
    return WebhookDisabled(endpoint_id=endpoint.id, url=endpoint.url, reason=reason)


# --- what the owner asks for (called by the webhook API's actions) -------------------------------


def redeliver(db: AsyncSession, delivery: WebhookDelivery, window: timedelta | None = None) -> None:
    """Send ``delivery`` again now: back to pending, due at once, with a fresh ``give_up_at``
    (now + ``window``, by default the window the series first had). Attempt numbers go on
    from where they were and the ``webhook-id`` stays the event's. A pending delivery is only
    moved up (an attempt under way keeps its lease). An endpoint that is disabled gets the
    delivery once it is enabled again. Does not commit; set ``hub.webhooks_due`` after."""
    now = utcnow()
    span = window if window is not None else max(delivery.give_up_at - delivery.created_at, _NIL)
    delivery.next_attempt_at = now
    delivery.give_up_at = now + span
    if delivery.status != "pending":
        delivery.status = "pending"
        delivery.completed_at = None
        delivery.lease_owner = delivery.lease_until = None


async def redeliver_failed(
    db: AsyncSession, endpoint: WebhookEndpoint, window: timedelta | None = None
) -> int:
    """``redeliver`` every failed delivery of ``endpoint``; how many. Does not commit."""
    failed = await db.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "failed"
        )
    )
    count = 0
    for delivery in failed:
        redeliver(db, delivery, window)
        count += 1
    return count


def reenable(endpoint: WebhookEndpoint) -> None:
    """Send to ``endpoint`` again after it was disabled: its run of failures starts afresh.
    Deliveries failed meanwhile stay failed until redelivered (``redeliver_failed``). Does not
    commit; the caller audits the change."""
    endpoint.enabled = True
    endpoint.failing_since = endpoint.disabled_at = endpoint.disabled_reason = None
    endpoint.updated_at = utcnow()


def create_test(
    db: AsyncSession, endpoint: WebhookEndpoint, owner: str, settings: HubSettings
) -> WebhookDelivery:
    """A ``webhook.test`` event for ``endpoint`` alone (already dispatched, so it reaches no
    other endpoint) and its delivery, leased to ``owner`` so that ``owner`` makes the one
    attempt it gets (no retries: ``give_up_at`` is now). Does not commit."""
    now = utcnow()
    event = IntegrationEvent(
        id=new_event_id(),
        tenant_id=endpoint.tenant_id,
        project_id=endpoint.project_id,
        type=TEST_EVENT,
        data={
            "endpoint_id": endpoint.id,
            "message": "A test event from Orchestratia: this endpoint receives signed webhooks.",
        },
        created_at=now,
        dispatched_at=now,
    )
    db.add(event)
    delivery = delivery_for(event, endpoint, give_up_at=now)
    delivery.lease_owner, delivery.lease_until = owner, now + lease(settings)
    db.add(delivery)
    return delivery


_NIL = timedelta(0)
