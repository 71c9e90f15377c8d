"""Two hub replicas behind nginx (deploy/nginx.conf) on one PostgreSQL and Redis: requests
alternate between the replicas with no stickiness, a login, its CSRF token, the dashboard pages
and the API work whichever replica answers, the dashboard's WebSocket upgrades through nginx,
the cluster's chores run once per interval across the replicas, and when replica A is killed
nginx sends everything to B, which carries on with the chores, until A is back."""

from __future__ import annotations

import itertools
import json
import re
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.cluster_support import Cluster, running_cluster
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SWEEP_INTERVAL = 0.5
ENV = {"ORCHESTRATIA_LIVENESS_SWEEP_INTERVAL": str(SWEEP_INTERVAL)}


def probe(client: httpx.Client, path: str, cluster: Cluster) -> str:
    """GET ``path`` with a unique marker in its query; which replica answered it."""
    marker = f"probe-{uuid.uuid4().hex[:12]}"
    joiner = "&" if "?" in path else "?"
    res = client.get(f"{path}{joiner}probe={marker}")
    assert res.status_code == 200, (path, res.status_code, res.headers.get("location"))
    return cluster.served_by(marker)


def sweeps(hub_url: str) -> float:
    """Liveness sweeps the replica at ``hub_url`` made, from its own /metrics."""
    text = httpx.get(f"{hub_url}/metrics", timeout=5).text
    found = re.search(r'orchestratia_chore_runs_total\{chore="liveness sweep"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.timeout(300)  # five processes start on a machine the rest of the suite shares
def test_two_replicas_behind_nginx_share_every_request_and_chore(tmp_path: Path) -> None:
    with running_cluster(tmp_path, ENV) as cluster:
        anon = cluster.client()
        res = anon.post(
            "/api/v1/auth/login",
            json={"email": "admin@e2e.example", "password": "e2e-password-123"},
        )
        assert res.status_code == 200, res.text
        # nginx said the browser came over TLS, and the hub believed it (trusted proxy).
        assert all("secure" in c.lower() for c in res.headers.get_list("set-cookie"))
        client = cluster.login()

        # Round robin, no stickiness: one keep-alive client's requests alternate.
        served = [probe(client, "/api/v1/health", cluster) for _ in range(6)]
        assert set(served) == {"a", "b"}, served
        assert all(x != y for x, y in itertools.pairwise(served)), served

        # Pages and API calls work whichever replica answers: each is asked until both have.
        for path in ("/fleet", "/tasks", "/inbox", "/api/v1/auth/me", "/api/v1/projects"):
            answered = {probe(client, path, cluster) for _ in range(2)}
            assert answered == {"a", "b"}, (path, answered)
        # Writes with the login's cookie and CSRF token, one landing on each replica.
        made = [client.post("/api/v1/projects", json={"name": f"p{i}"}) for i in range(2)]
        assert [r.status_code for r in made] == [201, 201], [r.text for r in made]
        project_id = made[0].json()["id"]

        # The dashboard's live feed upgrades through nginx (Upgrade/Connection passed on).
        cookie = f"orc_session={client.cookies['orc_session']}"
        with connect(
            f"{cluster.ws_url}/ws/dashboard",
            ssl=cluster.ssl_context(),
            additional_headers={"Cookie": cookie, "Origin": cluster.url},
            open_timeout=10,
        ) as ws:
            ws.send(json.dumps({"type": "subscribe", "project_id": project_id}))
            first = json.loads(ws.recv(timeout=10))
            assert first == {"type": "subscribed", "project_id": project_id}, first

        # The liveness sweep: once per interval across both replicas, not once per replica.
        a_url, b_url = cluster.a.url, cluster.b.url
        before, started = sweeps(a_url) + sweeps(b_url), time.monotonic()
        wait_sync(lambda: time.monotonic() - started >= 4, 10, "a few sweep intervals")
        made_runs = sweeps(a_url) + sweeps(b_url) - before
        window = time.monotonic() - started
        assert made_runs <= window / (0.9 * SWEEP_INTERVAL) + 2, made_runs

        # Replica A dies: nginx sends everything to B, and B sweeps at the full rate alone.
        cluster.kill_a(signal.SIGKILL)
        assert {probe(client, "/api/v1/auth/me", cluster) for _ in range(4)} == {"b"}
        b_before = sweeps(b_url)
        wait_sync(
            lambda: sweeps(b_url) - b_before >= 4, 10 * SWEEP_INTERVAL + 10, "B sweeping alone"
        )

        # A is back: the requests alternate again.
        cluster.restart_a()

        def both_serve() -> bool:
            return {probe(client, "/api/v1/health", cluster) for _ in range(2)} == {"a", "b"}

        wait_sync(both_serve, 20, "nginx sending requests to A again")
