"""OutputStream: redacted offsets, acks, window, and resume after lost frames or a restart.

The log is written by the test and the "hub" is a recorder that can lose what is in flight, so
every interleaving of appends, sends, losses and acks is exercised without tmux or sockets.
"""

from __future__ import annotations

import asyncio
import base64
import random
from pathlib import Path

import pytest
from pydantic import BaseModel

from orchestratia.agent.redaction import Redactor
from orchestratia.agent.sessions.output_log import AckState, OutputLog, SessionPaths, wait_settled
from orchestratia.agent.sessions.stream import OutputStream
from orchestratia.protocol.sessions import SessionClosedFrame, SessionGapFrame, SessionOutputFrame
from tests.support import wait_until

SECRETS = [
    b"ghp_" + b"x1Y2z3" * 6 + b"Q9",
    b"sk-proj-" + b"A1b2C3" * 5,
    b"AKIAIOSFODNN7EXAMPLE",
    b"-----BEGIN RSA PRIVATE KEY-----\r\n" + b"QUJD" * 40 + b"\r\n-----END RSA PRIVATE KEY-----",
]


def mixed_output(rng: random.Random, size: int) -> bytes:
    """Terminal-like output: text, colours, UTF-8 and secrets, about ``size`` bytes."""
    parts: list[bytes] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.1:
            part = b"token: \x1b[31m" + rng.choice(SECRETS) + b"\x1b[0m\r\n"
        elif kind < 0.2:
            part = "héllo ✓ 日本 🙂\r\n".encode()
        else:
            part = b"line %d %s\r\n" % (total, b"abc" * rng.randint(0, 40))
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def redacted(raw: bytes) -> bytes:
    redactor = Redactor()
    return redactor.feed(raw) + redactor.flush()


class Hub:
    """Stores output by offset like the hub; frames wait in ``inflight`` until delivered."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.inflight: list[BaseModel] = []
        self.closed: list[SessionClosedFrame] = []
        self.gaps: list[SessionGapFrame] = []
        self.resent = 0
        self.refused = 0
        self.stream: OutputStream | None = None

    async def send(self, frame: BaseModel) -> None:
        self.inflight.append(frame)

    def deliver(self, count: int | None = None) -> int:
        """Process ``count`` in-flight frames (all by default); returns the bytes held."""
        assert self.stream is not None
        batch = self.inflight[:count] if count is not None else list(self.inflight)
        del self.inflight[: len(batch)]
        for frame in batch:
            if isinstance(frame, SessionOutputFrame):
                data = base64.b64decode(frame.data)
                offset = frame.offset
                assert offset is not None
                if offset > len(self.data):
                    self.refused += 1
                else:
                    overlap = self.data[offset : offset + len(data)]
                    assert overlap == data[: len(overlap)], "resent bytes differ"
                    self.resent += len(overlap)
                    self.data += data[len(self.data) - offset :]
                self.stream.on_ack(len(self.data))
            elif isinstance(frame, SessionClosedFrame):
                self.closed.append(frame)
            elif isinstance(frame, SessionGapFrame):
                self.gaps.append(frame)
        return len(self.data)

    def reconnect(self) -> None:
        """The link drops (in-flight frames lost), comes back, and the hub acks what it holds."""
        assert self.stream is not None
        self.inflight.clear()
        self.stream.link_down()
        self.stream.link_up()
        self.stream.on_ack(len(self.data))


def new_stream(hub: Hub, paths: SessionPaths, **kwargs: object) -> OutputStream:
    stream = OutputStream("s1", paths, hub.send, poll_interval=0.001, **kwargs)  # type: ignore[arg-type]
    hub.stream = stream
    stream.start()
    return stream


async def a_fresh_stream_sent(tmp_path: Path) -> None:
    """Evidence that streams started earlier have had their turn: one started now, over a log
    with bytes in it, has sent its first frame."""
    paths = SessionPaths.for_session(tmp_path, "clock")
    paths.log.write_bytes(b"tick")
    hub = Hub()
    stream = new_stream(hub, paths)
    try:
        await wait_until(lambda: hub.inflight, message="a fresh stream's first frame")
    finally:
        await stream.stop()


async def finish(hub: Hub, stream: OutputStream, expected: bytes) -> None:
    stream.end_of_input(0)

    def closed() -> bool:
        hub.deliver()
        return bool(hub.closed) and stream.done

    await wait_until(closed, timeout=20, message="session_closed and full ack", interval=0.001)
    assert bytes(hub.data) == expected
    assert hub.closed[-1].final_offset == len(expected)
    assert hub.closed[-1].exit_code == 0


@pytest.mark.parametrize("seed", range(4))
async def test_stream_survives_random_losses_without_duplicates(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    raw = mixed_output(rng, 200_000)
    paths = SessionPaths.for_session(tmp_path, "s1")
    hub = Hub()
    stream = new_stream(hub, paths, chunk=4096)
    written = 0
    with paths.log.open("ab") as log:
        while written < len(raw):
            step = rng.randint(1, 9000)
            log.write(raw[written : written + step])
            log.flush()
            written += step
            stream.wake()
            for _ in range(rng.randint(0, 5)):  # deliberate: a random interleaving with the pump
                await asyncio.sleep(0)
            roll = rng.random()
            if roll < 0.1:
                hub.reconnect()
            elif roll < 0.7:
                hub.deliver(rng.randint(0, 3))
    await finish(hub, stream, redacted(raw))
    assert hub.resent == 0 and hub.refused == 0
    assert b"x1Y2z3" not in hub.data and b"QUJDQUJD" not in hub.data
    await stream.stop()


async def test_restart_resumes_from_the_persisted_ack(tmp_path: Path) -> None:
    rng = random.Random(2)
    raw = mixed_output(rng, 300_000)
    paths = SessionPaths.for_session(tmp_path, "s1")
    hub = Hub()
    stream = new_stream(hub, paths, chunk=8192)
    paths.log.write_bytes(raw[:150_000])
    stream.wake()
    await wait_until(lambda: hub.deliver() > 100_000)
    hub.inflight.clear()  # the daemon dies with frames in flight
    await stream.stop()
    acked = AckState(paths.ack).load()
    assert 0 < acked.stream_offset <= len(hub.data)

    with paths.log.open("ab") as log:
        log.write(raw[150_000:])  # the program kept writing while the daemon was down
    restarted = new_stream(hub, paths, chunk=8192, resuming=True)
    await a_fresh_stream_sent(tmp_path)
    assert not hub.inflight, "a resuming stream waits for the hub's ack"
    restarted.link_up()
    restarted.on_ack(len(hub.data))  # hub answers hello with what it holds
    await finish(hub, restarted, redacted(raw))
    assert hub.resent == 0 and hub.refused == 0
    await restarted.stop()


async def test_hub_that_lost_data_gets_it_again(tmp_path: Path) -> None:
    raw = mixed_output(random.Random(3), 50_000)
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(raw)
    hub = Hub()
    stream = new_stream(hub, paths, chunk=1000)
    await wait_until(lambda: hub.deliver() == len(redacted(raw)))
    del hub.data[20_000:]  # e.g. a hub restored from an older backup
    hub.reconnect()
    await finish(hub, stream, redacted(raw))
    await stream.stop()


async def test_unacked_bytes_stay_within_the_window(tmp_path: Path) -> None:
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(b"x" * 100_000)
    hub = Hub()
    stream = new_stream(hub, paths, chunk=1000, window=10_000)
    await wait_until(lambda: len(hub.inflight) >= 10)
    await a_fresh_stream_sent(tmp_path)
    outputs = [f for f in hub.inflight if isinstance(f, SessionOutputFrame)]
    in_flight = sum(len(base64.b64decode(f.data)) for f in outputs)
    assert in_flight == 10_000
    await finish(hub, stream, b"x" * 100_000)
    await stream.stop()


async def test_gap_is_reported_at_its_stream_offset(tmp_path: Path) -> None:
    paths = SessionPaths.for_session(tmp_path, "s1")
    output = OutputLog(paths.log, paths.gaps)
    paths.log.write_bytes(b"before ghp_" + b"a" * 20)  # a held-back candidate, cut by the gap
    hub = Hub()
    stream = new_stream(hub, paths)
    await wait_until(lambda: stream.produced, message="the bytes before the gap read")
    gap = output.record_gap("capture stopped; restarted")
    stream.add_gap(gap.offset)
    with paths.log.open("ab") as log:
        log.write(b"after\r\n")
    stream.wake()
    await finish(hub, stream, b"before ghp_" + b"a" * 20 + b"after\r\n")
    [frame] = hub.gaps
    assert frame.offset == len(b"before ghp_") + 20
    assert frame.reason == "capture stopped; restarted"
    await stream.stop()


async def test_snapshot_offset_and_settling(tmp_path: Path) -> None:
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(b"token ghp_" + b"b" * 36 + b" done")
    hub = Hub()
    stream = new_stream(hub, paths)
    assert await wait_settled(stream.log, stable=0.01, limit=0.1) == paths.log.stat().st_size
    offset = await stream.stream_offset_at(paths.log.stat().st_size)
    assert offset == len(b"token ghp_[REDACTED:github_token] done")
    assert await stream.stream_offset_at(6) <= 6  # inside a chunk: the chunk's start
    await stream.stop()
