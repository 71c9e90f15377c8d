"""The HTTP side of a webhook attempt: one POST, bounded in time and size, to an address the
address policy accepted at the moment of connecting.

The SSRF check happens where the socket is opened (``PinnedBackend``): the host is resolved,
every address it resolves to is checked, and the connection goes to one of exactly those
addresses. A DNS answer that changed since the endpoint was saved (DNS rebinding) therefore
never reaches a private address. The URL keeps its host name, so the Host header and TLS (SNI
and certificate checks) are those of the name. Redirects are not followed: a 3xx is a failed
attempt, or a public receiver could bounce the hub onto an internal one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import httpcore
import httpx

from orchestratia import __version__
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Invalid
from orchestratia.hub.metrics import WebhookOutcome
from orchestratia.hub.services.integrations import address_policy
from orchestratia.hub.settings import HubSettings

USER_AGENT = f"Orchestratia-Webhooks/{__version__}"
READ_LIMIT = 64 * 1024  # response bytes read at most; the rest is left unread
EXCERPT_LIMIT = 1024  # characters of the response kept for the delivery log


@dataclass(frozen=True)
class AttemptResult:
    """What one request came to: ``ok`` for a 2xx answer."""

    ok: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    outcome: WebhookOutcome = "network_error"  # for ``/metrics``


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses that pass the address policy, dialling the very
    address that was checked."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            addresses = await address_policy.check_host(host, port, self._allow_private)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # check_host returns at least one address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _transport(settings: HubSettings, connections: int) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend of its own; the pool it drives does. Same pool as
    # httpx builds (its default TLS context), dialling through the address policy.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=5.0,
        network_backend=PinnedBackend(settings.webhook_allow_private),
    )
    return transport


class WebhookSender:
    """An HTTP client for webhook requests; one per worker, closed with ``aclose``."""

    def __init__(self, settings: HubSettings, connections: int = 8) -> None:
        self._total = settings.webhook_timeout
        self._client = httpx.AsyncClient(
            transport=_transport(settings, connections),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would dial around the policy
            timeout=httpx.Timeout(
                settings.webhook_timeout, connect=settings.webhook_connect_timeout
            ),
            headers={
                "user-agent": USER_AGENT,
                "content-type": "application/json",
                # Raw bytes are what is capped and excerpted; a compressed answer would be
                # neither readable nor bounded by its size on the wire.
                "accept-encoding": "identity",
            },
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        """POST ``body`` to ``url``; never raises for anything the receiver or network does."""
        started, started_at = time.monotonic(), utcnow()

        def done(
            outcome: WebhookOutcome,
            status_code: int | None = None,
            error: str | None = None,
            excerpt: str = "",
        ) -> AttemptResult:
            latency = int((time.monotonic() - started) * 1000)
            ok = outcome == "succeeded"
            return AttemptResult(
                ok, latency, status_code, error, excerpt or None, started_at, outcome
            )

        try:
            async with asyncio.timeout(self._total):
                status, location, excerpt = await self._exchange(url, body, headers)
        except Invalid as exc:  # the address policy refused the target, or it does not resolve
            return done("refused", error=f"refused: {exc.detail}")
        except (TimeoutError, httpx.TimeoutException):
            return done("timeout", error=f"timed out (limit {self._total:g} s)")
        except httpx.HTTPError as exc:
            return done("network_error", error=f"{type(exc).__name__}: {exc}"[:EXCERPT_LIMIT])
        if 200 <= status < 300:
            return done("succeeded", status_code=status, excerpt=excerpt)
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error = f"redirect not followed (HTTP {status} to {location or 'nowhere'})"
        return done("http_error", status_code=status, error=error, excerpt=excerpt)

    async def _exchange(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None, str]:
        async with self._client.stream("POST", url, content=body, headers=headers) as response:
            read = bytearray()
            async for chunk in response.aiter_raw():
                read += chunk
                if len(read) >= READ_LIMIT:
                    break
            excerpt = bytes(read[:READ_LIMIT]).decode("utf-8", "replace")[:EXCERPT_LIMIT]
            return response.status_code, response.headers.get("location"), excerpt
