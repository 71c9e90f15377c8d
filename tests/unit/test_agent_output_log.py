"""Output log: reads by offset, a tail that follows growth, persisted acks, recorded gaps."""

from __future__ import annotations

import asyncio
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestratia.agent.sessions.output_log import (
    AckPoint,
    AckState,
    LogTruncated,
    OutputLog,
    OutputTail,
    SessionPaths,
    ensure_capture,
)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_session_paths_are_private_and_validated(tmp_path: Path) -> None:
    paths = SessionPaths.for_session(tmp_path / "sessions", "3f2a-b_c")
    assert paths.directory == tmp_path / "sessions" / "3f2a-b_c"
    assert mode(paths.directory) == 0o700
    assert (paths.log.name, paths.ack.name, paths.gaps.name) == (
        "output.log",
        "ack.json",
        "gaps.jsonl",
    )
    for bad in ["", "../x", "a/b", "a b", "x" * 201]:
        with pytest.raises(ValueError):
            SessionPaths.for_session(tmp_path, bad)


def test_read_by_absolute_offset(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    assert (log.size(), log.read(0)) == (0, b"")  # before tmux created the file
    append(log.path, b"0123456789")
    assert log.size() == 10
    assert log.read(0) == b"0123456789"
    assert log.read(3, 4) == b"3456"
    assert log.read(8, 100) == b"89"
    assert log.read(10) == log.read(50) == b""
    with pytest.raises(ValueError):
        log.read(-1)
    with pytest.raises(ValueError):
        log.read(0, 0)


async def collect(tail: OutputTail, until: int) -> list[tuple[int, bytes]]:
    chunks = []
    async for offset, chunk in tail:
        chunks.append((offset, chunk))
        if offset + len(chunk) >= until:
            break
    return chunks


async def test_tail_follows_growth_in_bounded_contiguous_chunks(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    expected = bytes(range(256)) * 1000  # 256 000 bytes
    append(log.path, expected[:1000])
    tail = log.tail(100, poll_interval=0.01, chunk_size=4096)
    reader = asyncio.create_task(collect(tail, len(expected)))
    for start in range(1000, len(expected), 25_000):  # the writer appends while we read
        await asyncio.sleep(0.02)
        append(log.path, expected[start : start + 25_000])
    chunks = await asyncio.wait_for(reader, 10)
    assert all(len(chunk) <= 4096 for _, chunk in chunks)
    offsets = [offset for offset, _ in chunks]
    assert offsets[0] == 100
    assert offsets == [100, *(o + len(c) for o, c in chunks[:-1])]  # no holes, no overlap
    assert b"".join(chunk for _, chunk in chunks) == expected[100:]
    assert tail.offset == len(expected)


async def test_tail_waits_for_the_file_to_appear(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "later.log")
    reader = asyncio.create_task(collect(log.tail(0, poll_interval=0.01), 5))
    await asyncio.sleep(0.05)
    assert not reader.done()
    append(log.path, b"hello")
    assert await asyncio.wait_for(reader, 5) == [(0, b"hello")]


async def test_stop_ends_now_or_after_draining(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    append(log.path, b"x" * 10_000)
    tail = log.tail(0, poll_interval=10, chunk_size=1000)
    assert await anext(tail) == (0, b"x" * 1000)
    tail.stop(drain=True)
    rest = [chunk async for _, chunk in tail]
    assert b"".join(rest) == b"x" * 9000

    idle = log.tail(10_000, poll_interval=10)  # nothing new: it would poll for a long time
    waiting = asyncio.create_task(anext(idle))
    await asyncio.sleep(0.02)
    idle.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1)  # woken at once, not after the poll interval


async def test_truncated_log_is_an_error_not_silence(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    append(log.path, b"abcdef")
    tail = log.tail(0, poll_interval=0.01)
    assert await anext(tail) == (0, b"abcdef")
    log.path.write_bytes(b"ab")
    with pytest.raises(LogTruncated):
        await anext(tail)


def test_ack_state_round_trip_private_and_monotonic(tmp_path: Path) -> None:
    path = tmp_path / "s1" / "ack.json"
    state = AckState(path)
    assert state.load() == AckPoint(0, 0)
    state.save(AckPoint(stream_offset=120, raw_offset=150))
    assert mode(path) == 0o600
    assert json.loads(path.read_text()) == {"stream_offset": 120, "raw_offset": 150}
    assert AckState(path).load() == AckPoint(120, 150)  # a restarted daemon reads it back
    assert not state.advance(AckPoint(100, 130))  # a late, older ack changes nothing
    assert state.advance(AckPoint(200, 260))
    assert AckState(path).load() == AckPoint(200, 260)
    assert [p.name for p in path.parent.iterdir()] == ["ack.json"]  # no temp files left
    with pytest.raises(ValueError):
        state.save(AckPoint(-1, 0))


@pytest.mark.parametrize("content", ["", "{", "[]", '{"stream_offset": "x", "raw_offset": 1}'])
def test_unreadable_ack_state_resends_from_zero(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ack.json"
    path.write_text(content)
    assert AckState(path).load() == AckPoint(0, 0)


def test_gaps_are_recorded_beside_the_log(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    append(log.path, b"12345")
    assert log.gaps() == []
    first = log.record_gap("capture stopped; restarted")
    assert (first.offset, first.reason) == (5, "capture stopped; restarted")
    assert log.record_gap("capture stopped; restarted") == first  # same breakage: no new line
    second = log.record_gap("daemon found pipe closed", offset=3)
    assert log.gaps_path == tmp_path / "gaps.jsonl"
    assert mode(log.gaps_path) == 0o600
    assert log.gaps() == [first, second]
    append(log.gaps_path, b'{"offset": 9, "rea')  # a torn last line is skipped, not fatal
    assert log.gaps() == [first, second]


@dataclass
class FakeTmux:
    capturing: bool
    dead: bool = False
    started: list[tuple[str, Path]] = field(default_factory=list)

    async def is_capturing(self, name: str) -> bool:
        return self.capturing

    async def pane_dead_status(self, name: str) -> FakeTmux:
        return self

    async def start_capture(self, name: str, log_path: Path) -> None:
        self.started.append((name, log_path))
        self.capturing = True


async def test_ensure_capture_repairs_and_records_a_stopped_capture(tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    append(log.path, b"abc")
    healthy = FakeTmux(capturing=True)
    assert await ensure_capture(healthy, "s1", log) is None
    assert healthy.started == [] and log.gaps() == []

    broken = FakeTmux(capturing=False)
    gap = await ensure_capture(broken, "s1", log)
    assert gap is not None and gap.offset == 3
    assert broken.started == [("s1", log.path)]
    assert await ensure_capture(broken, "s1", log) is None  # repaired

    exited = FakeTmux(capturing=False, dead=True)
    gone = await ensure_capture(exited, "s1", log)
    assert gone is not None and "exited" in gone.reason
    assert exited.started == []  # nothing to restart for a dead pane
    assert len(log.gaps()) == 2
