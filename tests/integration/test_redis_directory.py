"""The directory of which replica holds which daemon, on a real Redis: claims, a newer claim
winning over an older replica's renewals, releases that tell a takeover from a disconnect, and a
dead replica's daemons lapsing with its lease."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from orchestratia.hub.bus import Holder
from orchestratia.hub.redis_bus import RedisBus
from orchestratia.protocol.cluster import ApprovalDecided, ClusterMessage, DaemonText
from tests.integration.bus_support import REDIS_URL


async def test_a_newer_claim_wins_and_the_old_release_says_so(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, prefix = pair
    await a.claim("srv-1", 3)
    assert await b.holder("srv-1") == Holder("replica-a", 3)
    await b.claim("srv-1", 2)
    await a.directory.renew()  # an old holder's renewal must not take the daemon back
    client = redis.from_url(REDIS_URL)
    assert await client.hget(f"{prefix}:daemons", "srv-1") == b"replica-b|2"
    await client.aclose()
    assert await a.release("srv-1") is False  # taken over: not a disconnect
    assert await b.connected_ids() == {"srv-1"}
    assert await b.release("srv-1") is True
    assert await a.connected_ids() == set() and await a.holder("srv-1") is None


async def test_a_dead_replicas_daemons_lapse_with_its_lease(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, prefix = pair
    await a.claim("srv-2", 3)
    assert await b.holder("srv-2") is not None
    # A dies without a word: its lease is not renewed and runs out.
    client = redis.from_url(REDIS_URL)
    await client.zadd(f"{prefix}:replicas", {"replica-a": 1.0})
    await client.aclose()
    b.directory.forget_liveness()  # past its one-second cache
    assert await b.holder("srv-2") is None
    assert await b.connected_ids() == set()


async def test_messages_reach_every_replica_and_one_replica(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, _ = pair
    heard: dict[str, list[ClusterMessage]] = {"a": [], "b": []}

    async def on_a(m: ClusterMessage) -> None:
        heard["a"].append(m)

    async def on_b(m: ClusterMessage) -> None:
        heard["b"].append(m)

    a.on_message(on_a)
    b.on_message(on_b)
    everyone = ApprovalDecided(origin="replica-a", approval_id="ap-1")
    await a.broadcast(everyone)
    only_b = ApprovalDecided(origin="replica-a", approval_id="ap-2")
    await a.send_to("replica-b", only_b)
    for _ in range(100):
        if len(heard["b"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert heard == {"a": [everyone], "b": [everyone, only_b]}  # A heard its own once


async def test_what_an_attacker_on_redis_sees_and_sends_is_nothing(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    """Anyone who reaches Redis (an unauthenticated one on loopback) reads only sealed bytes, and
    a message they forge, alter or replay is dropped: no keystroke reaches a daemon."""
    a, b, prefix = pair
    heard: list[ClusterMessage] = []

    async def on_b(m: ClusterMessage) -> None:
        heard.append(m)

    b.on_message(on_b)
    spy = redis.from_url(REDIS_URL).pubsub()
    await spy.psubscribe(f"{prefix}:*")
    a.publish_output("proj-1", "sess-1", 0, b"the-secret-output AKIAIOSFODNN7EXAMPLE")
    typed = DaemonText(origin="replica-a", server_id="srv-9", text='{"type":"session_input"}')
    await a.send_to("replica-b", typed)
    captured: list[tuple[str, bytes]] = []
    for _ in range(200):
        got = await spy.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if got is not None:
            captured.append((got["channel"].decode(), got["data"]))
        if len(captured) == 2 and heard:
            break
    assert heard == [typed]
    assert all(
        b"the-secret-output" not in data and b"session_input" not in data for _, data in captured
    )

    client = redis.from_url(REDIS_URL)
    to_b = f"{prefix}:to:replica-b"
    sealed = next(data for channel, data in captured if channel == to_b)
    forged = typed.model_copy(update={"text": '{"type":"session_input","data":"cm0gLXJmIC8="}'})
    attempts = [
        forged.model_dump_json().encode(),  # plain JSON, as if Redis were trusted
        sealed[:-1] + bytes([sealed[-1] ^ 1]),  # altered in flight
        sealed,  # replayed as captured
    ]
    for attempt in attempts:
        await client.publish(to_b, attempt)
    await client.publish(f"{prefix}:all", sealed)  # moved to another channel
    for _ in range(100):
        if b.rejected >= 4:
            break
        await asyncio.sleep(0.02)
    assert b.rejected == 4 and heard == [typed]
    await spy.aclose()
    await client.aclose()
