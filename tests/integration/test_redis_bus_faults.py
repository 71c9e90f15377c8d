"""The Redis bus under what a stray publisher, a failing Redis or junk in the directory does to
it, on a real Redis: the reader keeps reading, control messages are not lost, the directory
never raises and never deletes a fresh claim."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest
import redis.asyncio as redis
from redis.exceptions import RedisError

from orchestratia.hub.bus import Following, Holder
from orchestratia.hub.redis_bus import RedisBus
from orchestratia.protocol.cluster import ApprovalDecided, ClusterMessage, OutputMessage
from tests.integration.bus_support import BUS_KEY, REDIS_URL
from tests.support import wait_until


def _collect(bus: RedisBus) -> list[ClusterMessage]:
    heard: list[ClusterMessage] = []

    async def on(m: ClusterMessage) -> None:
        heard.append(m)

    bus.on_message(on)
    return heard


async def test_a_publish_on_a_channel_that_is_not_utf8_does_not_stop_the_reader(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, prefix = pair
    heard = _collect(b)
    outputs: list[OutputMessage] = []
    b.follow_output(Following("proj-1", None, lambda _p, _s, o: outputs.append(o)))

    # The pattern subscription is made in the background: wait until output reaches B by it.
    def probe() -> bool:
        a.publish_output("proj-1", "sess-0", 0, b"first")
        return bool(outputs)

    await wait_until(probe, message="B to follow the project")
    client = redis.from_url(REDIS_URL)
    await client.publish(f"{prefix}:out:proj-1:".encode() + b"\xff\xfe", b"junk")
    await client.aclose()
    message = ApprovalDecided(origin="replica-a", approval_id="ap-1")
    await a.broadcast(message)
    await wait_until(lambda: heard == [message], message="B to hear A after the junk")
    assert b.rejected >= 1


async def test_control_messages_pass_a_full_output_queue(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, _ = pair
    heard = _collect(b)
    a.outbox.queue_bytes = 3000
    a.publish_output("proj-1", "sess-1", 0, b"x" * 2900)  # the writer has not run: still queued
    message = ApprovalDecided(origin="replica-a", approval_id="ap-2")
    await a.broadcast(message)
    a.publish_output("proj-1", "sess-1", 2900, b"y" * 2900)  # output past the cap is dropped
    await wait_until(lambda: heard == [message], message="B to hear the control message")
    assert a.outbox.dropped == 1


async def test_a_control_message_whose_publish_failed_is_published_again(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    _, b, prefix = pair
    heard = _collect(b)
    admin = redis.from_url(REDIS_URL)
    user, password = f"bus-{prefix}", uuid.uuid4().hex
    await admin.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    url = f"redis://{user}:{password}@127.0.0.1:6379/0"
    a = RedisBus(url, prefix, BUS_KEY, "replica-a2")
    await a.start()
    try:
        # Redis refuses A's publishes for a while (as when its connection keeps failing).
        await admin.acl_setuser(user, enabled=True, commands=["-publish"])
        message = ApprovalDecided(origin="replica-a2", approval_id="ap-3")
        await a.broadcast(message)
        await wait_until(lambda: a.outbox.publish_failures >= 2, message="publishes to fail")
        await admin.acl_setuser(user, enabled=True, commands=["+publish"])
        await wait_until(lambda: heard == [message], message="B to hear it once Redis takes it")
    finally:
        await a.close()
        await admin.acl_deluser(user)
        await admin.aclose()


async def test_junk_in_the_directory_reads_as_absent(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, prefix = pair
    await a.claim("srv-1", 3)
    client = redis.from_url(REDIS_URL)
    await client.hset(
        f"{prefix}:daemons",
        mapping={"srv-2": "ghost|x", "srv-3": b"\xff\xfe|3", b"\xff": "replica-a|3", "srv-4": "|"},
    )
    assert await b.holder("srv-2") is None and await b.holder("srv-3") is None
    assert await b.holder("srv-4") is None
    assert await b.connected_ids() == {"srv-1"}
    assert await client.hkeys(f"{prefix}:daemons") == [b"srv-1"]  # junk cleared
    await client.aclose()


async def test_a_stale_entry_is_not_deleted_once_reclaimed_and_is_overwritten_by_reassert(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, prefix = pair
    client = redis.from_url(REDIS_URL)
    # A dead replica's entry, read as stale; between the read and the delete B claims.
    await client.hset(f"{prefix}:daemons", "srv-5", "replica-dead|3")
    forget = b.directory._forget
    await b.claim("srv-5", 2)
    await forget(keys=[f"{prefix}:daemons"], args=["srv-5", "replica-dead|3"])
    assert await client.hget(f"{prefix}:daemons", "srv-5") == b"replica-b|2"
    # A claims a server whose entry (a dead replica's) outlived it: re-asserting takes it back.
    await client.hset(f"{prefix}:daemons", "srv-6", "replica-dead|3")
    a._held["srv-6"] = 3
    await a.directory.renew()
    assert await client.hget(f"{prefix}:daemons", "srv-6") == b"replica-a|3"
    assert await b.holder("srv-6") == Holder("replica-a", 3)
    await client.aclose()


async def test_a_redis_that_never_answers_times_out() -> None:
    # Accepts connections and says nothing, as a blackholed Redis behind a balancer would.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(8)
    port = blackhole.getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", "bh", BUS_KEY, "replica-x", socket_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises((RedisError, OSError)):
            await asyncio.wait_for(bus._redis.publish("bh:all", b"x"), 10)
    finally:
        await bus.close()
        blackhole.close()
    assert time.monotonic() - started < 5


async def test_a_session_followed_within_a_followed_project_comes_once(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, _ = pair
    by_session: list[int] = []
    by_project: list[int] = []
    # The project first: following the session then needs no subscription of its own.
    b.follow_output(Following("proj-1", None, lambda _p, _s, o: by_project.append(o.offset)))
    b.follow_output(Following("proj-1", "sess-1", lambda _p, _s, o: by_session.append(o.offset)))
    offset = 0

    def probe() -> bool:
        nonlocal offset
        a.publish_output("proj-1", "sess-1", offset, b"x")
        offset += 1
        return len(by_session) >= 20 and len(by_project) >= 20

    await wait_until(probe, message="output to reach both followers")
    assert b.rejected == 0  # no second copy (by channel and by pattern) to reject as a replay
    assert len(set(by_session)) == len(by_session)
    # Unfollowing the project leaves the session followed by its own channel.
    b.unfollow_output(next(iter(b._projects["proj-1"])))
    count = len(by_session)

    def by_channel() -> bool:
        nonlocal offset
        a.publish_output("proj-1", "sess-1", offset, b"x")
        offset += 1
        return len(by_session) >= count + 5

    await wait_until(by_channel, message="output to reach the session by its channel")
