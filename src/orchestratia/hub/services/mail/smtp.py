"""Sending one message over SMTP, off the event loop, with timeouts; never logging credentials.

The mail server's host is resolved and checked against the address policy first (a tenant must
not make the hub talk to its own network), and the connection then dials exactly the addresses
that passed, checking the peer once more: a DNS answer that changes in between gains nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from orchestratia.hub.errors import Invalid
from orchestratia.hub.services.integrations.address_policy import (
    IPAddress,
    check_host,
    check_resolved,
)

log = logging.getLogger(__name__)
# Per socket operation (connect, each command), and for the whole exchange: a slow or dead
# server holds up the request that sends (an invite) this long at most.
TIMEOUT_SECONDS = 10.0
TOTAL_SECONDS = 30.0


@dataclass(frozen=True)
class MailServer:
    host: str
    port: int
    security: str  # "starttls" | "tls" | "none"
    from_address: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    html: str


class MailFailed(Exception):
    """The message did not go out; the text says why, in a sentence for the person who asked."""


def _compose(server: MailServer, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = server.from_address
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=server.from_address.rsplit("@", 1)[-1])
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


class _Pinned(smtplib.SMTP):
    """An SMTP client that dials only the checked ``addresses`` of its host; TLS still verifies
    the certificate against the host's name."""

    addresses: list[IPAddress]
    allow_private: bool

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        failure = OSError(f"{host} has no address to dial")
        for address in self.addresses:
            try:
                sock = socket.create_connection((str(address), port), timeout)
            except OSError as exc:
                failure = exc
                continue
            peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
            try:
                check_resolved(host, [peer], self.allow_private)
            except Invalid:
                sock.close()
                raise
            return sock
        raise failure


class _PinnedTLS(smtplib.SMTP_SSL, _Pinned):
    """``_Pinned`` for implicit TLS: SMTP_SSL wraps the socket that ``_Pinned`` dialled."""


def _send_blocking(
    server: MailServer, mail: EmailMessage, addresses: list[IPAddress], allow_private: bool
) -> None:
    context = ssl.create_default_context()
    client: _Pinned
    if server.security == "tls":
        client = _PinnedTLS(timeout=TIMEOUT_SECONDS, context=context)
    else:
        client = _Pinned(timeout=TIMEOUT_SECONDS)
    client.addresses, client.allow_private = addresses, allow_private
    with client:
        client.connect(server.host, server.port)
        if server.security == "starttls":
            client.starttls(context=context)
        if server.username:
            client.login(server.username, server.password or "")
        client.send_message(mail)


def _reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the mail server refused the username or password"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the recipient address"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "the mail server does not support the chosen security (try another setting)"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with the mail server failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError):
        return "the mail server did not answer in time"
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        text = said.decode(errors="replace") if isinstance(said, bytes) else said
        return f"the mail server answered {exc.smtp_code}: {text}"
    if isinstance(exc, OSError):
        return f"the mail server could not be reached ({exc.strerror or exc})"
    return f"sending failed ({exc})"


async def send(server: MailServer, message: Message, *, allow_private: bool) -> None:
    """Send ``message``; MailFailed with the reason if it did not go out. ``allow_private`` is
    the operator's ``smtp_allow_private``: whether the server may be on a private address."""
    mail = _compose(server, message)
    try:
        addresses = await check_host(server.host, server.port, allow_private)
        await asyncio.wait_for(
            asyncio.to_thread(_send_blocking, server, mail, addresses, allow_private),
            TOTAL_SECONDS,
        )
    except (smtplib.SMTPException, OSError, Invalid) as exc:
        reason = str(exc) if isinstance(exc, Invalid) else _reason(exc)
        # The reason names the server's answer, never the credentials we sent.
        log.warning(
            "mail to %s via %s:%s not sent: %s", message.to, server.host, server.port, reason
        )
        raise MailFailed(reason) from None
