"""Which part of a session's stream the hub holds, and where in the raw log each part ends.

A *checkpoint* ``AckPoint(s, r)`` says: the first ``s`` bytes of the redacted stream are exactly
what the first ``r`` raw bytes redact to, with nothing held back. The stream records one after
every chunk it generates. An ack at stream offset ``a`` makes the largest checkpoint ``<= a`` the
acked point, persisted in ``ack.json`` (throttled: losing the latest costs only a resend, as the
hub acks what it holds on every reconnect); checkpoints before it are dropped.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

from orchestratia.agent.sessions.output_log import AckPoint, AckState

log = logging.getLogger(__name__)

MAX_CHECKPOINTS = 100_000  # past this the oldest go: an ack then maps to an earlier point
SAVE_INTERVAL = 0.25


class StreamLedger:
    """Checkpoints of one stream and the hub's acks against them."""

    def __init__(self, ack_path: Path) -> None:
        self._state = AckState(ack_path)
        self.acked = self._state.load()  # the last checkpoint the hub has acked
        self.hub_ack = self.acked.stream_offset  # the hub's latest ack, exactly
        self._checkpoints: deque[AckPoint] = deque()
        self._dirty = False
        self._saved_at = 0.0

    def record(self, point: AckPoint) -> None:
        if not self._checkpoints or self._checkpoints[-1] != point:
            self._checkpoints.append(point)
            if len(self._checkpoints) > MAX_CHECKPOINTS:
                self._checkpoints.popleft()

    def ack(self, offset: int) -> None:
        """The hub holds the stream up to ``offset``."""
        self.hub_ack = max(self.hub_ack, offset)
        best = None
        while self._checkpoints and self._checkpoints[0].stream_offset <= offset:
            best = self._checkpoints.popleft()
        if best is not None and best.stream_offset > self.acked.stream_offset:
            self.acked, self._dirty = best, True
            self.save()

    def rewind(self, target: int) -> AckPoint:
        """The hub holds exactly ``target`` bytes (perhaps fewer than it acked before): the
        checkpoint to regenerate from, at or below ``target``; later ones are forgotten."""
        if target < self.acked.stream_offset:
            log.warning("hub holds %d bytes but had acked %d", target, self.acked.stream_offset)
        best = self.at_or_before(stream=target)
        self._checkpoints = deque(
            p for p in self._checkpoints if p.stream_offset <= best.stream_offset
        )
        if target < self.acked.stream_offset:
            self.acked, self._dirty = best, True
        self.hub_ack = target
        self.ack(target)
        return best

    def at_or_before(self, *, stream: int | None = None, raw: int | None = None) -> AckPoint:
        """The latest known checkpoint at or before a stream or a raw offset."""
        known = [AckPoint(), self.acked, *self._checkpoints]
        if stream is not None:
            known = [p for p in known if p.stream_offset <= stream]
        if raw is not None:
            known = [p for p in known if p.raw_offset <= raw]
        return max(known, key=lambda p: (p.stream_offset, p.raw_offset))

    def save(self, force: bool = False) -> None:
        """Persist the acked point if it moved (at most every ``SAVE_INTERVAL`` unless forced)."""
        now = time.monotonic()
        if self._dirty and (force or now - self._saved_at >= SAVE_INTERVAL):
            try:
                self._state.save(self.acked)
            except OSError as exc:
                log.warning("cannot save ack state %s: %s", self._state.path, exc)
                return
            self._saved_at, self._dirty = now, False
