"""Webhook delivery by real hub processes (``orchestratia hub serve``): a receiver that is down
while the hub is killed (SIGKILL) and restarted still gets every event, and two hubs on one
database make each attempt exactly once."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.sealing import Keyring
from tests.e2e.processes import HubProcess, base_env
from tests.integration import webhook_support as ws
from tests.support import free_port, wait_until

KEYS = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
SETTINGS = {
    "ORCHESTRATIA_ENCRYPTION_KEYS": KEYS,
    "ORCHESTRATIA_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on 127.0.0.1
    "ORCHESTRATIA_WEBHOOK_RETRY_BASE": "0.2",
    "ORCHESTRATIA_WEBHOOK_RETRY_CAP": "1",
    "ORCHESTRATIA_WEBHOOK_TIMEOUT": "2",
    "ORCHESTRATIA_WEBHOOK_CONNECT_TIMEOUT": "1",
    "ORCHESTRATIA_INTEGRATIONS_POLL_INTERVAL": "0.2",
}
Launch = Callable[[str], HubProcess]


@pytest.fixture
async def launch(database_url: str, tmp_path: Path) -> AsyncIterator[Launch]:
    """Makes hub processes on the test's database (stopped at the end)."""
    made: list[HubProcess] = []

    def make(name: str) -> HubProcess:
        data_dir = tmp_path / name
        env = base_env(data_dir) | SETTINGS | {"ORCHESTRATIA_DATABASE_URL": database_url}
        hub = HubProcess(data_dir, free_port(), env, tmp_path / f"{name}.log")
        made.append(hub)
        return hub

    try:
        yield make
    finally:
        for hub in made:
            await asyncio.to_thread(hub.kill)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[ws.Sessions]:
    engine = build_engine(database_url)
    try:
        yield build_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load(tmp_path / "keys", KEYS)


async def test_receiver_down_and_hub_killed_every_event_arrives_once(
    launch: Launch, sessions: ws.Sessions, keyring: Keyring
) -> None:
    receiver = ws.Receiver(secrets=[])
    receiver.hold()  # down: its port refuses connections
    where = await ws.project(sessions)
    endpoint, secret = await ws.endpoint(sessions, keyring, where, receiver.url)
    receiver.secrets = [secret]
    ids = await ws.queue_events(sessions, [endpoint], 5, window=120)
    first = launch("first")
    await asyncio.to_thread(first.start)

    async def failed_twice() -> bool:
        logged = await ws.attempts(sessions, endpoint.id)
        return len(logged) == len(ids) and all(len(v) >= 2 for v in logged.values())

    await wait_until(failed_twice, 30, "two failed attempts of every event")
    await asyncio.to_thread(first.kill)  # SIGKILL: no shutdown, leases left as they were
    await receiver.start()
    second = launch("second")
    await asyncio.to_thread(second.start)
    try:
        done = await wait_until(lambda: ws.settled(sessions, endpoint.id), 60, "every event")
    finally:
        await receiver.stop()
    assert [d.status for d in done] == ["succeeded"] * len(ids)
    received = receiver.by_id()
    assert sorted(received) == sorted(ids)
    # One request per event reached the receiver (it was down before), verified, and the
    # same webhook-id the failed attempts had.
    assert {len(v) for v in received.values()} == {1} and not receiver.unverified()
    logged = await ws.attempts(sessions, endpoint.id)
    for event_id in ids:
        series = logged[event_id]
        assert [a.number for a in series] == list(range(1, len(series) + 1))
        assert [a.ok for a in series] == [False] * (len(series) - 1) + [True]
        assert all(a.error and "Connect" in a.error for a in series[:-1])
    replicas = {a.replica for v in logged.values() for a in v}
    assert len(replicas) == 2  # attempts by the killed hub and by the one after it


async def test_two_hubs_on_one_database_make_each_attempt_once(
    launch: Launch, sessions: ws.Sessions, keyring: Keyring
) -> None:
    # Every event fails twice, then gets through: three attempts each, spread over both hubs.
    receiver = ws.Receiver(secrets=[], answer=lambda _id, n: 500 if n <= 2 else 200)
    await receiver.start()
    try:
        where = await ws.project(sessions)
        endpoint, secret = await ws.endpoint(sessions, keyring, where, receiver.url)
        receiver.secrets = [secret]
        hubs = [launch("left"), launch("right")]
        for hub in hubs:
            await asyncio.to_thread(hub.start)
        ids = await ws.queue_events(sessions, [endpoint], 20, window=120)
        done = await wait_until(lambda: ws.settled(sessions, endpoint.id), 60, "every event")
    finally:
        await receiver.stop()
    assert [d.status for d in done] == ["succeeded"] * len(ids)
    received, logged = receiver.by_id(), await ws.attempts(sessions, endpoint.id)
    assert sorted(received) == sorted(logged) == sorted(ids)
    for event_id in ids:
        # The receiver counts requests per (webhook-id, attempt); the log has one row each.
        assert [r.status for r in received[event_id]] == [500, 500, 200]
        assert [a.number for a in logged[event_id]] == [1, 2, 3]
        assert [a.status_code for a in logged[event_id]] == [500, 500, 200]
    assert not receiver.unverified()
    assert len({a.replica for v in logged.values() for a in v}) == 2  # both hubs delivered
