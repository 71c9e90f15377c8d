"""A real hub on a real socket, in-process: uvicorn serving ``create_app`` on a free port."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from orchestratia.hub.app import create_app
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.state import HubState
from tests.support import REDIS_MODE, wait_until


@dataclass
class RunningHub:
    url: str
    settings: HubSettings
    server: uvicorn.Server

    @property
    def state(self) -> HubState:
        app: Any = self.server.config.app
        state: HubState = app.state.hub
        return state

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]


async def start_hub(settings: HubSettings) -> tuple[RunningHub, asyncio.Task[None]]:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        ws_max_size=settings.ws_transport_max_bytes(),
        ws_per_message_deflate=settings.ws_compression,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,  # as ``orchestratia hub serve``: the app decides whom to believe
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(
        lambda: server.started or task.done(), timeout=30, message="the hub to start", interval=0.01
    )
    if task.done():
        await task  # it stopped before starting: raise why
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningHub(f"http://127.0.0.1:{port}", settings, server), task


@asynccontextmanager
async def serving(settings: HubSettings) -> AsyncIterator[RunningHub]:
    """A hub serving for the block, shut down (lifespan and all) when it ends."""
    running, task = await start_hub(settings)
    try:
        yield running
    finally:
        running.server.should_exit = True
        await asyncio.wait_for(task, 10)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> HubSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": "test-secret-key-not-for-production",
        "restart_grace": 0,
        "heartbeat_timeout": 3,
        "liveness_sweep_interval": 0.2,
        **redis_mode(database_url),
        # Heartbeats land in the database soon after their ack, so tests wait little for them.
        "heartbeat_write_interval": 0.05,
    }
    values.update(overrides)
    return HubSettings(**values)


def redis_mode(database_url: str) -> dict[str, str]:
    """With ``ORCHESTRATIA_TEST_REDIS_URL`` set, every hub runs as a replica on that Redis (the
    suite's Redis mode); hubs on one database form one cluster, so they share a prefix."""
    url = os.environ.get(REDIS_MODE)
    if not url:
        return {}
    prefix = "t" + hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return {"redis_url": url, "redis_prefix": prefix}
