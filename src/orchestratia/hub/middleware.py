"""Pure ASGI middleware: request ids, security headers and a hard cap on request body size."""

from __future__ import annotations

import json
import re
import secrets
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestratia.structured_logs import request_id_var

# An id a proxy or client chose is kept (so one id follows a request through every tier) when
# it is short and plain: anything else could forge or break log lines, so it is replaced.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id_for(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when sane, else a fresh one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _SANE_REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Every request and socket gets an id: echoed in ``X-Request-ID``, kept in
    ``scope["state"]`` (audit rows) and in ``request_id_var`` (log lines) while it is handled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


CSP_NONCE = "csp_nonce"


def content_security_policy(nonce: str) -> str:
    """Scripts only from our own files (no inline script, no eval, no inline handlers); styles from
    our files plus the ``<style>`` elements xterm.js creates, which ``style_nonce.js`` stamps with
    this response's nonce; no framing, no plugins, no foreign connections."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            # The service worker (/sw.js) and the app manifest: our own files only.
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    """The CSP (with a fresh nonce per response, left in ``scope["state"]`` for the templates),
    anti-framing, no MIME sniffing and a same-origin referrer on every HTTP response. A header a
    route set itself wins (the share page sends no referrer at all)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[CSP_NONCE] = nonce
        defaults = {
            b"content-security-policy": content_security_policy(nonce).encode(),
            b"x-frame-options": b"DENY",
            b"x-content-type-options": b"nosniff",
            b"referrer-policy": b"same-origin",
        }

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in defaults.items() if k not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class NulInUrlMiddleware:
    """400 for a NUL in the path or query string: PostgreSQL text cannot hold one, so it would
    otherwise surface as a 500 from the first query using the value. (Bodies and WebSocket
    frames are refused by the protocol models.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                body = json.dumps({"detail": "NUL characters are not allowed in URLs"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from ``receive``. An HTTPException because FastAPI's body parsing re-raises those but
    turns any other error into a generic 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_detail(max_bytes))


def too_large_detail(max_bytes: int) -> str:
    return f"request body exceeds {max_bytes} bytes"


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, whether or not the client declared a Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"detail": too_large_detail(self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
