"""The SMTP address policy: with ``smtp_allow_private`` off (the default) the hub neither saves
nor sends to a mail server on a loopback, private, link-local or metadata address; nothing
reaches the refused server."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.services.integrations.address_policy import AddressRefused
from orchestratia.hub.services.mail import smtp
from orchestratia.hub.services.mail.smtp import MailServer
from tests.integration.helpers import audit_rows
from tests.integration.invite_support import invites_url
from tests.integration.running_hub import RunningHub
from tests.mail_catcher import MailCatcher, mail_catcher

MAIL = "/api/v1/settings/mail"
REFUSED = {
    "127.0.0.1": "loopback",
    "10.0.0.1": "private",
    "169.254.169.254": "metadata",
    "[::1]": "loopback",
    "localhost": "loopback",
}


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with mail_catcher() as running:
        yield running


async def test_saving_a_private_mail_server_is_refused_with_the_reason(
    hub: RunningHub, admin: httpx.AsyncClient, catcher: MailCatcher
) -> None:
    assert hub.settings.smtp_allow_private is False
    refused = 0
    for host, why in REFUSED.items():
        res = await admin.put(MAIL, json=catcher.settings(host=host))
        assert res.status_code == 422, (host, res.text)
        assert why in res.text and "allow private" in res.text, res.text
        refused += 1
    assert refused == len(REFUSED)
    assert (await admin.get(MAIL)).status_code == 404
    assert await audit_rows(hub, "settings.mail_updated") == []


async def test_sending_to_a_private_mail_server_fails_before_connecting(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, catcher: MailCatcher
) -> None:
    """Settings stored while private targets were allowed (or a name whose DNS answer changed):
    the test mail and invite mails fail with the reason, and the catcher hears nothing."""
    # A name that does not resolve yet is kept (sending checks again).
    public = catcher.settings(host="smtp.orchestratia.invalid")
    assert (await admin.put(MAIL, json=public)).status_code == 200
    async with hub.state.sessionmaker() as db:
        await db.execute(update(MailSettings).values(host=catcher.host))
        await db.commit()
        assert await db.scalar(select(MailSettings.host)) == "127.0.0.1"
    res = await admin.post(f"{MAIL}/test", json={"to": "ops@a.example"})
    assert res.status_code == 200 and res.json()["sent"] is False
    assert "127.0.0.1 resolves to 127.0.0.1, a loopback address" in res.json()["error"]
    res = await admin.post(
        invites_url(project_id), json={"email": "nia@a.example", "role": "member"}
    )
    assert res.status_code == 201 and res.json()["emailed"] is False
    assert "loopback" in res.json()["mail_error"]
    assert catcher.messages == [] and catcher.logins == []


async def test_the_address_actually_dialled_is_checked_again(catcher: MailCatcher) -> None:
    """A name whose DNS answer changes after the check to a loopback address: the connection to
    that address is refused before a word of SMTP is spoken, and nothing is delivered."""
    server = MailServer(
        host="smtp.orchestratia.invalid",
        port=catcher.port,
        security="none",
        from_address="hub@orchestratia.example",
    )
    loopback = [ipaddress.ip_address(catcher.host)]
    mail = EmailMessage()
    mail["To"], mail["Subject"] = "ops@a.example", "probe"
    with pytest.raises(AddressRefused, match="a loopback address"):
        await asyncio.to_thread(smtp._send_blocking, server, mail, loopback, False)
    assert catcher.messages == []
    # The same dial with private targets allowed goes through: the refusal was the policy's.
    await asyncio.to_thread(smtp._send_blocking, server, mail, loopback, True)
    assert len(catcher.messages) == 1
