"""A session's output on disk: the append-only raw log, read by byte offset, plus ack and gaps.

One private (0700) directory per session holds:

- ``output.log``: every byte the pane wrote, appended by tmux ``pipe-pane`` (see ``tmux.py``)
  independently of the daemon, *before* redaction. Offsets into it are **raw** offsets.
- ``ack.json``: the last position the hub acknowledged, as a pair of offsets (``AckPoint``).
- ``gaps.jsonl``: where capture was interrupted and why, one JSON object a line.

Raw offsets are not the offsets the hub sees: the daemon redacts secrets before output leaves
the server and a mask is not as long as the secret (see ``redaction.py``). The hub stores
offsets of the redacted stream, so the daemon must remember, for the acked stream offset, the
raw offset to resume reading from after a restart; ``AckPoint`` keeps both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from orchestratia.agent.files import FILE_MODE, ensure_private_dir, write_private_file

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 64 * 1024
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


class OutputLogError(Exception):
    """The output log cannot be read as an append-only stream."""


class LogTruncated(OutputLogError):
    """The log is shorter than an offset already read: someone truncated or replaced it."""


@dataclass(frozen=True)
class SessionPaths:
    directory: Path
    log: Path
    ack: Path
    gaps: Path

    @classmethod
    def for_session(cls, root: Path, session_id: str) -> SessionPaths:
        """The files of ``session_id`` under the daemon's private ``root``; creates the dir 0700."""
        if not _SESSION_ID.fullmatch(session_id):
            raise ValueError(f"invalid session id {session_id!r}")
        directory = root / session_id
        ensure_private_dir(directory)
        return cls(
            directory, directory / "output.log", directory / "ack.json", directory / "gaps.jsonl"
        )


@dataclass(frozen=True)
class Gap:
    offset: int  # raw offset at which output the pane wrote is missing from the log
    reason: str
    at: str  # ISO 8601 UTC time it was recorded


class OutputLog:
    """Reads of one append-only log by absolute byte offset; gaps recorded beside it."""

    def __init__(self, path: Path, gaps_path: Path | None = None) -> None:
        self.path = path
        self.gaps_path = gaps_path or path.with_name("gaps.jsonl")

    def size(self) -> int:
        """Bytes in the log so far; 0 before tmux has created it."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, offset: int, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Up to ``max_bytes`` from ``offset``; ``b""`` at the end. Never blocks on the writer."""
        if offset < 0 or max_bytes <= 0:
            raise ValueError(f"bad read offset={offset} max_bytes={max_bytes}")
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            # Only what is there: a large max_bytes must not cost a large allocation per read.
            size = min(max_bytes, os.fstat(fd).st_size - offset)
            # pread: no shared file position, so concurrent readers cannot disturb each other.
            return os.pread(fd, size, offset) if size > 0 else b""
        finally:
            os.close(fd)

    def tail(
        self, offset: int, *, poll_interval: float = 0.05, chunk_size: int = DEFAULT_CHUNK
    ) -> OutputTail:
        return OutputTail(self, offset, poll_interval=poll_interval, chunk_size=chunk_size)

    def record_gap(self, reason: str, offset: int | None = None) -> Gap:
        """Append a gap at ``offset`` (default: the current end of the log).

        Recording the same gap twice in a row is a no-op, so a periodic check that sees the same
        broken capture again does not flood the file.
        """
        gap = Gap(self.size() if offset is None else offset, reason, datetime.now(UTC).isoformat())
        previous = self.gaps()
        if previous and (previous[-1].offset, previous[-1].reason) == (gap.offset, gap.reason):
            return previous[-1]
        ensure_private_dir(self.gaps_path.parent)
        line = json.dumps(asdict(gap), separators=(",", ":")) + "\n"
        # O_APPEND: one write() of a short line lands whole even if two writers race.
        fd = os.open(self.gaps_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return gap

    def gaps(self) -> list[Gap]:
        """Every recorded gap, oldest first; unreadable lines are skipped with a warning."""
        try:
            text = self.gaps_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                found.append(Gap(**json.loads(line)))
            except (ValueError, TypeError) as exc:  # e.g. a torn last line after a power cut
                log.warning("%s:%d: skipping bad gap record: %s", self.gaps_path, number, exc)
        return found


class OutputTail:
    """Async iterator of ``(offset, chunk)`` from ``offset`` as the log grows.

    Polls every ``poll_interval`` seconds while idle (a later version may use inotify). Chunks
    are at most ``chunk_size`` bytes and contiguous: each starts where the previous ended.
    """

    def __init__(
        self,
        log: OutputLog,
        offset: int,
        *,
        poll_interval: float = 0.05,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if offset < 0 or chunk_size <= 0 or poll_interval <= 0:
            raise ValueError("offset must be >= 0, chunk_size and poll_interval > 0")
        self.log = log
        self.offset = offset  # next byte to yield
        self.poll_interval = poll_interval
        self.chunk_size = chunk_size
        self._stopping = False
        self._drain = False
        self._wake = asyncio.Event()

    def stop(self, drain: bool = False) -> None:
        """End the iteration; with ``drain`` only after everything written so far is yielded."""
        self._stopping, self._drain = True, drain
        self._wake.set()

    def __aiter__(self) -> AsyncIterator[tuple[int, bytes]]:
        return self

    async def __anext__(self) -> tuple[int, bytes]:
        while True:
            if self._stopping and not self._drain:
                raise StopAsyncIteration
            size = self.log.size()
            if size < self.offset:
                raise LogTruncated(f"{self.log.path} has {size} bytes, already read {self.offset}")
            if size > self.offset:
                # Local file, at most chunk_size bytes: cheaper inline than via a thread.
                chunk = self.log.read(self.offset, self.chunk_size)
                start, self.offset = self.offset, self.offset + len(chunk)
                return start, chunk
            if self._stopping:
                raise StopAsyncIteration
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)


@dataclass(frozen=True)
class AckPoint:
    stream_offset: int = 0  # offset in the redacted stream, as the hub acked it
    raw_offset: int = 0  # the matching offset in output.log, where reading resumes


class AckState:
    """The last hub-acked position of one session, persisted as a small private JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._current: AckPoint | None = None

    def load(self) -> AckPoint:
        """The saved point; ``AckPoint()`` (resend everything) if missing or unreadable."""
        if self._current is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._current = AckPoint(int(data["stream_offset"]), int(data["raw_offset"]))
            except FileNotFoundError:
                self._current = AckPoint()
            except (OSError, ValueError, TypeError, KeyError) as exc:
                # Resending from 0 is safe: the hub stores chunks idempotently by offset.
                log.warning("cannot read ack state %s (%s); resending from 0", self.path, exc)
                self._current = AckPoint()
        return self._current

    def save(self, point: AckPoint) -> None:
        if point.stream_offset < 0 or point.raw_offset < 0:
            raise ValueError(f"negative offsets in {point}")
        data = json.dumps(asdict(point)).encode("utf-8") + b"\n"
        # Atomic (never torn) but not fsynced: losing the latest ack only means a resend.
        write_private_file(self.path, data, durable=False)
        self._current = point

    def advance(self, point: AckPoint) -> bool:
        """Save ``point`` only if it moves forward; acks may arrive out of order."""
        if point.stream_offset <= self.load().stream_offset:
            return False
        self.save(point)
        return True


class _PaneStatus(Protocol):
    @property
    def dead(self) -> bool: ...


class CaptureControl(Protocol):
    """What ``ensure_capture`` needs from ``TmuxServer`` (a protocol, so tests can fake it)."""

    async def is_capturing(self, name: str) -> bool: ...
    async def pane_dead_status(self, name: str) -> _PaneStatus: ...
    async def start_capture(self, name: str, log_path: Path) -> None: ...


async def ensure_capture(tmux: CaptureControl, name: str, output: OutputLog) -> Gap | None:
    """Restart a capture that stopped while the pane is alive and record the gap; never silent.

    Returns the gap recorded, or None if the capture is running. tmux keeps a dead pane's pipe
    open, so a dead pane without one lost its pipe earlier: that is recorded too, but there is
    nothing left to restart. Calling this again for the same breakage records nothing new.
    """
    if await tmux.is_capturing(name):
        return None
    if (await tmux.pane_dead_status(name)).dead:
        return output.record_gap("capture stopped; pane has exited")
    gap = output.record_gap("capture stopped; restarted")
    await tmux.start_capture(name, output.path)
    log.warning("session %s: output capture had stopped; restarted at offset %d", name, gap.offset)
    return gap


async def wait_settled(output: OutputLog, *, stable: float, limit: float) -> int:
    """Wait until the log has not grown for ``stable`` s (at most ``limit`` s); its size then.

    Output reaches the log through tmux and ``pipe-pane``'s ``cat`` a little after the program
    wrote it; a quiet log is the best sign available that everything written so far is in it.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    size, since = output.size(), start
    while (now := loop.time()) - start < limit and now - since < stable:
        await asyncio.sleep(min(0.005, stable / 4))
        current = output.size()
        if current != size:
            size, since = current, loop.time()
    return size
