"""A tenant's SMTP settings: tenant admins only, the password write-only and sealed at rest, never
logged; invites and test mails go out through a real SMTP server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.sealing import sealed_for
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import add_user, tenant_b
from tests.integration.invite_support import accept, invites_url, token_of
from tests.integration.running_hub import RunningHub
from tests.mail_catcher import MailCatcher, invite_link, mail_catcher, text_of

MAIL = "/api/v1/settings/mail"
SECRET = "smtp-secret-Xy7"


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    """The test mail server listens on 127.0.0.1, which the hub refuses unless allowed."""
    return {"smtp_allow_private": True}


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with mail_catcher() as running:
        yield running


async def test_invites_are_mailed_and_the_password_never_shows(
    hub: RunningHub,
    admin: httpx.AsyncClient,
    project_id: str,
    catcher: MailCatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await admin.get(MAIL)).status_code == 404
    res = await admin.put(MAIL, json=catcher.settings(username="hub", password=SECRET))
    assert res.status_code == 200, res.text
    assert res.json()["password_set"] is True and SECRET not in res.text
    assert SECRET not in (await admin.get(MAIL)).text
    async with hub.state.sessionmaker() as db:
        row = await db.scalar(select(MailSettings))
        assert row is not None and row.password_sealed and SECRET not in row.password_sealed

    res = await admin.post(
        invites_url(project_id), json={"email": "nia@a.example", "role": "viewer"}
    )
    assert res.status_code == 201, res.text
    issued = res.json()
    assert issued["emailed"] is True and issued["link"] is None and issued["mail_error"] is None
    [mail] = catcher.messages
    assert mail["To"] == "nia@a.example" and mail["From"] == "hub@orchestratia.example"
    body = text_of(mail)
    assert "alice@a.example invited you to the project alpha" in body and "viewer" in body
    assert catcher.logins == [("hub", SECRET)]  # unsealed for the server, and only for it
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and invite_link(mail) in html.get_content()
    assert (
        await accept(hub, token_of(invite_link(mail)), password="pass-word-1")
    ).status_code == 200

    # Saving without a password keeps it; "" removes it.
    res = await admin.put(MAIL, json=catcher.settings(username="hub", port=catcher.port))
    assert res.json()["password_set"] is True
    res = await admin.post(f"{MAIL}/test", json={"to": "ops@a.example"})
    assert res.json() == {"sent": True, "error": None}
    assert catcher.logins[-1] == ("hub", SECRET)
    assert catcher.messages[-1]["Subject"] == "Orchestratia test mail"
    res = await admin.put(MAIL, json=catcher.settings(password=""))
    assert res.json()["password_set"] is False and res.json()["username"] is None

    updates = await audit_rows(hub, "settings.mail_updated")
    assert [e.details["password"] for e in updates if e.details] == ["set", "kept", "removed"]
    for event in await audit_rows(hub):
        assert SECRET not in str(event.details)
    assert SECRET not in caplog.text
    assert (await admin.delete(MAIL)).status_code == 204
    assert (await admin.delete(MAIL)).status_code == 404
    assert (await admin.get(MAIL)).status_code == 404
    assert len(await audit_rows(hub, "settings.mail_removed")) == 1


async def test_a_mail_that_fails_leaves_the_link_to_copy(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    with mail_catcher() as gone:
        settings = gone.settings()
    # Nothing listens there any more.
    assert (await admin.put(MAIL, json=settings)).status_code == 200
    res = await admin.post(
        invites_url(project_id), json={"email": "nia@a.example", "role": "member"}
    )
    assert res.status_code == 201, res.text
    issued = res.json()
    assert issued["emailed"] is False and issued["link"].startswith(hub.url + "/invite/")
    assert "could not be reached" in issued["mail_error"]
    res = await admin.post(f"{MAIL}/test", json={"to": "ops@a.example"})
    assert res.status_code == 200 and res.json()["sent"] is False
    assert "could not be reached" in res.json()["error"]


async def test_mail_settings_are_for_tenant_admins_of_their_own_tenant(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, catcher: MailCatcher
) -> None:
    assert (await admin.put(MAIL, json=catcher.settings())).status_code == 200
    owner = await add_user(hub, admin, "own@a.example", project_id, "owner")
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    bob = await tenant_b(hub)
    try:
        for client in (owner, viewer):
            assert (await client.get(MAIL)).status_code == 403
            assert (await client.put(MAIL, json=catcher.settings())).status_code == 403
            assert (await client.delete(MAIL)).status_code == 403
            res = await client.post(f"{MAIL}/test", json={"to": "x@a.example"})
            assert res.status_code == 403
        # Another tenant has settings of its own: none yet.
        assert (await bob.get(MAIL)).status_code == 404
        assert (await bob.post(f"{MAIL}/test", json={"to": "x@b.example"})).status_code == 409
        assert (await bob.delete(MAIL)).status_code == 404
        assert (await admin.get(MAIL)).json()["host"] == catcher.host
    finally:
        for client in (owner, viewer, bob):
            await client.aclose()


@pytest.mark.parametrize(
    "change",
    [
        {"port": 0},
        {"port": 70000},
        {"security": "ssl"},
        {"host": ""},
        {"host": "smtp example.com"},
        {"host": "h" * 256},
        {"from_address": "nobody"},
        {"username": "u" * 321},
        {"password": "p" * 1025},
        {"extra": True},
    ],
)
async def test_bad_mail_settings_are_422(
    admin: httpx.AsyncClient, catcher: MailCatcher, change: dict[str, Any]
) -> None:
    res = await admin.put(MAIL, json=catcher.settings(**change))
    assert res.status_code == 422, res.text
    assert (await admin.post(f"{MAIL}/test", json={"to": "not-mail"})).status_code == 422


async def test_a_password_sealed_for_another_row_does_not_open(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, catcher: MailCatcher
) -> None:
    """The sealed password is bound to its tenant's row: moved to another, it will not open, and
    the invite says so instead of failing."""
    assert (
        await admin.put(MAIL, json=catcher.settings(username="hub", password=SECRET))
    ).is_success
    moved = hub.state.keyring.seal(SECRET, sealed_for("mail_settings", "password_sealed", "other"))
    async with hub.state.sessionmaker() as db:
        await db.execute(update(MailSettings).values(password_sealed=moved))
        await db.commit()
    res = await admin.post(
        invites_url(project_id), json={"email": "nia@a.example", "role": "member"}
    )
    assert res.status_code == 201, res.text
    assert res.json()["emailed"] is False and "cannot be opened" in res.json()["mail_error"]
    assert catcher.messages == [] and catcher.logins == []
    res = await admin.post(f"{MAIL}/test", json={"to": "ops@a.example"})
    assert res.json()["sent"] is False and "save it again" in res.json()["error"]
