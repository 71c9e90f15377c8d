"""Scenario 1 of the fault suite: the hub process killed with -9 while 100 daemons are connected.

The daemons are our daemon's own hub link (``HubConnection``, with its real ``Backoff``: full
jitter, 1 s doubling to 30 s), many instances in one event loop, each registered as a server of
its own: what is measured is our reconnect logic against a real hub process, not a simulator's.
While the hub is down and after it is back, the hub's server list is polled: no server may be
shown anything but online during the restart grace; every daemon must be back within the bar.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.connection import HubConnection
from tests.chaos.profiles import Profile
from tests.e2e.processes import HubProcess, api_client, base_env, hub_with_admin
from tests.support import wait_until

BUCKET = 0.5  # seconds per histogram bar


@dataclass
class Watched:
    """One daemon's link and when it entered each state."""

    config: AgentConfig
    changes: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # capabilities=[]: no probing for agent CLIs on PATH, a hundred times over.
        self.conn = HubConnection(self.config, capabilities=[], on_state_change=self.record)

    def record(self, conn: HubConnection) -> None:
        self.changes.append((time.monotonic(), conn.state))
        if conn.last_error and (not self.errors or self.errors[-1] != conn.last_error):
            self.errors.append(conn.last_error)

    def connected_after(self, moment: float) -> float | None:
        return next((t for t, s in self.changes if t > moment and s == "connected"), None)

    def attempts_after(self, moment: float) -> int:
        return sum(1 for t, s in self.changes if t > moment and s == "connecting")


def register(api: httpx.Client, hub: HubProcess, project_id: str, n: int) -> list[AgentConfig]:
    """``n`` servers of the project, each with its own key (one-time token each)."""
    configs = []
    for i in range(n):
        token = api.post("/api/v1/servers/tokens", json={"project_id": project_id})
        assert token.status_code == 201, token.text
        res = api.post(
            "/api/v1/servers/register",
            json={
                "name": f"fleet-{i:03d}",
                "hostname": f"fleet-{i:03d}.chaos",
                "os": "linux",
                "registration_token": token.json()["token"],
                "machine_id": f"chaos-{uuid.uuid4().hex}",
            },
        )
        assert res.status_code == 200, res.text
        configs.append(
            AgentConfig(
                hub_url=hub.url,
                api_key=res.json()["api_key"],
                server_id=res.json()["id"],
                name=f"fleet-{i:03d}",
            )
        )
    return configs


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def histogram(values: list[float]) -> dict[str, int]:
    counts = Counter(int(v // BUCKET) for v in values)
    return {f"{b * BUCKET:.1f}-{(b + 1) * BUCKET:.1f}s": counts[b] for b in sorted(counts)}


async def statuses(client: httpx.AsyncClient, project_id: str) -> Counter[str] | None:
    try:
        res = await client.get("/api/v1/servers", params={"project_id": project_id})
    except httpx.HTTPError:
        return None  # the hub is down
    if res.status_code != 200:
        return None
    return Counter(str(s["status"]) for s in res.json()["servers"])


async def run_fleet_restart(root: Path, profile: Profile) -> dict[str, Any]:
    env = base_env(root / "hub") | profile.hub_env(fleet=True)
    n = profile.fleet_daemons
    with hub_with_admin(root / "hub", env, root / "hub.log") as hub:
        api = api_client(hub)
        hub.closing.append(api)
        made = api.post("/api/v1/projects", json={"name": "fleet-restart"})
        assert made.status_code == 201, made.text
        project_id = str(made.json()["id"])
        began = time.monotonic()
        configs = register(api, hub, project_id, n)
        registered = time.monotonic() - began
        token = api.headers["Authorization"]
        watched = [Watched(c) for c in configs]
        runners = [asyncio.create_task(w.conn.run()) for w in watched]
        try:
            figures = await _restart(hub, project_id, token, watched, profile)
            return {"register_s": round(registered, 3), **figures}
        finally:
            await asyncio.gather(*(w.conn.stop() for w in watched))
            await asyncio.wait_for(asyncio.gather(*runners, return_exceptions=True), 30)


async def _restart(
    hub: HubProcess, project_id: str, token: str, watched: list[Watched], profile: Profile
) -> dict[str, Any]:
    n = len(watched)

    async def hub_shows_all_online() -> bool:
        async with _client(hub, token) as client:
            counts = await statuses(client, project_id)
        return counts is not None and counts["online"] == n

    await wait_until(lambda: all(w.conn.state == "connected" for w in watched), 60, "all up")
    await wait_until(hub_shows_all_online, 30, "the hub to show every server online")

    killed = time.monotonic()
    hub.kill()
    started = asyncio.create_task(asyncio.to_thread(hub.start))
    seen: Counter[str] = Counter()  # server statuses over every poll while they came back
    polls = 0
    healthy: float | None = None  # when the restarted hub first answered its health check
    async with _client(hub, token) as client:
        while True:
            counts = await statuses(client, project_id)
            if counts is not None:
                polls += 1
                seen.update(counts)
                bad = {s: c for s, c in counts.items() if s != "online"}
                assert not bad, f"servers shown {bad} during the restart grace"
            if healthy is None and started.done():
                started.result()  # a hub that did not come back fails here
                healthy = time.monotonic()
            back = all(w.connected_after(killed) for w in watched)
            if back and started.done() and counts is not None and counts["online"] == n:
                break
            # The hub's start has a deadline of its own; the daemons' starts when it answers.
            waited = time.monotonic() - (healthy or time.monotonic())
            assert waited < profile.reconnect_bar + 10, f"daemons not back after {waited:.0f}s"
            await asyncio.sleep(0.05)
    await started
    assert healthy is not None
    after_kill = [w.connected_after(killed) or 0.0 for w in watched]
    since_kill = [t - killed for t in after_kill]
    since_healthy = [t - healthy for t in after_kill]
    errors = Counter(e.split(":")[0] for w in watched for e in w.errors)
    spread = percentile(since_healthy, 90) - percentile(since_healthy, 10)
    crowd = max(Counter(int(t * 10) for t in since_healthy).values())
    figures = {
        "daemons": n,
        "hub_down_s": round(healthy - killed, 3),
        "reconnect_after_restart_p50_s": round(percentile(since_healthy, 50), 3),
        "reconnect_after_restart_p99_s": round(percentile(since_healthy, 99), 3),
        "reconnect_after_kill_p50_s": round(percentile(since_kill, 50), 3),
        "reconnect_after_kill_p99_s": round(percentile(since_kill, 99), 3),
        "all_back_after_kill_s": round(max(since_kill), 3),
        "all_back_after_restart_s": round(max(since_healthy), 3),
        "spread_p10_p90_s": round(spread, 3),
        "stdev_s": round(statistics.pstdev(since_healthy), 3),
        "attempts_mean": round(statistics.fmean(w.attempts_after(killed) for w in watched), 2),
        "histogram_after_restart": histogram([max(0.0, t) for t in since_healthy]),
        "largest_100ms_bucket": crowd,
        "status_polls": polls,
        "statuses_seen": dict(seen),
        "errors_seen": dict(errors),
    }
    assert max(since_healthy) <= profile.reconnect_bar, figures
    # Full jitter: reconnects spread out, not one synchronized wave.
    assert spread >= 0.3, figures
    assert crowd <= max(10, n // 4), figures
    return figures


def _client(hub: HubProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=hub.url, timeout=5, verify=hub.verify, headers={"Authorization": token}
    )
