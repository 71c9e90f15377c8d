"""Heartbeats waiting for their database write: one hub process writes the heartbeats of all
its daemons together about once a second (``fleet.flush_heartbeats``) instead of one
transaction per heartbeat, which at thousands of daemons is most of the hub's CPU.

A server's liveness does not suffer: an open socket already counts as alive on this hub, and
``last_seen_at`` lags by at most the flush interval against a heartbeat timeout of many seconds.
"""

from __future__ import annotations

from typing import Any

Beats = dict[str, dict[str, Any] | None]  # server id -> its latest system_info, None if none


class HeartbeatBatch:
    def __init__(self) -> None:
        self._beats: Beats = {}

    def add(self, server_id: str, system_info: dict[str, Any] | None) -> None:
        """A heartbeat; a later report replaces an earlier one, an empty one keeps it."""
        if system_info or server_id not in self._beats:
            self._beats[server_id] = system_info

    def take(self) -> Beats:
        """Everything waiting, which is then no longer waiting."""
        beats, self._beats = self._beats, {}
        return beats

    def restore(self, beats: Beats) -> None:
        """Put back what a failed write took, under anything newer that arrived meanwhile."""
        for server_id, info in beats.items():
            if server_id not in self._beats:
                self._beats[server_id] = info

    def discard(self, server_id: str) -> None:
        """The server's socket closed: its last heartbeats must not outlive the close."""
        self._beats.pop(server_id, None)

    def __len__(self) -> int:
        return len(self._beats)
