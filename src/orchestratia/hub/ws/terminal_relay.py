"""Fan-out of one session's output to its viewers: the ring of recent output, shared frames,
the driver lock, status and snapshots.

New output is framed once and the same frame object is queued for every viewer
(``viewer_queue``); each viewer's sender (``viewer_pump``) sends it from that viewer's exact
offset, joining what piled up while its socket was busy, and fills what was never queued for
it from the ring or the stored recording.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from orchestratia.hub.bus import Following
from orchestratia.hub.services.fleet import screen_render
from orchestratia.hub.ws.viewer_queue import Viewer
from orchestratia.protocol.base import b64encode, dump
from orchestratia.protocol.sessions import SessionSnapshotFrame
from orchestratia.protocol.viewer import (
    ControlFrame,
    SessionStatusFrame,
    ViewersFrame,
    join_output,
    pack_output,
)

log = logging.getLogger(__name__)

RING_BYTES = 2 * 1024 * 1024
SEND_CHUNK = 256 * 1024
JOINED_KEPT = 32
# Sustained output fans out at most once per pace: a send costs a viewer a system call (most of
# the fan-out's time), so many viewers get fewer, larger frames. Output after a quiet spell (an
# echo) goes at once; 100 viewers wait at most 10 ms, and never longer than ``PACE_MAX``.
PACE_PER_VIEWER = 0.0001
PACE_MAX = 0.025
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
        self._fanned = end_offset  # output from here on is in the ring, not yet offered
        self._fanned_at = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None
        # Set where other replicas exist: the bus subscription feeding this relay when its
        # daemon is elsewhere, and how a driver change is told to the other replicas.
        self.following: Following | None = None
        self.on_driver: Callable[[str | None], None] | None = None
        self._driver_told: str | None = None

    @property
    def end(self) -> int:
        return self.ring_start + len(self.ring)

    @property
    def offered(self) -> int:
        """Output before this was offered to the viewers; the rest will be at the next flush
        (so nobody fills it from the ring meanwhile, which would cost a frame per viewer)."""
        return self._fanned

    # --- output -------------------------------------------------------------------------------

    def publish(self, offset: int, data: bytes | memoryview) -> None:
        """New contiguous output from the recording; fans out without waiting for anyone.

        Output is framed once and that one bytes object goes to every viewer's queue: the
        per-viewer cost is a queue append and, when its socket is free, one send.
        """
        if offset < self.end:
            # Output we already have (followed over the bus as well as relayed here, or resent
            # after a reconnect): the same offsets always carry the same bytes, keep what's new.
            skip = self.end - offset
            if skip >= len(data):
                return
            offset, data = self.end, data[skip:]
        if offset != self.end:
            self.flush()  # what is pending goes out before the jump
            self.ring.clear()
            self.ring_start = self._fanned = offset
        self.ring += data
        if not self.viewers:
            self._fanned = self.end
        else:
            loop = asyncio.get_running_loop()
            due = self._fanned_at + min(PACE_MAX, PACE_PER_VIEWER * len(self.viewers))
            if self.end - self._fanned >= SEND_CHUNK or loop.time() >= due:
                self.flush()
            elif self._flush_timer is None:
                self._flush_timer = loop.call_at(due, self.flush)
        cut = len(self.ring) - RING_BYTES
        if cut > 0:
            if self.ring_start + cut > self._fanned:
                self.flush()  # never drop what was not offered yet
            del self.ring[:cut]
            self.ring_start += cut

    def flush(self) -> None:
        """Offer the output published since the last flush to every viewer, framed once."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        start, end = self._fanned, self.end
        if start >= end:
            return
        self._fanned, self._fanned_at = end, asyncio.get_running_loop().time()
        with memoryview(self.ring) as ring:
            for at in range(start, end, SEND_CHUNK):
                piece = ring[at - self.ring_start : min(end, at + SEND_CHUNK) - self.ring_start]
                chunk = (at, pack_output(at, piece))
                piece.release()  # the ring must not stay exported: it grows and shrinks
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

    def join_run(self, viewer: Viewer, frame: bytes, end: int) -> tuple[bytes, int]:
        """``frame`` (ending at ``end``) joined with the chunks queued behind it that continue it
        (``Viewer.take_run``), and where the result ends."""
        frames, end = viewer.take_run(frame, end, SEND_CHUNK)
        if len(frames) == 1:
            return frame, end
        first, last = frames[0], frames[-1]
        cached = self._joined.get(id(first))
        if cached is not None and cached[0] is first and cached[1] is last:
            return cached[2], end  # the same first and last published frame: the same run
        frame = join_output(frames)
        self._joined[id(first)] = (first, last, frame)
        if len(self._joined) > JOINED_KEPT:
            del self._joined[next(iter(self._joined))]
        return frame, end

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

    def set_driver_elsewhere(self, driver: str | None) -> None:
        """Another replica says who drives now: a viewer there (none of ours drives any more)
        or nobody."""
        if driver == self.driver or (driver is not None and driver in self.viewers):
            return
        if driver is None and self.driver in self.viewers:
            return  # ours took control meanwhile
        self.driver = self._driver_told = driver
        self._announce()

    def _announce(self) -> None:
        if self.on_driver is not None and self.driver != self._driver_told:
            self._driver_told = self.driver
            self.on_driver(self.driver)
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
        self.flush()  # the output before a status change (an exit) reaches viewers before it
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

    def drop(self, session_id: str) -> None:
        self._relays.pop(session_id, None)

    def following(self) -> list[SessionRelay]:
        """Relays fed over the bus (their daemon is on another replica)."""
        return [r for r in self._relays.values() if r.following is not None]

    def driver_changed(self, session_id: str, driver: str | None) -> None:
        relay = self._relays.get(session_id)
        if relay is not None:
            relay.set_driver_elsewhere(driver)

    def viewer_count(self) -> int:
        """Browser terminals attached to this replica, over all sessions."""
        return sum(len(relay.viewers) for relay in self._relays.values())

    def discard_if_idle(self, session_id: str) -> None:
        relay = self._relays.get(session_id)
        if relay is not None and not relay.viewers and relay.view.status in ("exited", "lost"):
            del self._relays[session_id]
