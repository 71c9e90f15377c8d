"""Fakes for the delivery queue: a clock that moves only when the queue sleeps, a terminal that
records what is typed, a link that records what is sent; and a task note frame."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orchestratia.agent.link.errors import NotConnected
from orchestratia.agent.terminal.tmux import TmuxError


class FakeClock:
    """Time moves only when the queue sleeps; each sleep lets other tasks run once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class FakeTerminal:
    def __init__(self, directory: Path, clock: FakeClock) -> None:
        self.directory = directory
        self.clock = clock
        self.alive = True
        self.busy_until = 0.0  # the program writes output continuously until then
        self.typed: list[tuple[float, bytes]] = []
        self.fail = False
        self.echoed = 0

    def output_mark(self) -> int:
        return int(min(self.clock.now, self.busy_until) * 1000) + self.echoed

    async def type(self, data: bytes) -> None:
        if self.fail:
            raise TmuxError(["send-keys"], "no such session")
        self.typed.append((self.clock.now, data))
        self.echoed += len(data)
        await asyncio.sleep(0)

    def lines(self) -> list[bytes]:
        return [data for _, data in self.typed if data != b"\r"]


class FakeLink:
    def __init__(self) -> None:
        self.up = True
        self.sent: list[dict[str, Any]] = []

    async def send(self, frame: BaseModel) -> None:
        if not self.up:
            raise NotConnected("down")
        self.sent.append(frame.model_dump())

    def acks(self) -> list[tuple[str, str]]:
        return [(a["delivery_id"], a["status"]) for a in self.sent]


def note(
    delivery_id: str | None, content: str = "hi", *, urgent: bool = False, session_id: str = "s1"
) -> dict[str, Any]:
    return {
        "type": "task_note",
        "session_id": session_id,
        "delivery_id": delivery_id,
        "task_id": "task1234",
        "content": content,
        "urgent": urgent,
    }


async def settle(probe: Callable[[], object], steps: int = 5000) -> None:
    for _ in range(steps):
        if probe():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
