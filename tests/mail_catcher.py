"""A real SMTP server for tests (aiosmtpd, on a free local port, optionally asking for a login):
it keeps every message it receives, and the credentials it was given."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port

LINK = re.compile(r"https?://\S+/invite/orcinv_[A-Za-z0-9_\-]+")


@dataclass
class MailCatcher:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The body of ``PUT /api/v1/settings/mail`` pointing at this server."""
        body = {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "from_address": "hub@orchestratia.example",
        }
        return {**body, **extra}


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no plain-text part"
    content: str = part.get_content()
    return content


def invite_link(message: EmailMessage) -> str:
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(0)


@contextmanager
def mail_catcher() -> Iterator[MailCatcher]:
    catcher = MailCatcher("127.0.0.1", free_port())
    controller = Controller(
        catcher,
        hostname=catcher.host,
        port=catcher.port,
        authenticator=catcher.authenticate,
        auth_require_tls=False,  # a test server on loopback; the hub's TLS modes are smtplib's
    )
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()
