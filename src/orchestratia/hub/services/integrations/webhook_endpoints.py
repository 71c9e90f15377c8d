"""A project's webhook endpoints: made, listed, changed, deleted, and their signing secrets
rotated, by the project's owners (and tenant admins) only.

An endpoint's URL may carry a receiver's own token and its deliveries show what the project
does, so members and viewers are refused even a read (403), and people outside the project
find nothing (404). The signing secret is sealed at rest and leaves the hub twice only: in the
answer that made it, and in the answer of the rotation that replaced it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.models import Project
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Conflict, Forbidden, NotFound
from orchestratia.hub.sealed_columns import WEBHOOK_SECRET
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import ProjectAccess
from orchestratia.hub.services.integrations import address_policy, signing
from orchestratia.hub.services.integrations.webhook_delivery import TEST_EVENT
from orchestratia.protocol.webhooks import SecretRotate, WebhookCreate, WebhookUpdate

# Enough for every tool a team connects; a runaway script making endpoints stops here.
MAX_ENDPOINTS_PER_PROJECT = 20
OWNERS_ONLY = "only the project's owners manage its webhooks"


@dataclass(frozen=True)
class EndpointRow:
    """An endpoint as lists show it: the row, its project's name and its newest delivery."""

    endpoint: WebhookEndpoint
    project_name: str
    last: WebhookDelivery | None = None


async def managed_project(db: AsyncSession, principal: Principal, project_id: str) -> ProjectAccess:
    """The project, if the caller owns it (tenant admins own every project of theirs)."""
    found = await projects.access(db, principal, project_id)
    if found.role != "owner":
        raise Forbidden(f"{OWNERS_ONLY}; your role on this project is {found.role}")
    return found


async def managed(
    db: AsyncSession, principal: Principal, endpoint_id: str
) -> tuple[WebhookEndpoint, ProjectAccess]:
    """The endpoint and its project, if the caller owns the project; NotFound for an endpoint
    of a project they cannot see, so ids leak nothing."""
    endpoint = await db.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == principal.tenant_id
        )
    )
    if endpoint is None:
        raise NotFound("webhook endpoint not found")
    try:
        found = await managed_project(db, principal, endpoint.project_id)
    except NotFound:
        raise NotFound("webhook endpoint not found") from None
    return endpoint, found


def url_origin(url: str) -> str:
    """The scheme, host and port of ``url``: what the audit log keeps of it, since a receiver's
    path or query often holds a token of its own."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _settings_of(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": url_origin(endpoint.url),
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "ordered": endpoint.ordered,
        "description": endpoint.description,
    }


async def record_change(
    db: AsyncSession,
    actor: audit.Actor,
    action: str,
    endpoint: WebhookEndpoint,
    details: dict[str, Any],
) -> None:
    """Audit ``action`` on ``endpoint`` in the caller's transaction (never with a secret)."""
    await audit.record(
        db,
        actor,
        action,
        tenant_id=endpoint.tenant_id,
        project_id=endpoint.project_id,
        target_type="webhook",
        target_id=endpoint.id,
        details=details,
    )


async def create(
    db: AsyncSession,
    principal: Principal,
    keyring: Keyring,
    allow_private: bool,
    body: WebhookCreate,
    actor: audit.Actor,
) -> tuple[EndpointRow, str]:
    """A new endpoint and its signing secret (returned this once)."""
    found = await managed_project(db, principal, body.project_id)
    await address_policy.check_url(body.url, allow_private)
    count = await db.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.project_id == found.project.id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_PROJECT:
        raise Conflict(
            f"this project has {MAX_ENDPOINTS_PER_PROJECT} webhook endpoints, the most it may "
            "have; delete one first"
        )
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id(),
        tenant_id=principal.tenant_id,
        project_id=found.project.id,
        url=body.url,
        description=body.description,
        events=list(body.events),
        enabled=body.enabled,
        ordered=body.ordered,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    secret = signing.new_secret()
    endpoint.secret_sealed = signing.seal_secret(keyring, endpoint.id, secret)
    db.add(endpoint)
    await db.flush()
    await record_change(db, actor, "webhook.created", endpoint, _settings_of(endpoint))
    return EndpointRow(endpoint, found.project.name), secret


async def latest_deliveries(
    db: AsyncSession, endpoint_ids: list[str]
) -> dict[str, WebhookDelivery]:
    """The newest delivery of each endpoint that has one."""
    if not endpoint_ids:
        return {}
    newest = (
        select(WebhookDelivery.endpoint_id, func.max(WebhookDelivery.created_at).label("at"))
        .where(WebhookDelivery.endpoint_id.in_(endpoint_ids))
        .group_by(WebhookDelivery.endpoint_id)
        .subquery()
    )
    rows = await db.scalars(
        select(WebhookDelivery)
        .join(
            newest,
            and_(
                WebhookDelivery.endpoint_id == newest.c.endpoint_id,
                WebhookDelivery.created_at == newest.c.at,
            ),
        )
        .order_by(WebhookDelivery.id)
    )
    return {row.endpoint_id: row for row in rows}


async def with_health(db: AsyncSession, endpoint: WebhookEndpoint, project: Project) -> EndpointRow:
    latest = await latest_deliveries(db, [endpoint.id])
    return EndpointRow(endpoint, project.name, latest.get(endpoint.id))


async def list_endpoints(
    db: AsyncSession, principal: Principal, project_id: str | None = None
) -> list[EndpointRow]:
    """The endpoints of ``project_id`` (which the caller must own), or of every project the
    caller owns; by project name, oldest first within a project."""
    if project_id is not None:
        owned = [await managed_project(db, principal, project_id)]
    else:
        owned = [a for a in await projects.list_for(db, principal) if a.role == "owner"]
    names = {a.project.id: a.project.name for a in owned}
    if not names:
        return []
    rows = list(
        await db.scalars(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.tenant_id == principal.tenant_id,
                WebhookEndpoint.project_id.in_(names),
            )
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )
    latest = await latest_deliveries(db, [row.id for row in rows])
    found = [EndpointRow(row, names[row.project_id], latest.get(row.id)) for row in rows]
    return sorted(found, key=lambda r: r.project_name)


async def update(
    db: AsyncSession,
    principal: Principal,
    allow_private: bool,
    endpoint_id: str,
    body: WebhookUpdate,
    actor: audit.Actor,
) -> EndpointRow:
    """Apply the fields ``body`` sets. Enabling an endpoint the hub disabled clears the
    failure it was disabled for, so deliveries start again."""
    endpoint, found = await managed(db, principal, endpoint_id)
    changes = body.model_dump(exclude_unset=True)
    if body.url is not None and body.url != endpoint.url:
        await address_policy.check_url(body.url, allow_private)
    before, old_url = _settings_of(endpoint), endpoint.url
    for field, value in changes.items():
        if value is not None:
            setattr(endpoint, field, list(value) if field == "events" else value)
    if body.enabled and endpoint.disabled_at is not None:
        endpoint.disabled_at = None
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    after = _settings_of(endpoint)
    changed = {k for k in after if after[k] != before[k]}
    if endpoint.url != old_url:
        changed.add("url")  # the origin alone may not show it: another path, the same host
    if changed:
        endpoint.updated_at = utcnow()
        details = {"changed": sorted(changed), **{k: after[k] for k in sorted(changed)}}
        await record_change(db, actor, "webhook.updated", endpoint, details)
    await db.flush()
    return await with_health(db, endpoint, found.project)


async def delete(
    db: AsyncSession, principal: Principal, endpoint_id: str, actor: audit.Actor
) -> None:
    """Delete the endpoint with its delivery log; queued deliveries to it are dropped, and so
    are the test events sent to it (no other endpoint ever had them)."""
    endpoint, _ = await managed(db, principal, endpoint_id)
    await record_change(db, actor, "webhook.deleted", endpoint, _settings_of(endpoint))
    tests_sent = (
        select(WebhookDelivery.event_id)
        .join(IntegrationEvent, IntegrationEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id, IntegrationEvent.type == TEST_EVENT)
    )
    await db.execute(
        sa_delete(IntegrationEvent)
        .where(IntegrationEvent.id.in_(tests_sent))
        .execution_options(synchronize_session=False)
    )
    await db.delete(endpoint)
    await db.flush()


async def rotate_secret(
    db: AsyncSession,
    principal: Principal,
    keyring: Keyring,
    endpoint_id: str,
    body: SecretRotate,
    actor: audit.Actor,
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned this once). For ``overlap_hours`` the old one keeps
    signing beside it, so receivers can switch without dropping a delivery; an older previous
    secret still in its overlap is dropped."""
    endpoint, _ = await managed(db, principal, endpoint_id)
    current = keyring.open(endpoint.secret_sealed, WEBHOOK_SECRET.aad(endpoint.id))
    secret = signing.new_secret()
    now = utcnow()
    if body.overlap_hours > 0:
        endpoint.previous_secret_sealed = signing.seal_previous_secret(
            keyring, endpoint.id, current
        )
        endpoint.previous_secret_expires_at = now + timedelta(hours=body.overlap_hours)
    else:
        endpoint.previous_secret_sealed = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = signing.seal_secret(keyring, endpoint.id, secret)
    endpoint.updated_at = now
    await record_change(
        db, actor, "webhook.secret_rotated", endpoint, {"overlap_hours": body.overlap_hours}
    )
    await db.flush()
    return endpoint, secret
