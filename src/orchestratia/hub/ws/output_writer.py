"""Group commit of terminal output: one writer per hub process stores the output of every
daemon connection in batches, then acks each session's new end.

A batch closes when ``max_bytes`` are pending or ``delay`` seconds after its first byte, whichever
comes first; while it commits the next one fills. One transaction appends one chunk per session
(the batch's bytes of that session, contiguous) and moves the session's end only from the offset
the writer expects. Acks follow the commit, so nothing is acked that is not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from orchestratia.hub.errors import Unavailable
from orchestratia.hub.metrics import HubMetrics
from orchestratia.hub.services.fleet import recording
from orchestratia.hub.ws.registry import ConnectionRegistry, DaemonConnection, OwnedSession

log = logging.getLogger(__name__)

# Output a connection may have waiting for the database before its reads wait for a commit.
CONNECTION_CAP = 8 * 1024 * 1024


@dataclass(eq=False)
class _Part:
    """One session's bytes in a batch, all from one connection."""

    conn: DaemonConnection
    owned: OwnedSession
    offset: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    redactions: int = 0


@dataclass(eq=False)
class _Batch:
    parts: dict[str, _Part] = field(default_factory=dict)
    size: int = 0
    opened: float = 0.0
    stored: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class OutputWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        registry: ConnectionRegistry,
        metrics: HubMetrics,
        max_bytes: int,
        delay: float,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._metrics = metrics
        self._max_bytes = max_bytes
        self._delay = delay
        self._batch: _Batch | None = None
        self._filled = asyncio.Event()  # the open batch has its first byte (or we stop)
        self._due = asyncio.Event()  # ... and should close now (size, or someone flushes)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="output writer")

    async def stop(self) -> None:
        """Store what is pending, then end the writer (the app's shutdown). A commit under way
        finishes: cancelling it mid-query would strand its connection."""
        self._stopping = True
        self._due.set()
        self._filled.set()
        if self._task is not None:
            await self._task

    def append(
        self, conn: DaemonConnection, owned: OwnedSession, offset: int, data: bytes, redactions: int
    ) -> None:
        """Queue ``data`` (output of ``owned`` at ``offset``, which its connection has accepted,
        contiguous with what it queued before) for the next commit."""
        if self._stopping:
            conn.retired = True  # the hub is going down: the daemon resends to the next one
            return
        if self._batch is None:
            self._batch = _Batch(opened=time.monotonic())
            self._filled.set()
        batch = self._batch
        part = batch.parts.get(owned.id)
        if part is None or part.conn is not conn:
            if part is not None:  # a replaced connection's bytes: they would be fenced anyway
                self._drop(batch, part)
            part = batch.parts[owned.id] = _Part(conn, owned, offset)
        if data:
            part.chunks.append(data)
            part.size += len(data)
            batch.size += len(data)
            conn.pending_bytes += len(data)
        part.redactions += redactions
        conn.stored = batch.stored
        if batch.size >= self._max_bytes:
            self._due.set()

    async def flush(self, conn: DaemonConnection) -> bool:
        """Wait until everything ``conn`` queued is committed and acked (asking for the commit
        now); False when the connection is retired (a commit failed, or it was replaced)."""
        stored = conn.stored
        if stored is not None and not stored.done():
            if self._batch is not None and stored is self._batch.stored:
                self._due.set()
            await asyncio.shield(stored)
        return not conn.retired

    async def throttle(self, conn: DaemonConnection) -> None:
        """Backpressure: a connection far ahead of the database waits for its commits."""
        if conn.pending_bytes > CONNECTION_CAP:
            await self.flush(conn)

    def _drop(self, batch: _Batch, part: _Part) -> None:
        del batch.parts[part.owned.id]
        batch.size -= part.size
        part.conn.pending_bytes -= part.size

    async def _run(self) -> None:
        while True:
            await self._filled.wait()
            batch = self._batch
            if batch is None:
                return  # stop() woke us with nothing pending
            remaining = batch.opened + self._delay - time.monotonic()
            if remaining > 0 and not self._due.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), remaining)
            self._batch = None
            self._filled.clear()
            if not self._stopping:
                self._due.clear()
            try:
                await self._commit(batch)
            except Exception:
                # Never acked, so the daemons still hold it: they resend after reconnecting.
                log.exception("storing terminal output failed; closing its daemons to resync")
                self._close({p.conn for p in batch.parts.values()})
            finally:
                self._settle(batch.parts.values())
                batch.stored.set_result(None)
            if self._stopping and self._batch is None:
                return

    async def _commit(self, batch: _Batch) -> None:
        parts = list(batch.parts.values())
        appends = [
            recording.Append(
                p.owned.id, p.owned.tenant_id, p.offset, b"".join(p.chunks), p.redactions
            )
            for p in parts
        ]
        with self._metrics.recording_write.time():
            async with self._engine.begin() as db:
                fenced = await recording.append(db, appends)
        stale = {p.conn for p in parts if p.owned.id in fenced}
        if stale:
            # Another connection (or replica) stored this session's output meanwhile: the
            # daemon must resync from what the recording really holds.
            log.warning("output from %d stale daemon connection(s) refused", len(stale))
            self._close(stale)
        for part in parts:
            if part.conn in stale:
                continue
            part.owned.durable = part.offset + part.size
            conn = part.conn
            if conn.protocol >= 2 and self._registry.get(conn.server_id) is conn:
                conn.queue_ack(part.owned.id, part.owned.durable)

    def _settle(self, parts: Iterable[_Part]) -> None:
        for part in parts:
            part.conn.pending_bytes -= part.size

    def _close(self, conns: set[DaemonConnection]) -> None:
        for conn in conns:
            conn.retired = True
            # Its accepted ends are no longer what the recording holds: forget them.
            conn.owned.clear()
            conn.close_soon(Unavailable("terminal output not stored; reconnect and resend"))
