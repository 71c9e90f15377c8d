"""A running session on a connected fake daemon, and the browsers that watch it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.integration.helpers import FakeDaemon, ViewerClient, login_cookie, start_session
from tests.integration.hub_setup import add_user, register_server
from tests.integration.running_hub import RunningHub

ALICE = "alice@a.example"
MIA = "mia@a.example"


@dataclass
class Live:
    """A running session on a connected fake daemon, and a logged-in browser's cookie."""

    hub: RunningHub
    admin: httpx.AsyncClient
    project_id: str
    daemon: FakeDaemon
    session_id: str
    cookie: str

    def viewer(self, **kwargs: Any) -> AbstractAsyncContextManager[ViewerClient]:
        """A browser on this session, logged in as its owner unless told otherwise."""
        kwargs.setdefault("cookie", self.cookie)
        return ViewerClient.open(self.hub, self.session_id, **kwargs)


@asynccontextmanager
async def live_session(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> AsyncIterator[Live]:
    server = await register_server(admin, project_id)
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        session = await start_session(admin, daemon)
        cookie = await login_cookie(hub, ALICE)
        yield Live(hub, admin, project_id, daemon, session["id"], cookie)


async def member(live: Live, role: str) -> tuple[str, str]:
    """Mia, a plain user with ``role`` on the project: her user id and a login cookie."""
    client = await add_user(live.hub, live.admin, MIA, live.project_id, role)
    try:
        me = (await client.get("/api/v1/auth/me")).json()
    finally:
        await client.aclose()
    return me["id"], await login_cookie(live.hub, MIA)
