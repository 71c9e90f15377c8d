"""Browser sockets bound to what let them in: a login (and the user's role on a project) or a
share link. Revocations from the bus close or downgrade them; a timer closes them at expiry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from starlette.websockets import WebSocket

from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Forbidden, HubError, Unauthorized
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import WRITE_ROLES
from orchestratia.hub.ws.io import close_for
from orchestratia.protocol.revocations import (
    AccessChanged,
    LoginsRevoked,
    Revocation,
    ShareLinkRevoked,
)

LOGIN_ENDED = {"logout": "logged out", "password_changed": "password changed"}


@dataclass(frozen=True)
class Grant:
    """What let a socket in, and until when."""

    expires_at: datetime | None
    expiry_reason: str
    auth_session_id: str | None = None
    user_id: str | None = None
    share_hash: str | None = None

    @classmethod
    def login(cls, principal: Principal) -> Grant:
        return cls(
            principal.expires_at,
            "login expired",
            auth_session_id=principal.auth_session_id,
            user_id=principal.user_id,
        )

    @classmethod
    def share_link(cls, token_hash: str, expires_at: datetime) -> Grant:
        return cls(expires_at, "share link expired", share_hash=token_hash)


def _nothing() -> None:
    return None


class SocketGuard:
    """One socket's binding. Until ``bind`` (while the socket is still being authorised) events
    are kept and replayed at ``bind``, so a revocation that lands between the database check and
    the binding is not lost."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.grant: Grant | None = None
        # Projects whose membership this socket depends on (a dashboard adds the one it is about
        # to subscribe to before checking access, for the same reason as the replay above).
        self.project_ids: set[str] = set()
        self.revoked = False
        self.read_only = False  # demoted already, or read-only from the start
        self._missed: list[Revocation] = []
        self._on_revoke: Callable[[], None] = _nothing
        self._on_read_only: Callable[[], None] = _nothing
        self._timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    def bind(
        self,
        grant: Grant,
        *,
        project_id: str | None = None,
        on_revoke: Callable[[], None] = _nothing,
        on_read_only: Callable[[], None] = _nothing,
    ) -> None:
        """Tie the socket to ``grant``. ``on_revoke`` runs before the socket is closed and must
        stop it acting at once (the close handshake takes a round trip); ``on_read_only`` runs when
        the user is demoted to a read-only role."""
        self.grant = grant
        if project_id is not None:
            self.project_ids.add(project_id)
        self._on_revoke, self._on_read_only = on_revoke, on_read_only
        if grant.expires_at is not None:
            delay = max(0.0, (grant.expires_at - utcnow()).total_seconds())
            self._timer = asyncio.get_running_loop().call_later(
                delay, self.revoke, Unauthorized(grant.expiry_reason)
            )
        missed, self._missed = self._missed, []
        for event in missed:
            self.apply(event)

    def apply(self, event: Revocation) -> None:
        if self.revoked:
            return
        grant = self.grant
        if grant is None:
            self._missed.append(event)
        elif isinstance(event, LoginsRevoked):
            if grant.auth_session_id in event.auth_session_ids:
                self.revoke(Unauthorized(LOGIN_ENDED[event.reason]))
        elif isinstance(event, AccessChanged):
            if event.user_id == grant.user_id and event.project_id in self.project_ids:
                if event.role is None:
                    self.revoke(Forbidden("removed from the project"))
                elif event.role not in WRITE_ROLES and not self.read_only:
                    # Once: the periodic re-check tells a viewer's socket again and again.
                    self.read_only = True
                    self._on_read_only()
        elif isinstance(event, ShareLinkRevoked) and event.token_hash == grant.share_hash:
            self.revoke(Unauthorized("share link revoked"))

    def revoke(self, error: HubError) -> None:
        if self.revoked:
            return
        self.revoked = True
        self.release()
        self._on_revoke()
        self._closing = asyncio.get_running_loop().create_task(self._close(error))

    async def _close(self, error: HubError) -> None:
        # The peer may be gone already, or the socket mid-close: either way it is closed.
        with contextlib.suppress(Exception):
            await close_for(self.ws, error)

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class SocketGuards:
    """The guarded sockets of this replica; subscribed to the revocation bus."""

    def __init__(self) -> None:
        self._guards: set[SocketGuard] = set()

    @contextlib.contextmanager
    def watch(self, ws: WebSocket) -> Iterator[SocketGuard]:
        """Guard ``ws`` for the life of the block; enter it before authorising the socket."""
        guard = SocketGuard(ws)
        self._guards.add(guard)
        try:
            yield guard
        finally:
            self._guards.discard(guard)
            guard.release()

    def admitted(self, path: str) -> int:
        """Sockets on ``path`` (e.g. ``/ws/dashboard``) that were let in and are still open."""
        return sum(
            1 for g in self._guards if g.grant is not None and g.ws.scope.get("path") == path
        )

    def apply(self, event: Revocation) -> None:
        for guard in list(self._guards):
            guard.apply(event)

    def memberships(self) -> set[tuple[str, str]]:
        """The (user, project) pairs whose role keeps a login's socket open or writable."""
        return {
            (g.grant.user_id, project_id)
            for g in self._guards
            if g.grant is not None and g.grant.user_id is not None
            for project_id in g.project_ids
        }

    def grants(self) -> tuple[set[str], set[str]]:
        """The logins and share links (hashes) that keep this replica's sockets open."""
        logins = {g.grant.auth_session_id for g in self._guards if g.grant is not None}
        shares = {g.grant.share_hash for g in self._guards if g.grant is not None}
        return {i for i in logins if i}, {h for h in shares if h}
