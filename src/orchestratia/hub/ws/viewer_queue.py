"""One browser terminal's outgoing queue: shared output frames, JSON control frames, resyncs.

Output is queued as the packed frame ``SessionRelay.publish`` made once for all viewers; the
viewer's sender (``terminal_relay.pump``) decides what of it to send from ``next_offset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from dataclasses import dataclass, field

from starlette.websockets import WebSocket

from orchestratia.protocol.viewer import output_size

VIEWER_QUEUE_BYTES = 4 * 1024 * 1024
# A viewer behind with the bytes it lacks not stored yet looks again after this, doubling.
FILL_RETRY = 0.02
FILL_RETRY_MAX = 1.0


class Resync:
    pass


RESYNC = Resync()


# A chunk of output for one or more viewers: the offset of its first byte and its packed frame.
Chunk = tuple[int, bytes]


@dataclass(eq=False)
class Viewer:
    ws: WebSocket
    read_only: bool
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    next_offset: int | None = None
    queue: deque[Chunk | str | Resync] = field(default_factory=deque)
    queued_bytes: int = 0
    behind_retry: float = FILL_RETRY
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, chunk: Chunk) -> None:
        """Queue a published chunk: the same object for every viewer, never copied here."""
        if self.next_offset is None:
            return  # waiting for a snapshot; it will be filled from the ring afterwards
        size = output_size(chunk[1])
        if self.queued_bytes + size > VIEWER_QUEUE_BYTES:
            self.resync()  # too far behind: start over from a fresh snapshot
            return
        self.queued_bytes += size
        self._put(chunk)

    def send_json(self, text: str) -> None:
        self._put(text)

    def _put(self, item: Chunk | str | Resync) -> None:
        self.queue.append(item)
        self._wake.set()

    async def wait(self, timeout: float | None = None) -> None:
        """Until something is queued after this call, or ``timeout`` seconds pass."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    def resync(self) -> None:
        """Drop the queued output and send a fresh snapshot next."""
        self._drain()
        self.next_offset = None
        self._put(RESYNC)

    def _drain(self) -> None:
        # Only output is dropped: control frames (driver changes, status) must still arrive.
        kept = [item for item in self.queue if isinstance(item, str)]
        self.queue.clear()
        self.queue.extend(kept)
        self.queued_bytes = 0

    def take_run(self, frame: bytes, end: int, limit: int) -> tuple[list[bytes], int]:
        """``frame`` (ending at ``end``) and the queued chunks that continue it without a break,
        up to ``limit`` bytes in all: what piled up while the socket was busy, to send as one."""
        frames, size = [frame], output_size(frame)
        queue = self.queue
        while queue:
            item = queue[0]
            if not isinstance(item, tuple) or item[0] != end:
                break
            more = output_size(item[1])
            if size + more > limit:
                break
            queue.popleft()
            self.queued_bytes -= more
            frames.append(item[1])
            size += more
            end += more
        return frames, end
