"""Webhook tests' parts: a receiver written for the tests (a small HTTP/1.1 server on asyncio
that checks every request with the reference ``standardwebhooks`` package and counts the
connections that reach it), and the rows of a project, its endpoints and its events."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.models import Project, Tenant
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.services.integrations import signing
from orchestratia.hub.services.integrations.events import emit
from orchestratia.hub.services.integrations.webhook_delivery import delivery_for
from orchestratia.protocol.integration_events import ServerData, ServerEventData

Sessions = async_sessionmaker[AsyncSession]
# What the receiver answers to the n-th request (from 1) carrying a webhook-id.
Answer = Callable[[str, int], int]


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    body: bytes
    signature: str
    # Which of the receiver's secrets verified the request (indexes into ``Receiver.secrets``).
    verified_by: list[int]
    status: int
    headers: dict[str, str]


@dataclass
class Receiver:
    """Answers webhook requests with ``answer``; ``redirect_to`` makes every answer a 302."""

    secrets: list[str]
    answer: Answer = lambda _id, _n: 200
    host: str = "127.0.0.1"
    port: int = 0
    redirect_to: str | None = None
    # Set to answer with this body, or to keep the hub waiting this long before answering.
    reply: bytes | None = None
    stall: float = 0.0
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    # While down the port stays bound but not listening: connections are refused, and no other
    # process on the machine (an outbound connection's ephemeral port) can take it meanwhile.
    _holder: socket.socket | None = None
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    def hold(self) -> None:
        """Be down on a port of our own (picked now when ``port`` is 0) until ``start``."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        holder = socket.socket(family, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((self.host, self.port))
        self.port = holder.getsockname()[1]
        self._holder = holder

    async def start(self) -> None:
        # A bound, non-listening holder does not stop a SO_REUSEADDR listener on the same port.
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self._holder is not None:
            self._holder.close()
            self._holder = None

    async def stop(self) -> None:
        """Close the port for good (the end of a test)."""
        if self._server is not None:
            self._server.close()
            for handler in self._handlers:
                handler.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        if self._holder is not None:
            self._holder.close()
            self._holder = None

    def by_id(self) -> dict[str, list[Received]]:
        found: dict[str, list[Received]] = {}
        for request in self.requests:
            found.setdefault(request.webhook_id, []).append(request)
        return found

    def unverified(self) -> list[Received]:
        return [r for r in self.requests if not r.verified_by]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            async with asyncio.timeout(5 + self.stall):
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")[1:]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
            response = self._respond(headers, body)
            await asyncio.sleep(self.stall)
            writer.write(response)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._handlers.discard(handler)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _respond(self, headers: dict[str, str], body: bytes) -> bytes:
        verified = []
        for index, secret in enumerate(self.secrets):
            with contextlib.suppress(WebhookVerificationError):
                Webhook(secret).verify(body, headers)
                verified.append(index)
        webhook_id = headers.get("webhook-id", "")
        nth = sum(1 for r in self.requests if r.webhook_id == webhook_id) + 1
        status = 302 if self.redirect_to else self.answer(webhook_id, nth)
        self.requests.append(
            Received(
                webhook_id,
                headers.get("webhook-timestamp", ""),
                body,
                headers.get("webhook-signature", ""),
                verified,
                status,
                headers,
            )
        )
        extra = f"Location: {self.redirect_to}\r\n" if self.redirect_to else ""
        text = self.reply or f"answer {status} to {webhook_id}".encode()
        return (
            f"HTTP/1.1 {status} Whatever\r\nContent-Length: {len(text)}\r\n{extra}"
            "Connection: close\r\n\r\n"
        ).encode() + text


async def project(sessions: Sessions) -> tuple[str, str]:
    """A tenant and a project of it: (tenant id, project id)."""
    async with sessions() as db:
        tenant = Tenant(id=str(uuid.uuid4()), name=f"t-{uuid.uuid4().hex[:6]}")
        db.add(tenant)
        await db.flush()
        row = Project(id=str(uuid.uuid4()), tenant_id=tenant.id, name="hooks")
        db.add(row)
        await db.commit()
        return tenant.id, row.id


async def endpoint(
    sessions: Sessions,
    keyring: Keyring,
    where: tuple[str, str],
    url: str,
    *,
    ordered: bool = False,
    previous_secret: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint of the project ``where`` and its current secret; with ``previous_secret``,
    in the overlap of a rotation from that secret."""
    secret = signing.new_secret()
    row_id = str(uuid.uuid4())
    row = WebhookEndpoint(
        id=row_id,
        tenant_id=where[0],
        project_id=where[1],
        url=url,
        ordered=ordered,
        secret_sealed=signing.seal_secret(keyring, row_id, secret),
    )
    if previous_secret is not None:
        row.previous_secret_sealed = signing.seal_previous_secret(keyring, row_id, previous_secret)
        row.previous_secret_expires_at = utcnow() + timedelta(hours=1)
    async with sessions() as db:
        db.add(row)
        await db.commit()
    return row, secret


async def queue_events(
    sessions: Sessions, endpoints: list[WebhookEndpoint], count: int, window: float
) -> list[str]:
    """``count`` events (``server.online``) with a delivery to each endpoint, as the dispatcher
    queues them; their ids in order."""
    ids = []
    for n in range(count):
        async with sessions() as db:
            first = endpoints[0]
            data = ServerEventData(
                server=ServerData(
                    id=str(uuid.uuid4()),
                    project_id=first.project_id,
                    name=f"box-{n}",
                    hostname=f"box-{n}.example",
                    status="online",
                )
            )
            event = emit(db, first.tenant_id, first.project_id, "server.online", data)
            event.dispatched_at = utcnow()
            for target in endpoints:
                db.add(delivery_for(event, target, utcnow() + timedelta(seconds=window)))
            await db.commit()
            ids.append(event.id)
    return ids


async def deliveries(sessions: Sessions, endpoint_id: str) -> list[WebhookDelivery]:
    async with sessions() as db:
        rows = await db.scalars(
            select(WebhookDelivery)
            .join(IntegrationEvent, IntegrationEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(IntegrationEvent.created_at)
        )
        return list(rows)


async def attempts(sessions: Sessions, endpoint_id: str) -> dict[str, list[WebhookAttempt]]:
    """The endpoint's attempts by event id, in attempt order."""
    async with sessions() as db:
        rows = await db.execute(
            select(WebhookDelivery.event_id, WebhookAttempt)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(WebhookAttempt.endpoint_id == endpoint_id)
            .order_by(WebhookAttempt.number)
        )
        found: dict[str, list[WebhookAttempt]] = {}
        for event_id, row in rows:
            found.setdefault(event_id, []).append(row)
        return found


async def settled(sessions: Sessions, endpoint_id: str) -> list[WebhookDelivery] | None:
    """The endpoint's deliveries once none is pending."""
    rows = await deliveries(sessions, endpoint_id)
    return rows if rows and all(r.status != "pending" for r in rows) else None
