"""Redis restarted mid-stream under two replicas: the viewer on B of a session held by A misses
what was published while Redis was away, repairs it from the recording by offset, and ends
byte-identical with the recording; nothing is lost from the recording. A logout told while Redis
was away still closes the sockets of that login on the other replica once the bus is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from orchestratia.hub.settings import HubSettings
from tests.chaos.redis_support import redis_server
from tests.integration.helpers import (
    FakeDaemon,
    ViewerClient,
    login_cookie,
    recording,
    start_session,
)
from tests.integration.hub_setup import bearer_client, create_admin, register_server
from tests.integration.running_hub import make_settings, serving
from tests.integration.viewer_support import ALICE

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


def _log(part: int, lines: int) -> bytes:
    return b"".join(b"part %d line %06d of the build\r\n" % (part, i) for i in range(lines))


async def test_viewers_resync_after_redis_restarts_and_nothing_is_lost(
    database_url: str, tmp_path: Path
) -> None:
    with redis_server(tmp_path) as redis:
        prefix = f"c{uuid.uuid4().hex[:12]}"

        def settings(name: str) -> HubSettings:
            return make_settings(
                database_url, tmp_path / name, redis_url=redis.url, redis_prefix=prefix,
                heartbeat_timeout=60,
            )  # fmt: skip

        async with serving(settings("a")) as a, serving(settings("b")) as b:
            await create_admin(a, ALICE, "tenant-a")
            admin = await bearer_client(b, ALICE)
            project = (await admin.post("/api/v1/projects", json={"name": "p"})).json()["id"]
            server = await register_server(admin, project)
            cookie = await login_cookie(b, ALICE)
            async with FakeDaemon.connect(a, server["api_key"]) as daemon:
                sid = (await start_session(admin, daemon))["id"]
                parts = [_log(1, 3000), _log(2, 3000), _log(3, 3000)]
                leaving = await login_cookie(b, ALICE)
                async with (
                    ViewerClient.open(b, sid, cookie=cookie, resume=0) as viewer,
                    ViewerClient.open(b, sid, cookie=leaving, resume=0) as logged_out,
                ):
                    await viewer.expect("status")
                    await logged_out.expect("status")
                    end = await _stream(daemon, sid, 0, parts[0])
                    await viewer.read_to(end)

                    redis.kill()
                    end = await _stream(daemon, sid, end, parts[1])  # published into the void
                    await daemon.wait_acked(sid, end)
                    async with httpx.AsyncClient(base_url=a.url) as on_a:  # A cannot tell B
                        bearer = {"Authorization": f"Bearer {leaving}"}
                        res = await on_a.post("/api/v1/auth/logout", headers=bearer)
                        assert res.status_code == 204, res.text
                    redis.start()
                    restarted = time.monotonic()
                    end = await _stream(daemon, sid, end, parts[2])
                    await viewer.read_to(end, timeout=30)
                    caught_up = time.monotonic() - restarted

                    assert viewer.segments[-1].data == b"".join(parts)
                    # B re-checked its sockets' logins once the bus was back.
                    await asyncio.wait_for(logged_out.ws.wait_closed(), 30)
                    assert logged_out.ws.close_code == 4401
                await daemon.wait_acked(sid, end)
            assert await recording(admin, sid) == b"".join(parts)  # bytes lost: 0
            await admin.aclose()
            print(f"\nredis restart: viewer caught up {caught_up:.2f} s after Redis was back")


async def _stream(daemon: FakeDaemon, sid: str, start: int, data: bytes) -> int:
    await daemon.stream(sid, data, start=start, frame_bytes=8192)
    return start + len(data)
