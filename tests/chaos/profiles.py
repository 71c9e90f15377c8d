"""The fault suite's two profiles: SHORT (in ``make test``: liveness timers shortened through the
hub's settings so a scenario takes seconds) and LONG (``bench/chaos.py``: production timings, SPEC
§5: heartbeat 15 s, disconnected after 45 s, restart grace 90 s, sessions lost after 300 s).

Both run the same scenario code and the same assertions; only the timers and bars differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    heartbeat_interval: float
    heartbeat_timeout: float
    restart_grace: float
    session_lost_timeout: float
    liveness_sweep_interval: float
    # The hub-restart scenario: how many daemons, and their hub's heartbeat timers (100 daemons
    # beating every 0.5 s would spend the short profile's CPU on heartbeats, not on reconnects).
    fleet_daemons: int
    fleet_heartbeat_interval: float
    fleet_heartbeat_timeout: float
    # How long a healed link stays up before the next fault. The daemon resets its backoff only
    # after a connection lived 30 s (``connection.STABLE_AFTER``): the long profile waits that
    # out so every fault meets a fresh backoff, as one fault in a week of uptime would; the short
    # one goes on at once, so its later faults also show reconnects under a grown backoff.
    settle: float
    # Both sides must notice a dead link within this long of the fault (SPEC §14: 45 s).
    detect_bar: float
    # Every daemon back within this long of the killed hub answering again (SPEC §14: 60 s);
    # how long the hub itself takes to start is not the daemons' doing.
    reconnect_bar: float

    def hub_env(self, *, fleet: bool = False, grace: float | None = None) -> dict[str, str]:
        interval = self.fleet_heartbeat_interval if fleet else self.heartbeat_interval
        timeout = self.fleet_heartbeat_timeout if fleet else self.heartbeat_timeout
        return {
            "ORCHESTRATIA_HEARTBEAT_INTERVAL": str(interval),
            "ORCHESTRATIA_HEARTBEAT_TIMEOUT": str(timeout),
            "ORCHESTRATIA_RESTART_GRACE": str(self.restart_grace if grace is None else grace),
            "ORCHESTRATIA_SESSION_LOST_TIMEOUT": str(self.session_lost_timeout),
            "ORCHESTRATIA_LIVENESS_SWEEP_INTERVAL": str(self.liveness_sweep_interval),
        }


# Margins are generous for a loaded 2-core machine, yet far below what a broken detector gives:
# without the application heartbeat the only detector left is the hub's socket ping (20 s + 20 s).
SHORT = Profile(
    name="short",
    heartbeat_interval=0.5,
    heartbeat_timeout=3.0,
    # Production's: the 100 daemons' reconnects after a slow restart on a loaded machine can take
    # half a minute, and a shorter grace would only make the check flaky, not stricter.
    restart_grace=90.0,
    session_lost_timeout=3.0,
    liveness_sweep_interval=0.2,
    fleet_daemons=100,
    fleet_heartbeat_interval=2.0,
    fleet_heartbeat_timeout=10.0,
    settle=0.0,
    detect_bar=3.0 + 5.0,
    reconnect_bar=60.0,
)

LONG = Profile(
    name="long",
    heartbeat_interval=15.0,
    heartbeat_timeout=45.0,
    restart_grace=90.0,
    # Production's 300 s makes the partition scenario take over five minutes; CHAOS_LOST_TIMEOUT
    # shortens it without touching the liveness timers the other scenarios measure.
    session_lost_timeout=float(os.environ.get("CHAOS_LOST_TIMEOUT", "300")),
    liveness_sweep_interval=1.0,
    fleet_daemons=int(os.environ.get("CHAOS_DAEMONS", "100")),
    fleet_heartbeat_interval=15.0,
    fleet_heartbeat_timeout=45.0,
    settle=31.0,
    # The bar itself plus the time it takes to see it: the status poll and the hub's write.
    detect_bar=45.0 + 1.0,
    reconnect_bar=60.0,
)
