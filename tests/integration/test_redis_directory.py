"""The directory of which replica holds which daemon, on a real Redis: claims, a newer claim
winning over an older replica's renewals, releases that tell a takeover from a disconnect, and a
dead replica's daemons lapsing with its lease."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from orchestratia.hub.bus import Holder
from orchestratia.hub.redis_bus import RedisBus
from orchestratia.protocol.cluster import ApprovalDecided, ClusterMessage

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RedisBus, RedisBus, str]]:
    prefix = f"u{uuid.uuid4().hex[:12]}"
    a, b = RedisBus(URL, prefix, "replica-a"), RedisBus(URL, prefix, "replica-b")
    await a.start()
    await b.start()
    try:
        yield a, b, prefix
    finally:
        await a.close()
        await b.close()


async def test_a_newer_claim_wins_and_the_old_release_says_so(
    pair: tuple[RedisBus, RedisBus, str],
) -> None:
    a, b, prefix = pair
    await a.claim("srv-1", 3)
    assert await b.holder("srv-1") == Holder("replica-a", 3)
    await b.claim("srv-1", 2)
    await a._renew()  # an old holder's renewal must not take the daemon back
    client = redis.from_url(URL)
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
    client = redis.from_url(URL)
    await client.zadd(f"{prefix}:replicas", {"replica-a": 1.0})
    await client.aclose()
    b._alive_at = float("-inf")  # past its one-second cache
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
