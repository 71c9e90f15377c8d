"""SSH tunnel mode with two hub replicas on one database: only the replica holding a tunnel's
lease keeps it up, and when that replica dies (SIGKILL: it never lets go) the other takes the
tunnel over once the lease lapses, and the daemon behind it comes back through it."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.processes import DaemonProcess, HubProcess, api_client
from tests.e2e.terminal_support import tmux_on
from tests.sshd_support import running_sshd
from tests.support import free_port, wait_sync

pytestmark = [pytest.mark.e2e]

LEASE = 3.0
REPLICA_ENV = {
    "ORCHESTRATIA_TUNNEL_BACKOFF_BASE": "0.2",
    "ORCHESTRATIA_TUNNEL_BACKOFF_CAP": "1",
    "ORCHESTRATIA_TUNNEL_KEEPALIVE_INTERVAL": "1",
    "ORCHESTRATIA_TUNNEL_LEASE_SECONDS": str(LEASE),
}


def lease_owner(hub: HubProcess, tunnel_id: str) -> str | None:
    db = sqlite3.connect(f"file:{hub.data_dir / 'hub.db'}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute(
            "SELECT lease_owner FROM ssh_tunnels WHERE id = ?", (tunnel_id,)
        ).fetchone()
    finally:
        db.close()
    return str(row[0]) if row and row[0] else None


def pid_of(owner: str | None) -> int | None:
    """The process id in a replica's name (``host:pid:suffix``)."""
    return int(owner.split(":")[-2]) if owner else None


@pytest.mark.parametrize("hub_env", [REPLICA_ENV], indirect=True)
def test_another_replica_takes_over_a_tunnel_when_its_holder_dies(
    hub_process: HubProcess, daemon_factory: Any, tmp_path: Path
) -> None:
    second = HubProcess(hub_process.data_dir, free_port(), hub_process.env, tmp_path / "b.log")
    second.start()
    replicas = {p.proc.pid: p for p in (hub_process, second) if p.proc is not None}
    api = api_client(hub_process)
    hub_process.closing.append(api)
    project_id = api.post("/api/v1/projects", json={"name": "replicas"}).json()["id"]
    socket = "orc-tun-replicas"
    try:
        with running_sshd() as (sshd, fingerprint):
            res = api.post(
                "/api/v1/tunnels",
                json={"project_id": project_id, "name": "nat", "host": "127.0.0.1",
                      "port": sshd.port, "username": sshd.user, "generate": True,
                      "remote_port": free_port()},
            )  # fmt: skip
            assert res.status_code == 201, res.text
            made = res.json()
            sshd.authorize(made["public_key"])
            one = f"/api/v1/tunnels/{made['id']}"
            wait_sync(lambda: api.get(one).json()["offered_fingerprint"], 15, "host key")
            res = api.post(f"{one}/confirm-host-key", json={"fingerprint": fingerprint})
            assert res.status_code == 200, res.text
            wait_sync(lambda: api.get(one).json()["status"] == "up", 15, "up")
            assert sshd.accepted_logins() == 1  # one replica holds it, not both

            daemon: DaemonProcess = daemon_factory()
            daemon.env.update(HOME=str(tmp_path), SHELL="/bin/sh")
            assert daemon.register(made["setup"]["token"]).returncode == 0
            config = yaml.safe_load(daemon.config.read_text())
            config.update(tmux_socket=socket, state_dir=str(tmp_path / "agent-state"))
            daemon.config.write_text(yaml.safe_dump(config))
            daemon.start()
            holder = pid_of(lease_owner(hub_process, made["id"]))
            assert holder in replicas
            survivor = next(p for pid, p in replicas.items() if pid != holder)
            survivor_api = api_client(survivor)
            hub_process.closing.append(survivor_api)

            def online() -> bool:
                res = survivor_api.get(f"/api/v1/servers/{config['server_id']}")
                return res.status_code == 200 and res.json()["status"] == "online"

            wait_sync(online, 20, f"online through the tunnel ({daemon.log})")
            replicas[holder].kill(signal.SIGKILL)
            killed = time.monotonic()

            def taken_over() -> bool:
                owner = pid_of(lease_owner(hub_process, made["id"]))
                up = survivor_api.get(one).json()["status"] == "up"
                return owner == survivor.proc.pid and up  # type: ignore[union-attr]

            wait_sync(taken_over, LEASE + 15, "the other replica holding the tunnel")
            # Not before the dead holder's lease ran out, and soon after.
            assert LEASE * 0.5 <= time.monotonic() - killed <= LEASE + 10
            assert sshd.accepted_logins() == 2
            wait_sync(online, 30, f"the daemon back through the survivor ({daemon.log})")
    finally:
        tmux_on(socket, "kill-server")
        second.kill(signal.SIGTERM)
