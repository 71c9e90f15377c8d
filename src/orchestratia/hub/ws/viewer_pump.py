"""A viewer's sender: the one task that writes to its socket, from its queue and ``next_offset``.

Every viewer tracks ``next_offset``: the first byte it has not been sent. Output is only ever
sent from there, so resends, overlaps and gap fills can neither duplicate nor skip bytes. Queued
chunks are the relay's shared frames; ranges never queued (before a resume or a snapshot's
offset) come from the relay's ring or, further back, the stored recording.
"""

from __future__ import annotations

import asyncio
import contextlib

from orchestratia.hub.ws.terminal_relay import SessionRelay
from orchestratia.hub.ws.viewer_queue import FILL_RETRY, FILL_RETRY_MAX, Chunk, Resync, Viewer
from orchestratia.protocol.base import dump
from orchestratia.protocol.viewer import (
    OFFSET_HEADER,
    ResetFrame,
    SnapshotFrame,
    output_size,
    pack_output,
)


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
    if data:
        viewer.behind_retry = FILL_RETRY
    if data and viewer.next_offset is not None:
        await _send(viewer, pack_output(start, data), start + len(data))
    return bool(data)


async def _wait_behind(viewer: Viewer) -> None:
    # The bytes it lacks can be neither in the ring (the last 2 MiB) nor stored yet: a daemon
    # connection may have up to 8 MiB taken in and waiting for the group commit. Nothing wakes
    # the viewer when that commit lands, so it looks again, ever less often while it waits.
    await viewer.wait(viewer.behind_retry)
    viewer.behind_retry = min(viewer.behind_retry * 2, FILL_RETRY_MAX)


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
            await _wait_behind(viewer)
        return
    if offset < start:
        frame = pack_output(start, memoryview(frame)[OFFSET_HEADER.size + start - offset :])
    else:
        frame, end = relay.join_run(viewer, frame, end)
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
            behind = viewer.next_offset is not None and viewer.next_offset < relay.offered
            if not behind:
                await viewer.wait()
            elif not await _fill(relay, viewer, relay.offered):
                await _wait_behind(viewer)
            continue
        item = viewer.queue.popleft()
        if isinstance(item, Resync):
            await sync(relay, viewer, "resync")
        elif isinstance(item, str):
            await viewer.ws.send_text(item)
        else:
            await _send_chunk(relay, viewer, item)


async def run_viewer(relay: SessionRelay, viewer: Viewer, resume: int | None) -> None:
    """Start a viewer: resume from an offset it holds, or sync it from a snapshot."""
    if resume is not None and resume <= relay.end:
        viewer.next_offset = resume
    else:
        viewer.resync()
    with contextlib.suppress(asyncio.CancelledError):
        await pump(relay, viewer)
