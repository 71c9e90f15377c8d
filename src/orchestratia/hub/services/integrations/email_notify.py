"""Sending email notifications: the worker that takes queued ``Notification`` rows of the email
channel, mails each through the tenant's SMTP settings, and retries a failed send a few times
with growing pauses before giving up with the reason.

Each row is leased (``leases.claim``) so that one replica makes a given attempt; the lease
outlives the longest possible send. A replica that dies mid-send leaves the row to be tried
again after the lease runs out: a mail may then arrive twice, never zero times."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import IntegrationEvent, Notification
from orchestratia.hub.db.models import Membership, Project, User
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.integrations import leases, worker
from orchestratia.hub.services.integrations.email_texts import NothingToTell, notice
from orchestratia.hub.services.mail import messages
from orchestratia.hub.services.mail import settings as mail_settings
from orchestratia.hub.services.mail.smtp import TOTAL_SECONDS, MailFailed, Message, send
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)

CHANNEL = "email"
BATCH = 20
LEASE = timedelta(seconds=TOTAL_SECONDS * 2)
# The pause after each failed attempt; once they are used up the notification has failed.
RETRY_PAUSES = (timedelta(seconds=30), timedelta(minutes=5), timedelta(minutes=30))


class Undeliverable(Exception):
    """No attempt can succeed (no mail server, the user left the project…): give up now."""


@dataclass(frozen=True)
class Outgoing:
    message: Message
    tenant_id: str


def base_url(hub: HubState) -> str:
    """The dashboard's address for links in mails: the configured public URL, else where this
    hub listens."""
    configured = hub.settings.public_url
    if configured:
        return configured.rstrip("/")
    return f"http://{hub.settings.host}:{hub.settings.port}"


async def _compose(db: AsyncSession, hub: HubState, note: Notification) -> Outgoing:
    """The mail for ``note``, to a user who is still an active member of the event's project."""
    event = await db.scalar(
        select(IntegrationEvent).where(
            IntegrationEvent.id == note.event_id, IntegrationEvent.tenant_id == note.tenant_id
        )
    )
    if event is None:
        raise Undeliverable("the event is gone")
    found = await db.execute(
        select(User.email, Project.name)
        .join(Membership, Membership.user_id == User.id)
        .join(Project, Project.id == Membership.project_id)
        .where(
            User.id == note.user_id,
            User.tenant_id == note.tenant_id,
            User.is_active.is_(True),
            Project.id == event.project_id,
            Project.tenant_id == note.tenant_id,
        )
    )
    row = found.first()
    if row is None:
        raise Undeliverable("the user is no longer a member of the event's project")
    to, project = row
    try:
        said = notice(base_url(hub), project, event.type, event.data)
    except NothingToTell as exc:
        raise Undeliverable(str(exc)) from None
    return Outgoing(messages.notification(to, said.subject, said.lines, said.link), note.tenant_id)


async def _attempt(hub: HubState, note: Notification) -> None:
    """Prepare ``note``'s mail, then send it outside any transaction."""
    async with hub.sessionmaker() as db:
        outgoing = await _compose(db, hub, note)
        server = await mail_settings.server_for(db, hub.keyring, outgoing.tenant_id)
    if server is None:
        raise Undeliverable("no mail server is configured for the team")
    await send(server, outgoing.message, allow_private=hub.settings.smtp_allow_private)


def _outcome(note: Notification, error: str | None, final: bool) -> dict[str, Any]:
    attempts = note.attempts + 1
    now = utcnow()
    if error is None:
        return {"attempts": attempts, "status": "sent", "sent_at": now, "error": None}
    if final or attempts > len(RETRY_PAUSES):
        return {"attempts": attempts, "status": "failed", "error": error}
    pause = RETRY_PAUSES[attempts - 1]
    return {"attempts": attempts, "error": error, "next_attempt_at": now + pause}


async def deliver(hub: HubState, note: Notification) -> str:
    """Make one attempt at ``note`` and record it (if the lease is still ours); the status."""
    error: str | None = None
    final = False
    try:
        await _attempt(hub, note)
    except Undeliverable as exc:
        error, final = str(exc), True
    except MailFailed as exc:
        error = str(exc)
    outcome = _outcome(note, error, final)
    async with hub.sessionmaker() as db:
        await leases.release(db, Notification, note.id, hub.replica_id, **outcome)
        await db.commit()
    if error is not None:
        log.warning("email notification %s, attempt %s: %s", note.id, outcome["attempts"], error)
    return str(outcome.get("status", "pending"))


async def deliver_due(hub: HubState) -> int:
    """Claim and send the email notifications that are due; how many were attempted."""
    async with hub.sessionmaker() as db:
        due = await leases.claim(
            db,
            Notification,
            owner=hub.replica_id,
            lease=LEASE,
            limit=BATCH,
            extra=[Notification.channel == CHANNEL],
        )
    for note in due:
        await deliver(hub, note)
    return len(due)


async def run(hub: HubState, stop: asyncio.Event) -> None:
    """The worker: send what is due, then wait for a wake-up or the idle poll."""
    await worker.run(
        stop,
        hub.notifications_due.listener(),
        hub.settings.integrations_poll_interval,
        lambda: deliver_due(hub),
        BATCH,
        "email notifications",
    )
