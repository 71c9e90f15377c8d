"""Shared fan-out in the relay: one frame object for every viewer, and a busy viewer's backlog
joined into frames that keep order and offsets exact (real relay and pumps, fake sockets)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import cast

import pytest
from starlette.websockets import WebSocket

from orchestratia.hub.ws import terminal_relay
from orchestratia.hub.ws.terminal_relay import SessionRelay, SessionView, SnapshotRoute
from orchestratia.hub.ws.viewer_pump import run_viewer
from orchestratia.hub.ws.viewer_queue import Viewer
from orchestratia.protocol.viewer import output_size, pack_output, unpack_output
from tests.support import wait_until


class SlowSocket:
    """Records every message the relay sends; while ``gate`` is shut, a send blocks as on a
    socket whose pipe is full."""

    def __init__(self) -> None:
        self.sent: list[bytes | str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.blocked = 0

    async def send_bytes(self, data: bytes) -> None:
        await self._wait()
        self.sent.append(data)

    async def send_text(self, text: str) -> None:
        await self._wait()
        self.sent.append(text)

    async def _wait(self) -> None:
        if not self.gate.is_set():
            self.blocked += 1
            await self.gate.wait()

    @property
    def frames(self) -> list[bytes]:
        return [m for m in self.sent if isinstance(m, bytes)]

    def output(self) -> bytes:
        return b"".join(unpack_output(f)[1] for f in self.frames)


class Rig:
    def __init__(self, history: bytes = b"") -> None:
        self.history = history  # what the recording holds from offset 0

        async def read(offset: int, limit: int) -> tuple[int, bytes]:
            return offset, self.history[offset : offset + limit]

        async def no_snapshot(_request_id: str) -> SnapshotRoute:
            return SnapshotRoute.NONE

        view = SessionView("running", None, 80, 24)
        self.relay = SessionRelay("s1", len(history), view, read, no_snapshot)
        self.tasks: list[asyncio.Task[None]] = []
        self.published = bytearray(history)

    async def watch(self, resume: int) -> SlowSocket:
        """A viewer resuming at ``resume``, once its pump has started (and queues output)."""
        sock = SlowSocket()
        viewer = Viewer(cast(WebSocket, sock), read_only=True)
        self.relay.add(viewer)
        self.tasks.append(asyncio.create_task(run_viewer(self.relay, viewer, resume)))
        await _soon(lambda: viewer.next_offset is not None and _said(sock, '"viewers"'))
        return sock

    def publish(self, data: bytes) -> None:
        self.relay.publish(len(self.published), data)
        self.published += data

    async def delivered(self, sock: SlowSocket, start: int = 0) -> None:
        await _soon(lambda: len(sock.output()) >= len(self.published) - start)
        assert sock.output() == bytes(self.published[start:])

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _said(sock: SlowSocket, text: str, *, last: bool = False) -> bool:
    """Whether ``sock`` was sent a JSON frame holding ``text`` (``last``: as its latest frame)."""
    said = [m for m in sock.sent if isinstance(m, str)]
    return any(text in m for m in (said[-1:] if last else said))


async def _soon(probe: Callable[[], bool]) -> None:
    await wait_until(probe, timeout=5, interval=0.001)


def _contiguous(frames: list[bytes], start: int) -> list[tuple[int, int]]:
    """Each frame's [offset, end); asserts they follow each other exactly from ``start``."""
    spans = []
    for frame in frames:
        offset, data = unpack_output(frame)
        assert offset == start, f"frame at {offset}, expected {start}"
        spans.append((offset, offset + len(data)))
        start += len(data)
    return spans


@pytest.fixture
def unpaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every publish fans out at once, so each chunk is its own frame."""
    monkeypatch.setattr(terminal_relay, "PACE_PER_VIEWER", 0.0)


@pytest.mark.usefixtures("unpaced")
async def test_every_viewer_is_sent_the_one_frame_object_published() -> None:
    rig = Rig()
    socks = [await rig.watch(resume=0) for _ in range(5)]
    try:
        chunks = [b"hello ", b"\x1b[31mred\x1b[0m", bytes(range(256))]
        for chunk in chunks:
            rig.publish(chunk)
            # Every queue holds the very chunk the relay framed, not a copy per viewer.
            queued = [v.queue[-1] for v in rig.relay.viewers.values()]
            assert all(item is queued[0] for item in queued)
            for sock in socks:
                await rig.delivered(sock)
        first = socks[0].frames
        assert len(first) == len(chunks)
        for sock in socks[1:]:
            assert all(mine is theirs for mine, theirs in zip(sock.frames, first, strict=True))
        offset = 0
        for frame, chunk in zip(first, chunks, strict=True):
            assert frame == pack_output(offset, chunk)
            offset += len(chunk)
    finally:
        await rig.stop()


@pytest.mark.usefixtures("unpaced")
async def test_a_busy_viewer_gets_its_backlog_joined_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(terminal_relay, "SEND_CHUNK", 2000)
    rng = random.Random(17)
    rig = Rig()
    slow = [await rig.watch(resume=0), await rig.watch(resume=0)]
    fast = await rig.watch(resume=0)
    try:
        await _soon(lambda: all(_said(s, '"count":3', last=True) for s in [*slow, fast]))
        for sock in slow:
            sock.gate.clear()
        sizes = [rng.randint(1, 300) for _ in range(60)]
        boundaries = set()
        for i, size in enumerate(sizes):
            boundaries.add(len(rig.published))
            rig.publish(rng.randbytes(size))
            if i == 0:  # the slow viewers' pumps take the first chunk and block on it
                await _soon(lambda: all(s.blocked for s in slow))
            if i == 40:  # control frames keep their place between the output around them
                rig.relay.update_view(cols=100)
                status_at = len(rig.published)
            await asyncio.sleep(0)
        boundaries.add(len(rig.published))
        await rig.delivered(fast)
        for sock in slow:
            sock.gate.set()
        for sock in slow:
            await rig.delivered(sock)

        assert len(fast.frames) == len(sizes)  # never blocked: one frame per chunk
        for sock in slow:
            spans = _contiguous(sock.frames, 0)
            assert len(spans) < len(sizes) / 5, "the backlog was not joined"
            # Joined frames hold whole chunks only, and stay under the send limit.
            assert all(s in boundaries and e in boundaries for s, e in spans)
            assert all(e - s <= 2000 for s, e in spans[1:])
            status = next(i for i, m in enumerate(sock.sent) if '"cols":100' in str(m))
            before = [m for m in sock.sent[:status] if isinstance(m, bytes)]
            assert sum(len(unpack_output(f)[1]) for f in before) == status_at
        # Two viewers behind alike share the joined frames too.
        assert all(a is b for a, b in zip(slow[0].frames, slow[1].frames, strict=True))
    finally:
        await rig.stop()


async def test_sustained_output_fans_out_once_per_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal_relay, "PACE_PER_VIEWER", 0.01)
    monkeypatch.setattr(terminal_relay, "PACE_MAX", 0.02)  # 3 viewers: 20 ms, not 30
    monkeypatch.setattr(terminal_relay, "SEND_CHUNK", 1000)
    rig = Rig()
    socks = [await rig.watch(resume=0) for _ in range(3)]
    queues = [v.queue for v in rig.relay.viewers.values()]
    try:
        await asyncio.sleep(0.03)
        rig.publish(b"echo")  # after a quiet spell: offered at once
        assert all(len(q) == 1 and q[-1] is queues[0][-1] for q in queues)
        for _ in range(10):
            rig.publish(b"burst ")  # within the pace: held back, then offered together
        assert all(len(q) <= 1 for q in queues)
        began = asyncio.get_running_loop().time()
        for sock in socks:
            await rig.delivered(sock)
        assert asyncio.get_running_loop().time() - began >= 0.015
        for sock in socks:
            assert [unpack_output(f) for f in sock.frames] == [(0, b"echo"), (4, b"burst " * 10)]
            assert sock.frames[1] is socks[0].frames[1]

        # A status change goes after the output published before it.
        rig.publish(b"last words")
        rig.relay.update_view(status="exited", exit_code=0)
        assert [type(item) for item in queues[0]][-2:] == [tuple, str]
        # A chunk's worth of pending output goes at once, in frames of at most SEND_CHUNK.
        rig.publish(b"x" * 2500)
        assert [output_size(c[1]) for c in queues[0] if isinstance(c, tuple)][-3:] == [
            1000,
            1000,
            500,
        ]
        for sock in socks:
            await rig.delivered(sock)
    finally:
        await rig.stop()


async def test_a_resumed_viewer_is_filled_from_the_recording_and_ring_then_shares() -> None:
    rig = Rig(history=bytes(random.Random(3).randbytes(5000)))
    rig.publish(b"ring part " * 50)
    sock = await rig.watch(resume=1234)
    try:
        await rig.delivered(sock, start=1234)
        for _ in range(10):
            rig.publish(b"live " * 20)
        await rig.delivered(sock, start=1234)
        _contiguous(sock.frames, 1234)
        other = await rig.watch(resume=len(rig.published))
        rig.publish(b"both")
        await rig.delivered(other, start=len(rig.published) - 4)
        await rig.delivered(sock, start=1234)
        assert sock.frames[-1] is other.frames[-1]
    finally:
        await rig.stop()
