"""Fan-out of one session's output to its viewers, with exact offsets.

Every viewer tracks ``next_offset``: the first byte it has not been sent. Output is only ever
sent from there, so resends, overlaps and gap fills can neither duplicate nor skip bytes. Missing
ranges come from the in-memory ring or, further back, from the stored recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from orchestratia.hub.services.fleet import screen_render
from orchestratia.hub.ws.viewer_queue import Chunk, Resync, Viewer
from orchestratia.protocol.base import b64encode, dump
from orchestratia.protocol.sessions import SessionSnapshotFrame
from orchestratia.protocol.viewer import (
    OFFSET_HEADER,
    ControlFrame,
    ResetFrame,
    SessionStatusFrame,
    SnapshotFrame,
    ViewersFrame,
    join_output,
    output_size,
    pack_output,
)

log = logging.getLogger(__name__)

RING_BYTES = 2 * 1024 * 1024
SEND_CHUNK = 256 * 1024
JOINED_KEPT = 32
SNAPSHOT_TIMEOUT = 3.0


class SnapshotRoute(Enum):
    """Who answers a snapshot request."""

    DAEMON = "daemon"  # asked: our daemon answers with ``session_snapshot``
    HUB = "hub"  # the daemon cannot (the public agent): render the recording's tail here
    NONE = "none"  # no daemon connected


ReadRecording = Callable[[int, int], Awaitable[tuple[int, bytes]]]
RequestSnapshot = Callable[[str], Awaitable[SnapshotRoute]]


@dataclass
class SessionView:
    status: str
    exit_code: int | None
    cols: int
    rows: int


class SessionRelay:
    def __init__(
        self,
        session_id: str,
        end_offset: int,
        view: SessionView,
        read_recording: ReadRecording,
        request_snapshot: RequestSnapshot,
    ) -> None:
        self.session_id = session_id
        self.ring = bytearray()
        self.ring_start = end_offset
        self.view = view
        self.viewers: dict[str, Viewer] = {}
        self.driver: str | None = None
        self._read_recording = read_recording
        self._request_snapshot = request_snapshot
        self._snapshots: dict[str, asyncio.Future[SessionSnapshotFrame]] = {}
        # Runs of frames lately joined for busy viewers, by the first frame's id (the entry holds
        # the frame, so the id stays its own): viewers that fell behind alike share the join.
        self._joined: dict[int, tuple[bytes, bytes, bytes]] = {}

    @property
    def end(self) -> int:
        return self.ring_start + len(self.ring)

    # --- output -------------------------------------------------------------------------------

    def publish(self, offset: int, data: bytes | memoryview) -> None:
        """New contiguous output from the recording; fans out without waiting for anyone.

        Each chunk is framed once and that one bytes object goes to every viewer's queue: the
        per-viewer cost is a queue append and, when its socket is free, one send.
        """
        if offset != self.end:
            self.ring.clear()
            self.ring_start = offset
        self.ring += data
        if len(self.ring) > RING_BYTES:
            cut = len(self.ring) - RING_BYTES
            del self.ring[:cut]
            self.ring_start += cut
        if not self.viewers:
            return
        for i in range(0, len(data), SEND_CHUNK):
            chunk = (offset + i, pack_output(offset + i, data[i : i + SEND_CHUNK]))
            for viewer in self.viewers.values():
                viewer.offer(chunk)

    async def bytes_from(self, start: int, end: int) -> tuple[int, bytes]:
        """Up to ``SEND_CHUNK`` bytes of ``[start, end)`` and the offset they really begin at
        (later than ``start`` only where retention already dropped the recording)."""
        limit = min(SEND_CHUNK, end - start)
        if start >= self.ring_start:
            cut = start - self.ring_start
            return start, bytes(self.ring[cut : cut + limit])
        return await self._read_recording(start, min(limit, self.ring_start - start))

    def joined(self, frames: list[bytes]) -> bytes:
        """One frame for a run of contiguous frames (``Viewer.take_run``)."""
        first, last = frames[0], frames[-1]
        cached = self._joined.get(id(first))
        if cached is not None and cached[0] is first and cached[1] is last:
            return cached[2]  # the same first and last published frame: the same run
        frame = join_output(frames)
        self._joined[id(first)] = (first, last, frame)
        if len(self._joined) > JOINED_KEPT:
            del self._joined[next(iter(self._joined))]
        return frame

    # --- viewers ------------------------------------------------------------------------------

    def add(self, viewer: Viewer) -> None:
        self.viewers[viewer.id] = viewer
        if self.driver is None and not viewer.read_only:
            self.driver = viewer.id
        viewer.send_json(dump(self.status_frame()))
        self._announce()

    def remove(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.id, None)
        if self.driver == viewer.id:
            self.driver = None
        self._announce()

    def take_control(self, viewer: Viewer) -> bool:
        if viewer.read_only:
            return False
        self.driver = viewer.id
        self._announce()
        return True

    def release_control(self, viewer: Viewer) -> None:
        if self.driver == viewer.id:
            self.driver = None
            self._announce()

    def make_read_only(self, viewer: Viewer) -> None:
        """The viewer's user was demoted (or its login revoked): it watches on, but can no longer
        type, resize or hold the driver lock."""
        if viewer.read_only:
            return
        viewer.read_only = True
        if self.driver == viewer.id:
            self.driver = None
        self._announce()

    def is_driver(self, viewer: Viewer) -> bool:
        return self.driver == viewer.id and not viewer.read_only

    def _announce(self) -> None:
        count = dump(ViewersFrame(count=len(self.viewers)))
        for v in self.viewers.values():
            v.send_json(
                dump(
                    ControlFrame(
                        driver=self.driver,
                        you=self.driver == v.id,
                        viewer_id=v.id,
                        read_only=v.read_only,
                    )
                )
            )
            v.send_json(count)

    def status_frame(self) -> SessionStatusFrame:
        return SessionStatusFrame(
            status=self.view.status,
            exit_code=self.view.exit_code,
            cols=self.view.cols,
            rows=self.view.rows,
        )

    def update_view(self, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(self.view, name, value)
        frame = dump(self.status_frame())
        for v in self.viewers.values():
            v.send_json(frame)

    # --- snapshots ----------------------------------------------------------------------------

    async def snapshot(self) -> SessionSnapshotFrame | None:
        request_id = uuid.uuid4().hex
        future: asyncio.Future[SessionSnapshotFrame] = asyncio.get_running_loop().create_future()
        self._snapshots[request_id] = future
        try:
            route = await self._request_snapshot(request_id)
            if route is SnapshotRoute.HUB:
                return await self._render_snapshot(request_id)
            if route is SnapshotRoute.NONE:
                return None
            return await asyncio.wait_for(future, SNAPSHOT_TIMEOUT)
        except TimeoutError:
            log.warning("snapshot of %s timed out", self.session_id)
            return None
        finally:
            self._snapshots.pop(request_id, None)

    async def _render_snapshot(self, request_id: str) -> SessionSnapshotFrame:
        """The screen at the current end of the output, from the recording's tail."""
        # Take the ring's part now: it moves on while the older part is read from the database.
        end = self.end
        start = max(0, end - screen_render.TAIL_BYTES)
        ring_start = self.ring_start
        tail = bytes(self.ring[max(0, start - ring_start) :])
        if start < ring_start:
            head_start, head = await self._read_recording(start, ring_start - start)
            if head_start + len(head) == ring_start:  # else a hole: the ring alone will do
                tail, start = head + tail, head_start
            else:
                start = ring_start
        cols, rows = self.view.cols, self.view.rows
        shown = await asyncio.to_thread(
            screen_render.render, tail, cols, rows, from_start=start == 0
        )
        return SessionSnapshotFrame(
            type="session_snapshot",
            session_id=self.session_id,
            request_id=request_id,
            offset=end,
            screen=b64encode(shown.screen),
            cursor_x=shown.cursor_x,
            cursor_y=shown.cursor_y,
            cols=cols,
            rows=rows,
            cursor_visible=shown.cursor_visible,
        )

    def resolve_snapshot(self, frame: SessionSnapshotFrame) -> None:
        future = self._snapshots.get(frame.request_id)
        if future is not None and not future.done():
            future.set_result(frame)


async def _send(viewer: Viewer, frame: bytes, end: int) -> None:
    await viewer.ws.send_bytes(frame)
    # None: it fell behind while this send was blocked and a resync is queued; keeping the
    # old position would replay the whole backlog to it before the snapshot.
    if viewer.next_offset is not None:
        viewer.next_offset = end


async def _fill(relay: SessionRelay, viewer: Viewer, end: int) -> bool:
    """Send what the viewer lacks before ``end`` from the ring or the recording (after a resume
    or a snapshot, nothing of it was queued); False if neither holds any of it yet."""
    assert viewer.next_offset is not None
    start, data = await relay.bytes_from(viewer.next_offset, end)
    if data and viewer.next_offset is not None:
        await _send(viewer, pack_output(start, data), start + len(data))
    return bool(data)


async def _send_chunk(relay: SessionRelay, viewer: Viewer, chunk: Chunk) -> None:
    """Send a queued chunk from ``next_offset`` on: skipped if already sent, trimmed if partly
    sent, joined with the chunks queued behind it, after a fill if bytes before it are missing."""
    offset, frame = chunk
    viewer.queued_bytes -= output_size(frame)
    start, end = viewer.next_offset, offset + output_size(frame)
    if start is None or end <= start:
        return
    if offset > start:
        viewer.queue.appendleft(chunk)
        viewer.queued_bytes += output_size(frame)
        if not await _fill(relay, viewer, offset):
            await viewer.wait()  # the missing bytes are nowhere yet: retry on new output
        return
    if offset < start:
        frame = pack_output(start, memoryview(frame)[OFFSET_HEADER.size + start - offset :])
    else:
        frames, end = viewer.take_run(frame, end, SEND_CHUNK)
        if len(frames) > 1:
            frame = relay.joined(frames)
    await _send(viewer, frame, end)


async def sync(relay: SessionRelay, viewer: Viewer, reason: str) -> None:
    """Reset the viewer's terminal to a snapshot, then let the tail flow from its offset."""
    snap = await relay.snapshot()
    await viewer.ws.send_text(dump(ResetFrame(reason=reason)))
    if snap is not None:
        await viewer.ws.send_text(
            dump(
                SnapshotFrame(
                    offset=snap.offset,
                    screen=snap.screen,
                    cursor_x=snap.cursor_x,
                    cursor_y=snap.cursor_y,
                    cols=snap.cols,
                    rows=snap.rows,
                    alternate_screen=snap.alternate_screen,
                    cursor_visible=snap.cursor_visible,
                )
            )
        )
        viewer.next_offset = snap.offset
    else:
        # No live daemon to ask: replay what the ring holds onto a clean screen.
        viewer.next_offset = relay.ring_start


async def pump(relay: SessionRelay, viewer: Viewer) -> None:
    """The viewer's sender: the only task that writes to its socket."""
    while True:
        if not viewer.queue:
            behind = viewer.next_offset is not None and viewer.next_offset < relay.end
            if not behind or not await _fill(relay, viewer, relay.end):
                await viewer.wait()
            continue
        item = viewer.queue.popleft()
        if isinstance(item, Resync):
            await sync(relay, viewer, "resync")
        elif isinstance(item, str):
            await viewer.ws.send_text(item)
        else:
            await _send_chunk(relay, viewer, item)


class RelayRegistry:
    def __init__(self) -> None:
        self._relays: dict[str, SessionRelay] = {}

    def get(self, session_id: str) -> SessionRelay | None:
        return self._relays.get(session_id)

    def ensure(self, session_id: str, factory: Callable[[], SessionRelay]) -> SessionRelay:
        relay = self._relays.get(session_id)
        if relay is None:
            relay = self._relays[session_id] = factory()
        return relay

    def viewer_count(self) -> int:
        """Browser terminals attached to this replica, over all sessions."""
        return sum(len(relay.viewers) for relay in self._relays.values())

    def discard_if_idle(self, session_id: str) -> None:
        relay = self._relays.get(session_id)
        if relay is not None and not relay.viewers and relay.view.status in ("exited", "lost"):
            del self._relays[session_id]


async def run_viewer(relay: SessionRelay, viewer: Viewer, resume: int | None) -> None:
    """Start a viewer: resume from an offset it holds, or sync it from a snapshot."""
    if resume is not None and resume <= relay.end:
        viewer.next_offset = resume
    else:
        viewer.resync()
    with contextlib.suppress(asyncio.CancelledError):
        await pump(relay, viewer)
