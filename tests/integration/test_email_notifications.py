"""Email notifications against a real SMTP server: an agent asks for help, and each member whose
preferences include it gets exactly one mail with a link to the inbox; a member who opted out
gets none. Failed sends are retried, then given up with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from orchestratia.hub.db.integration_models import Notification
from orchestratia.hub.services.integrations import email_notify
from tests.integration.hub_setup import add_user
from tests.integration.notify_support import notified_users
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet
from tests.mail_catcher import MailCatcher, mail_catcher, text_of
from tests.support import wait_until

MAIL = "/api/v1/settings/mail"
PREFS = "/api/v1/account/notifications"
SECRET = "smtp-secret-Qz9"


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # The catcher listens on 127.0.0.1; a short poll keeps retries quick.
    return {
        "smtp_allow_private": True,
        "integrations_poll_interval": 0.1,
        "public_url": "https://hub.example.test",
    }


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with mail_catcher() as running:
        yield running


async def _notes(hub: RunningHub) -> list[Notification]:
    async with hub.state.sessionmaker() as db:
        return list(await db.scalars(select(Notification).order_by(Notification.created_at)))


async def _given_up(hub: RunningHub, within: float) -> Notification:
    """The only notification, once it has failed for good."""

    async def failed() -> Notification | None:
        notes = await _notes(hub)
        return notes[0] if len(notes) == 1 and notes[0].status == "failed" else None

    return await wait_until(failed, within, "the notification given up")


async def _ask_for_help(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> str:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        task = await f.started_task(worker)
        helped = await worker.client.post(
            f"/tasks/{task['id']}/help",
            json={"question": "Which port\nshould I use?", "context": "8080 busy"},
        )
        assert helped.status_code in (200, 201), helped.text
        intervention: str = helped.json()["intervention_id"]
        return intervention


async def test_members_who_want_it_get_one_mail_and_opted_out_get_none(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, catcher: MailCatcher
) -> None:
    settings = catcher.settings(username="hub", password=SECRET)
    assert (await admin.put(MAIL, json=settings)).status_code == 200
    mia = await add_user(hub, admin, "mia@a.example", project_id, "member")
    olaf = await add_user(hub, admin, "olaf@a.example", project_id, "viewer")
    try:
        assert (await olaf.put(PREFS, json={"email": ["task.failed"]})).status_code == 200
        # Mia keeps the defaults, which include help requests; so does the admin.
        intervention = await _ask_for_help(hub, admin, project_id)
        queued = await notified_users(hub, intervention)
        assert len(queued) == 2

        async def all_sent() -> bool | None:
            notes = await _notes(hub)
            return all(n.status == "sent" for n in notes) or None

        await wait_until(all_sent, 10, "both notifications sent")
    finally:
        await mia.aclose()
        await olaf.aclose()
    by_rcpt: dict[str, EmailMessage] = {str(m["To"]): m for m in catcher.messages}
    assert len(catcher.messages) == 2
    assert set(by_rcpt) == {"alice@a.example", "mia@a.example"}
    mail = by_rcpt["mia@a.example"]
    assert mail["Subject"] == "[alpha] An agent asks for help: Which port should I use?"
    body = text_of(mail).replace("\r\n", "\n")
    assert "Which port\nshould I use?" in body
    assert f"https://hub.example.test/inbox?project_id={project_id}" in body
    assert SECRET not in mail.as_string()
    notes = await _notes(hub)
    assert {(n.attempts, n.error) for n in notes} == {(1, None)}
    assert all(n.sent_at is not None and n.lease_owner is None for n in notes)
    # Nothing more arrives later (each notification is sent once).
    hub.state.notifications_due.set()
    assert await email_notify.deliver_due(hub.state) == 0
    assert len(catcher.messages) == 2


async def test_failed_sends_are_retried_then_given_up_with_the_reason(
    hub: RunningHub,
    admin: httpx.AsyncClient,
    project_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(email_notify, "RETRY_PAUSES", (timedelta(seconds=0.2),) * 2)
    with mail_catcher() as gone:
        settings = gone.settings()
    # Nothing listens there any more.
    assert (await admin.put(MAIL, json=settings)).status_code == 200
    intervention = await _ask_for_help(hub, admin, project_id)
    assert len(await notified_users(hub, intervention)) == 1

    note = await _given_up(hub, 15)
    assert note.attempts == 3 and note.sent_at is None
    assert note.error is not None and "could not be reached" in note.error


async def test_without_a_mail_server_no_email_is_queued(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    # The dispatcher queues email only where the team has a mail server.
    intervention = await _ask_for_help(hub, admin, project_id)
    assert await notified_users(hub, intervention) == []
    assert await _notes(hub) == []
