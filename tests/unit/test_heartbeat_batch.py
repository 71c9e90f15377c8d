"""The hub's batch of heartbeats waiting for their write, and one connect or disconnect of a
server at a time (``ConnectionRegistry.turn``)."""

from __future__ import annotations

import asyncio

from orchestratia.hub.services.fleet.heartbeat_batch import HeartbeatBatch
from orchestratia.hub.ws.registry import ConnectionRegistry


def test_latest_report_wins_and_an_empty_one_keeps_it() -> None:
    batch = HeartbeatBatch()
    batch.add("a", {"cpu_percent": 1.0})
    batch.add("a", {"cpu_percent": 2.0})
    batch.add("a", None)
    batch.add("b", None)
    assert len(batch) == 2
    assert batch.take() == {"a": {"cpu_percent": 2.0}, "b": None}
    assert batch.take() == {}


def test_a_failed_write_is_restored_under_newer_beats_and_a_close_discards() -> None:
    batch = HeartbeatBatch()
    batch.add("a", {"n": 1})
    batch.add("b", {"n": 1})
    taken = batch.take()
    batch.add("a", {"n": 2})
    batch.restore(taken)
    assert batch.take() == {"a": {"n": 2}, "b": {"n": 1}}
    batch.add("c", None)
    batch.discard("c")
    batch.discard("never-seen")
    assert len(batch) == 0


async def test_turns_of_one_server_do_not_interleave() -> None:
    registry = ConnectionRegistry()
    order: list[str] = []
    entered = asyncio.Event()

    async def first() -> None:
        async with registry.turn("s1"):
            order.append("first in")
            entered.set()
            for _ in range(5):  # the others get every chance to run meanwhile
                await asyncio.sleep(0)
            order.append("first out")

    async def second() -> None:
        await entered.wait()
        async with registry.turn("s1"):
            order.append("second")

    async def other_server() -> None:
        await entered.wait()
        async with registry.turn("s2"):
            order.append("other server")

    await asyncio.gather(first(), second(), other_server())
    assert order == ["first in", "other server", "first out", "second"]
    assert registry._turns == {}  # no lock outlives its users
