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

from orchestratia.agent.metrics import AgentMetrics
from orchestratia.agent.redaction import Redactor
from orchestratia.agent.sessions import stream as stream_module
from orchestratia.agent.sessions.hub_link import HubLink
from orchestratia.agent.sessions.output_log import AckState, OutputLog, SessionPaths, wait_settled
from orchestratia.agent.sessions.stream import COALESCE_MIN, OutputStream
from orchestratia.protocol.base import dump
from orchestratia.protocol.output_frames import unpack_session_output
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


def output_of(sent: BaseModel | bytes) -> tuple[int, bytes] | None:
    """Offset and bytes of an output frame as the hub parses it (binary or JSON), else None.

    JSON output is validated like the hub does and must serialise to the very bytes it came in
    (the stream builds it without validation)."""
    if isinstance(sent, bytes):
        frame = unpack_session_output(sent)
        return frame.offset, bytes(frame.data)
    if not isinstance(sent, SessionOutputFrame):
        return None
    text = dump(sent)
    parsed = SessionOutputFrame.model_validate_json(text)
    assert dump(parsed) == text and parsed.offset is not None
    return parsed.offset, base64.b64decode(parsed.data)


class Hub:
    """A hub ``Link``: stores output by offset like the hub; frames wait in ``inflight`` until
    delivered. ``binary_output``: the current connection takes binary output frames."""

    def __init__(self, binary: bool = True) -> None:
        self.binary_output = binary
        self.data = bytearray()
        self.inflight: list[BaseModel | bytes] = []
        self.formats: list[str] = []  # of the output frames delivered, in order
        self.closed: list[SessionClosedFrame] = []
        self.gaps: list[SessionGapFrame] = []
        self.resent = 0
        self.refused = 0
        self.stream: OutputStream | None = None

    async def send(self, frame: BaseModel) -> None:
        self.inflight.append(frame)

    async def send_binary(self, message: bytes) -> None:
        assert self.binary_output, "binary frame on a connection that did not negotiate it"
        self.inflight.append(message)

    def deliver(self, count: int | None = None) -> int:
        """Process ``count`` in-flight frames (all by default); returns the bytes held."""
        assert self.stream is not None
        batch = self.inflight[:count] if count is not None else list(self.inflight)
        del self.inflight[: len(batch)]
        for frame in batch:
            output = output_of(frame)
            if output is not None:
                offset, data = output
                self.formats.append("binary" if isinstance(frame, bytes) else "json")
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

    def reconnect(self, binary: bool | None = None) -> None:
        """The link drops (in-flight frames lost), comes back (to a hub that negotiates
        ``binary`` output, by default as before), and the hub acks what it holds."""
        assert self.stream is not None
        self.inflight.clear()
        self.stream.link_down()
        if binary is not None:
            self.binary_output = binary
        self.stream.link_up()
        self.stream.on_ack(len(self.data))


def new_stream(hub: Hub, paths: SessionPaths, **kwargs: object) -> OutputStream:
    link = HubLink(AgentMetrics())
    link.target = hub
    stream = OutputStream("s1", paths, link, poll_interval=0.001, **kwargs)  # type: ignore[arg-type]
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


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("seed", range(4))
async def test_stream_survives_random_losses_without_duplicates(
    tmp_path: Path, seed: int, binary: bool
) -> None:
    rng = random.Random(seed)
    raw = mixed_output(rng, 200_000)
    paths = SessionPaths.for_session(tmp_path, "s1")
    hub = Hub(binary)
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
                hub.reconnect(binary=rng.random() < 0.5) if seed % 2 else hub.reconnect()
            elif roll < 0.7:
                hub.deliver(rng.randint(0, 3))
    await finish(hub, stream, redacted(raw))
    assert hub.resent == 0 and hub.refused == 0
    assert b"x1Y2z3" not in hub.data and b"QUJDQUJD" not in hub.data
    if seed % 2 == 0:  # the format stayed what the one hub negotiated
        assert set(hub.formats) == {"binary" if binary else "json"}
    await stream.stop()


async def test_reconnect_to_an_older_hub_switches_format_without_loss(tmp_path: Path) -> None:
    raw = mixed_output(random.Random(5), 120_000)
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(raw[:60_000])
    hub = Hub(binary=True)
    stream = new_stream(hub, paths, chunk=4096)
    await wait_until(lambda: hub.inflight[6:], message="frames in flight")
    hub.deliver(3)
    hub.reconnect(binary=False)  # the rest of the in-flight binary frames are lost with the link
    with paths.log.open("ab") as log:
        log.write(raw[60_000:])
    stream.wake()
    await finish(hub, stream, redacted(raw))
    assert hub.resent == 0 and hub.refused == 0
    switch = hub.formats.index("json")
    assert switch == 3 and set(hub.formats[switch:]) == {"json"}
    hub.reconnect(binary=True)  # and back: nothing left to send, nothing sent twice
    await finish(hub, stream, redacted(raw))
    assert hub.resent == 0


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
    outputs = [output_of(f) for f in hub.inflight]
    in_flight = sum(len(output[1]) for output in outputs if output is not None)
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


async def test_bursts_gather_while_small_output_and_echoes_go_at_once(tmp_path: Path) -> None:
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(b"")
    hub = Hub()
    stream = new_stream(hub, paths, coalesce=60.0)  # a burst's wait, long enough to see

    async def appended(data: bytes) -> None:
        with paths.log.open("ab") as log:
            log.write(data)
        stream.wake()

    await appended(b"a" * 100)
    await wait_until(lambda: hub.deliver() == 100, message="small output at once")
    await appended(b"b" * 100)
    await wait_until(lambda: hub.deliver() == 200, message="and the next at once")
    await appended(b"c" * COALESCE_MIN)
    await wait_until(lambda: hub.deliver() == 200 + COALESCE_MIN, message="a burst's first read")
    await appended(b"d")
    await a_fresh_stream_sent(tmp_path)
    assert hub.deliver() == 200 + COALESCE_MIN, "the rest of a burst gathers before a read"
    stream.kick()  # input typed: its echo does not wait for the burst
    await wait_until(lambda: hub.deliver() == 201 + COALESCE_MIN, message="echo at once")
    await finish(hub, stream, b"a" * 100 + b"b" * 100 + b"c" * COALESCE_MIN + b"d")
    await stream.stop()


async def test_output_longer_than_a_frame_is_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "FRAME_MAX", 1000)
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(b"x1 " * 2000)  # masks far longer than the secrets they hide
    hub = Hub()
    stream = new_stream(hub, paths, patterns=[r"x1"])
    await wait_until(lambda: hub.inflight, message="frames")
    outputs = [output_of(f) for f in hub.inflight]
    assert outputs and all(o is not None and len(o[1]) <= 1000 for o in outputs)
    await finish(hub, stream, b"[REDACTED:custom] " * 2000)
    await stream.stop()
