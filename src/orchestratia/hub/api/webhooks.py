"""Outbound webhook endpoints of a project: make one (its signing secret answered once), list,
read, change, delete, rotate the secret; the delivery log, redelivery and a test event.

Project owners and tenant admins only (``services.integrations.webhook_endpoints``); API keys
need ``webhooks:read`` to look and ``webhooks:write`` to change anything."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from orchestratia.hub.actions import webhooks as webhook_actions
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.services.integrations import webhook_endpoints as endpoints
from orchestratia.hub.services.integrations import webhook_log
from orchestratia.protocol.webhooks import (
    DeliveryDetail,
    DeliveryPage,
    DeliveryQuery,
    RedeliverResult,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
    WebhookTestResult,
    WebhookUpdate,
)

PREFIX = "/api/v1/webhooks"
reads = APIRouter(prefix=PREFIX, tags=["webhooks"], dependencies=[needs("webhooks:read")])
writes = APIRouter(prefix=PREFIX, tags=["webhooks"], dependencies=[needs("webhooks:write")])
EndpointId = Annotated[str, Path(min_length=1, max_length=64)]
# Answers that carry a secret stay out of every cache on the way.
NO_STORE = "no-store"
DeliveryId = Annotated[str, Path(min_length=1, max_length=64)]


def fields(found: endpoints.EndpointRow) -> dict[str, Any]:
    """An endpoint's public fields (never its secrets) with its health."""
    row, last = found.endpoint, found.last
    return {
        "id": row.id,
        "project_id": row.project_id,
        "project_name": found.project_name,
        "url": row.url,
        "description": row.description,
        "events": row.events,
        "enabled": row.enabled,
        "ordered": row.ordered,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "previous_secret_expires_at": row.previous_secret_expires_at,
        "failing_since": row.failing_since,
        "disabled_at": row.disabled_at,
        "disabled_reason": row.disabled_reason,
        "last_delivery_status": last.status if last else None,
        "last_delivery_at": last.created_at if last else None,
        "last_status_code": last.last_status_code if last else None,
    }


def to_public(found: endpoints.EndpointRow) -> WebhookPublic:
    return WebhookPublic.model_validate(fields(found))


@writes.post("", status_code=201)
async def create_webhook(
    body: WebhookCreate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    response: Response,
) -> WebhookCreated:
    """A new endpoint. Its signing secret (``whsec_…``) is in this answer and never again."""
    response.headers["Cache-Control"] = NO_STORE
    found, secret = await webhook_actions.create(db, hub, principal, body, actor)
    return WebhookCreated.model_validate({**fields(found), "secret": secret})


@reads.get("")
async def list_webhooks(
    principal: PrincipalDep,
    db: SessionDep,
    project_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> WebhookList:
    """The endpoints of ``project_id``, or of every project the caller owns."""
    found = await endpoints.list_endpoints(db, principal, project_id)
    return WebhookList(webhooks=[to_public(row) for row in found])


@reads.get("/{endpoint_id}")
async def get_webhook(
    endpoint_id: EndpointId, principal: PrincipalDep, db: SessionDep
) -> WebhookPublic:
    endpoint, acc = await endpoints.managed(db, principal, endpoint_id)
    return to_public(await endpoints.with_health(db, endpoint, acc.project))


@writes.patch("/{endpoint_id}")
async def update_webhook(
    endpoint_id: EndpointId,
    body: WebhookUpdate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> WebhookPublic:
    """Change what the body names; ``enabled: true`` re-enables an endpoint the hub disabled."""
    return to_public(await webhook_actions.update(db, hub, principal, endpoint_id, body, actor))


@writes.delete("/{endpoint_id}", status_code=204)
async def delete_webhook(
    endpoint_id: EndpointId,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> Response:
    await webhook_actions.delete(db, hub, principal, endpoint_id, actor)
    return Response(status_code=204)


@writes.post("/{endpoint_id}/rotate-secret")
async def rotate_secret(
    endpoint_id: EndpointId,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    response: Response,
    body: SecretRotate | None = None,
) -> SecretRotated:
    """A new signing secret, answered this once; the old one keeps signing beside it for
    ``overlap_hours`` (default 24)."""
    response.headers["Cache-Control"] = NO_STORE
    endpoint, secret = await webhook_actions.rotate_secret(
        db, hub, principal, endpoint_id, body or SecretRotate(), actor
    )
    return SecretRotated(
        id=endpoint.id,
        secret=secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@reads.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: EndpointId,
    q: Annotated[DeliveryQuery, Query()],
    principal: PrincipalDep,
    db: SessionDep,
) -> DeliveryPage:
    """The endpoint's deliveries, newest first; pass ``next_before`` as ``before`` for more."""
    endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
    return await webhook_log.page(db, endpoint, q)


@reads.get("/{endpoint_id}/deliveries/{delivery_id}")
async def get_delivery(
    endpoint_id: EndpointId, delivery_id: DeliveryId, principal: PrincipalDep, db: SessionDep
) -> DeliveryDetail:
    """One delivery with every attempt: status code, latency, error, response excerpt."""
    endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
    return await webhook_log.detail(db, endpoint, delivery_id)


@writes.post("/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    endpoint_id: EndpointId,
    delivery_id: DeliveryId,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> DeliveryDetail:
    """Send this delivery again now, with the same ``webhook-id``."""
    return await webhook_actions.redeliver(db, hub, principal, endpoint_id, delivery_id, actor)


@writes.post("/{endpoint_id}/redeliver-failed")
async def redeliver_failed(
    endpoint_id: EndpointId,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> RedeliverResult:
    """Send every failed delivery of this endpoint again now."""
    count = await webhook_actions.redeliver_failed(db, hub, principal, endpoint_id, actor)
    return RedeliverResult(queued=count)


@writes.post("/{endpoint_id}/test")
async def send_test(
    endpoint_id: EndpointId,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> WebhookTestResult:
    """Send a ``webhook.test`` event now and answer how the receiver took it (waits up to
    10 s for the attempt; the delivery stays in the log either way)."""
    return await webhook_actions.send_test(db, hub, principal, endpoint_id, actor)
