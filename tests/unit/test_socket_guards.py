"""``SocketGuard``: the races a real socket cannot stage on demand — a revocation landing while
the socket is still being authorised, an expiry already past at binding — and which events
concern which socket."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from orchestratia.hub.bus import LocalBus
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.ws.socket_guards import Grant, SocketGuards
from orchestratia.protocol.revocations import AccessChanged, LoginsRevoked, ShareLinkRevoked

HOUR = timedelta(hours=1)


class ClosingSocket:
    """Stands in for the Starlette socket: records how the guard closed it."""

    def __init__(self) -> None:
        self.closed: list[tuple[int, str]] = []

    async def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


def _login(expires_in: timedelta = HOUR) -> Grant:
    principal = Principal(
        "user-1", "tenant-1", "a@a.example", False, "login-1", utcnow() + expires_in
    )
    return Grant.login(principal)


async def _settled() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_revocation_during_authorisation_is_applied_at_binding() -> None:
    guards, bus = SocketGuards(), LocalBus()
    bus.subscribe_revocations(guards.apply)
    ws = ClosingSocket()
    socket: Any = ws
    with guards.watch(socket) as guard:
        await bus.publish_revocation(LoginsRevoked(auth_session_ids=["login-1"], reason="logout"))
        await _settled()
        assert ws.closed == [] and not guard.revoked  # not bound yet: kept, not applied
        stopped: list[bool] = []
        guard.bind(_login(), project_id="p-1", on_revoke=lambda: stopped.append(True))
        await _settled()
    assert stopped == [True]
    assert ws.closed == [(4401, "logged out")]


async def test_only_the_events_that_concern_the_socket_act_on_it() -> None:
    guards = SocketGuards()
    ws = ClosingSocket()
    socket: Any = ws
    read_only: list[bool] = []
    with guards.watch(socket) as guard:
        guard.bind(_login(), project_id="p-1", on_read_only=lambda: read_only.append(True))
        for event in (
            LoginsRevoked(auth_session_ids=["login-2"], reason="logout"),
            AccessChanged(project_id="p-2", user_id="user-1", role=None),
            AccessChanged(project_id="p-1", user_id="user-2", role=None),
            AccessChanged(project_id="p-1", user_id="user-1", role="member"),
            ShareLinkRevoked(token_hash="0" * 64),
        ):
            guards.apply(event)
        await _settled()
        assert ws.closed == [] and read_only == []
        guards.apply(AccessChanged(project_id="p-1", user_id="user-1", role="viewer"))
        assert read_only == [True] and not guard.revoked
        guards.apply(AccessChanged(project_id="p-1", user_id="user-1", role=None))
        guards.apply(LoginsRevoked(auth_session_ids=["login-1"], reason="logout"))
        await _settled()
    assert ws.closed == [(4403, "removed from the project")]  # closed once, by the first


async def test_a_grant_already_expired_closes_at_once_and_a_released_one_never() -> None:
    guards = SocketGuards()
    expired, released = ClosingSocket(), ClosingSocket()
    first: Any = expired
    second: Any = released
    with guards.watch(first) as guard:
        guard.bind(Grant.share_link("f" * 64, utcnow() - timedelta(seconds=1)))
        await _settled()
    assert expired.closed == [(4401, "share link expired")]
    with guards.watch(second) as guard:
        guard.bind(_login(timedelta(milliseconds=50)))
    await asyncio.sleep(0.1)
    assert released.closed == []
