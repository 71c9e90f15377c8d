"""A replica re-checks its open sockets against the database every ``socket_recheck_seconds``:
a demotion, a removal from the project or a revoked daemon key whose revocation never reached it
over the bus (a publish given up, a subscriber cut off) still takes effect."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, update

from orchestratia.hub.db.models import Membership, ServerApiKey
from orchestratia.hub.db.types import utcnow
from tests.integration.helpers import closed_within
from tests.integration.viewer_support import Live, member
from tests.support import wait_until

RECHECK = 0.3
SOON = 5.0  # seconds: a few rechecks


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {
        "heartbeat_timeout": 60,  # fake daemons don't heartbeat
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_prefix": f"r{uuid.uuid4().hex[:12]}",
        "socket_recheck_seconds": RECHECK,
    }


async def test_a_demotion_whose_revocation_was_lost_still_makes_the_viewer_watch_only(
    live: Live,
) -> None:
    user_id, cookie = await member(live, "member")
    async with live.viewer(resume=0, cookie=cookie) as viewer:
        async with live.hub.state.sessionmaker() as db:  # changed without a word on the bus
            await db.execute(
                update(Membership)
                .where(Membership.user_id == user_id, Membership.project_id == live.project_id)
                .values(role="viewer")
            )
            await db.commit()
        deadline = time.monotonic() + SOON
        while True:
            control = await viewer.expect("control", timeout=max(0.0, deadline - time.monotonic()))
            if control["read_only"]:
                break
        await viewer.send({"type": "take_control"})
        assert (await viewer.expect("error"))["code"] == "read_only"


async def test_a_removal_whose_revocation_was_lost_still_closes_the_socket(live: Live) -> None:
    user_id, cookie = await member(live, "member")
    async with live.viewer(resume=0, cookie=cookie) as viewer:
        async with live.hub.state.sessionmaker() as db:
            await db.execute(
                delete(Membership).where(
                    Membership.user_id == user_id, Membership.project_id == live.project_id
                )
            )
            await db.commit()
        assert await closed_within(viewer.ws, SOON) == 4403


async def test_a_daemon_whose_key_revocation_was_lost_is_still_hung_up_on(live: Live) -> None:
    server_id = live.daemon.server_id
    assert live.hub.state.registry.get(server_id) is not None
    async with live.hub.state.sessionmaker() as db:
        await db.execute(
            update(ServerApiKey)
            .where(ServerApiKey.server_id == server_id)
            .values(revoked_at=utcnow())
        )
        await db.commit()
    await wait_until(
        lambda: live.hub.state.registry.get(server_id) is None,
        timeout=SOON,
        message="the daemon's socket closed",
    )
