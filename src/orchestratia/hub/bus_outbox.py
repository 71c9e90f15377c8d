"""What a replica publishes on Redis, in order, on one connection (``RedisBus``'s writer).

Output may be dropped: while Redis is slow or away it waits only up to a byte cap, and a batch
that fails to publish loses it; followers repair it from the recording by offset. Control
messages (revocations, claims, keystrokes: everything but output) are not: they are never held to
the cap, and when a publish fails they are tried again, still in order and ahead of anything
newer, for ``CONTROL_RETRY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as redis
from redis.exceptions import RedisError

from orchestratia.hub.bus_envelope import Envelope

log = logging.getLogger(__name__)

# What output may wait to be published; past it output is dropped, never the hub's memory.
PUBLISH_QUEUE_BYTES = 64 * 1024 * 1024
PUBLISH_BATCH = 512
# How long a control message that could not be published is retried before it is given up
# (about the envelope's MAX_AGE: an older one would not open anyway).
CONTROL_RETRY_SECONDS = 60.0
RETRY_DELAY = 0.5

Item = tuple[str, bytes, bool]  # channel, sealed message, control


class Outbox:
    def __init__(self, client: redis.Redis, envelope: Envelope) -> None:
        self._redis = client
        self._envelope = envelope
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._queued_bytes = 0  # of output only
        self.queue_bytes = PUBLISH_QUEUE_BYTES
        self.dropped = 0  # messages not published (queue full, Redis away, retries given up)
        self.publish_failures = 0

    def put(self, channel: str, payload: bytes, *, control: bool) -> None:
        if not control and self._queued_bytes + len(payload) > self.queue_bytes:
            self.dropped += 1  # Redis is away or slow: followers repair from the recording
            return
        sealed = self._envelope.seal(channel, payload)
        if not control:
            self._queued_bytes += len(sealed)
        self._queue.put_nowait((channel, sealed, control))

    def _taken(self, item: Item) -> Item:
        if not item[2]:
            self._queued_bytes -= len(item[1])
        return item

    async def run(self) -> None:
        """Publish what is queued, many commands per round trip."""
        batch: list[Item] = []
        failing_since: float | None = None
        while True:
            if not batch:
                batch = [self._taken(await self._queue.get())]
            while len(batch) < PUBLISH_BATCH and not self._queue.empty():
                batch.append(self._taken(self._queue.get_nowait()))
            pipe = self._redis.pipeline(transaction=False)
            for channel, payload, _ in batch:
                pipe.publish(channel, payload)
            try:
                await pipe.execute()
                batch, failing_since = [], None
                continue
            except (RedisError, OSError) as exc:
                # A partly published batch is sent again whole: receivers drop the repeats as
                # replays (each carries its sequence number).
                self.publish_failures += 1
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                kept = [item for item in batch if item[2]]
                self.dropped += len(batch) - len(kept)
                if now - failing_since > CONTROL_RETRY_SECONDS:
                    log.error("bus: %d control messages given up (%s)", len(kept), exc)
                    self.dropped += len(kept)
                    kept, failing_since = [], None
                else:
                    log.warning("bus: publishing failed (%s); retrying", exc)
                batch = kept
            await asyncio.sleep(RETRY_DELAY)
