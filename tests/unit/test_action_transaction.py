"""``actions.transaction.run``: what a use case records leaves the hub only after its commit —
a failed or refused transaction publishes, delivers, revokes and hangs up on nothing."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.bus import LocalBus
from orchestratia.hub.db.task_models import Delivery
from orchestratia.hub.errors import Conflict
from orchestratia.hub.metrics import HubMetrics
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.ws import daemon_routing
from orchestratia.hub.ws.registry import ConnectionRegistry, DaemonConnection
from orchestratia.protocol.dashboard_events import InboxUpdate
from orchestratia.protocol.revocations import LoginsRevoked, Revocation

PROJECT, SERVER = "p-1", "srv-1"


class FakeDb:
    """Stands in for the request's ``AsyncSession``: counts commits and rollbacks."""

    def __init__(
        self, on_commit: Exception | None = None, at_commit: Callable[[], bool] | None = None
    ) -> None:
        self.on_commit, self.at_commit = on_commit, at_commit
        self.commits = self.rollbacks = 0
        self.seen_at_commit: list[bool] = []

    async def commit(self) -> None:
        if self.on_commit is not None:
            raise self.on_commit
        if self.at_commit is not None:
            self.seen_at_commit.append(self.at_commit())
        self.commits += 1

    async def rollback(self) -> None:
        self.rollbacks += 1


class FakeSocket:
    """Stands in for a daemon's socket: records what was sent and how it was closed."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: list[tuple[int, str]] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


class Rig:
    def __init__(self) -> None:
        self.bus = LocalBus()
        self.feed = self.bus.subscribe(PROJECT)
        self.revoked: list[Revocation] = []
        self.bus.subscribe_revocations(self.revoked.append)
        self.socket = FakeSocket()
        registry = ConnectionRegistry()
        socket: Any = self.socket
        registry.add(DaemonConnection(SERVER, PROJECT, socket, protocol=2))
        self.metrics = HubMetrics()
        self.hub: Any = SimpleNamespace(bus=self.bus, registry=registry, metrics=self.metrics)
        # What replicas tell one another (a key revoked: hang up) is carried out by the
        # handler the hub installs at start-up.
        self.bus.on_message(lambda message: daemon_routing.handle(self.hub, message))

    def transitions_counted(self) -> float:
        labels = {"from_status": "running", "to_status": "done"}
        found = self.metrics.registry.get_sample_value(
            "orchestratia_task_transitions_total", labels
        )
        return found or 0.0

    def told_nothing(self) -> bool:
        return (
            self.feed.empty()
            and self.transitions_counted() == 0
            and not self.revoked
            and not self.socket.sent
            and not self.socket.closed
        )


def _record_everything(outbox: Outbox, with_delivery: bool) -> None:
    if with_delivery:
        outbox.deliveries.append(
            Delivery(id="d-1", server_id=SERVER, session_id="s-1", kind="task_note", payload={})
        )
        outbox.auto_assign.add(PROJECT)
    outbox.notify(PROJECT, InboxUpdate())
    outbox.revocations.append(LoginsRevoked(auth_session_ids=["login-1"], reason="logout"))
    outbox.keys_revoked.append(SERVER)
    outbox.transitions.append(("running", "done"))  # metered only once committed


async def test_an_action_whose_service_fails_tells_nobody() -> None:
    rig, db = Rig(), FakeDb()

    async def work(outbox: Outbox) -> None:
        _record_everything(outbox, with_delivery=True)
        raise LookupError("the service refused")

    with pytest.raises(LookupError):
        await run(db, rig.hub, work)  # type: ignore[arg-type]
    assert (db.commits, db.rollbacks) == (0, 1)
    assert rig.told_nothing()


async def test_a_commit_that_loses_a_race_is_a_conflict_and_tells_nobody() -> None:
    rig = Rig()
    db = FakeDb(on_commit=IntegrityError("INSERT", {}, Exception("unique")))

    async def work(outbox: Outbox) -> str:
        _record_everything(outbox, with_delivery=True)
        return "done"

    with pytest.raises(Conflict):
        await run(db, rig.hub, work)  # type: ignore[arg-type]
    assert db.rollbacks == 1
    assert rig.told_nothing()


async def test_a_committed_action_tells_everyone_after_the_commit() -> None:
    rig = Rig()
    db = FakeDb(at_commit=rig.told_nothing)

    async def work(outbox: Outbox) -> str:
        _record_everything(outbox, with_delivery=False)
        return "done"

    assert await run(db, rig.hub, work) == "done"  # type: ignore[arg-type]
    assert (db.commits, db.rollbacks) == (1, 0)
    assert db.seen_at_commit == [True]  # nothing had left the hub when it committed
    assert rig.feed.get_nowait() == {"type": "inbox_update"}
    assert rig.revoked == [LoginsRevoked(auth_session_ids=["login-1"], reason="logout")]
    assert rig.socket.closed == [(4401, "server key revoked")]
    assert rig.transitions_counted() == 1
