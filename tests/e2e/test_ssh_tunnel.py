"""Issue 16, acceptance 2: SSH tunnel mode against a real OpenSSH server.

A real sshd on a loopback port (throwaway user, key and host key), a real hub process that dials
it, and the unmodified daemon pointed at the tunnel's forwarded port: the daemon registers
through the tunnel, a tmux session's numbered lines stream to a browser viewer, sshd is
restarted (every connection it served killed) and the tunnel and daemon come back with every
line shown exactly once. Then sshd comes back with a new host key: the hub refuses it, shows
the new fingerprint in the API and on the fleet page, and never logs in, until an owner
trusts the new key from the page."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import UI_TIMEOUT_MS, log_in, open_page, screen
from tests.e2e.processes import DaemonProcess, HubProcess, api_client
from tests.e2e.terminal_support import tmux_on
from tests.sshd_support import Sshd, running_sshd
from tests.support import free_port, wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
expect.set_options(timeout=UI_TIMEOUT_MS)

# Quick reconnects and keepalives: the test restarts sshd and waits for the tunnel.
TUNNEL_ENV = {
    "ORCHESTRATIA_TUNNEL_BACKOFF_BASE": "0.2",
    "ORCHESTRATIA_TUNNEL_BACKOFF_CAP": "1",
    "ORCHESTRATIA_TUNNEL_KEEPALIVE_INTERVAL": "1",
    "ORCHESTRATIA_TUNNEL_KEEPALIVE_COUNT_MAX": "3",
    "ORCHESTRATIA_TUNNEL_CONNECT_TIMEOUT": "5",
    "ORCHESTRATIA_TUNNEL_LEASE_SECONDS": "6",
}
LINES = 400
# Prints "tick 00001" … at a steady pace once the go file exists, then "count done".
COUNTER = r"""
import os, sys, time
total, pause, go = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
os.write(1, b"waiting for go\n")
while not os.path.exists(go):
    time.sleep(0.02)
for i in range(1, total + 1):
    os.write(1, b"tick %05d\n" % i)
    time.sleep(pause)
os.write(1, b"count done\n")
time.sleep(3600)
"""


def tunnel(api: httpx.Client, tunnel_id: str) -> dict[str, Any]:
    res = api.get(f"/api/v1/tunnels/{tunnel_id}")
    assert res.status_code == 200, res.text
    return dict(res.json())


def wait_tunnel(api: httpx.Client, tunnel_id: str, status: str, what: str) -> dict[str, Any]:
    return dict(
        wait_sync(
            lambda: (t := tunnel(api, tunnel_id))["status"] == status and t,
            20,
            f"tunnel {what}: {tunnel(api, tunnel_id)}",
        )
    )


def server_online(api: httpx.Client, server_id: str) -> bool:
    res = api.get(f"/api/v1/servers/{server_id}")
    return res.status_code == 200 and res.json()["status"] == "online"


def ticks(page: Page) -> list[str]:
    return re.findall(r"^tick \d{5}$", screen(page), re.MULTILINE)


def recording(api: httpx.Client, sid: str) -> bytes:
    out = bytearray()
    while True:
        res = api.get(f"/api/v1/sessions/{sid}/output", params={"offset": len(out)})
        assert res.status_code == 200, res.text
        assert int(res.headers["X-Orchestratia-Offset"]) == len(out), "hole in the recording"
        if not res.content:
            return bytes(out)
        out += res.content


def add_tunnel(api: httpx.Client, project_id: str, sshd: Sshd, remote_port: int) -> dict[str, Any]:
    body = {"project_id": project_id, "name": "behind-nat", "host": "127.0.0.1",
            "port": sshd.port, "username": sshd.user, "generate": True,
            "remote_port": remote_port}  # fmt: skip
    res = api.post("/api/v1/tunnels", json=body)
    assert res.status_code == 201, res.text
    made = dict(res.json())
    assert "PRIVATE KEY" not in res.text and "private_key" not in made
    assert made["status"] == "pending_confirmation"
    assert made["setup"]["hub_url"] == f"http://127.0.0.1:{remote_port}"
    return made


def daemon_behind(
    daemon: DaemonProcess, token: str, tmp_path: Path, remote_port: int
) -> tuple[str, str]:
    """Register the daemon with the tunnel's token and start it; its server id and socket."""
    home = tmp_path / "home"
    home.mkdir()
    daemon.env.update(HOME=str(home), SHELL="/bin/sh", LANG="C.UTF-8")
    registered = daemon.register(token)
    assert registered.returncode == 0, registered.stderr
    config = yaml.safe_load(daemon.config.read_text())
    # The unmodified daemon, configured with the tunnel's local URL.
    assert config["hub_url"] == f"http://127.0.0.1:{remote_port}"
    socket = f"orc-tun-{remote_port}"
    config.update(tmux_socket=socket, state_dir=str(tmp_path / "agent-state"))
    daemon.config.write_text(yaml.safe_dump(config))
    daemon.start()
    return str(config["server_id"]), socket


@pytest.mark.parametrize("hub_env", [TUNNEL_ENV], indirect=True)
def test_a_server_behind_an_ssh_tunnel(
    hub_process: HubProcess, daemon_factory: Any, browser: Browser, tmp_path: Path
) -> None:
    api = api_client(hub_process)
    hub_process.closing.append(api)
    project = api.post("/api/v1/projects", json={"name": "tunnelled"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    remote_port = free_port()
    with running_sshd() as (sshd, fingerprint):
        made = add_tunnel(api, project_id, sshd, remote_port)
        tid = made["id"]
        sshd.authorize(made["public_key"])

        # First contact: the hub only asks for the host key and waits for an owner.
        offered = wait_sync(lambda: tunnel(api, tid)["offered_fingerprint"], 15, "host key")
        assert offered == fingerprint
        assert tunnel(api, tid)["status"] == "pending_confirmation"
        assert sshd.accepted_logins() == 0
        wrong = api.post(
            f"/api/v1/tunnels/{tid}/confirm-host-key", json={"fingerprint": "SHA256:" + "A" * 43}
        )
        assert wrong.status_code == 409, wrong.text
        res = api.post(f"/api/v1/tunnels/{tid}/confirm-host-key", json={"fingerprint": offered})
        assert res.status_code == 200, res.text
        assert res.json()["host_key_fingerprint"] == fingerprint
        first_up = wait_tunnel(api, tid, "up", "up")["connected_at"]

        # The daemon reaches the hub only through the forwarded port.
        daemon: DaemonProcess = daemon_factory()
        server_id, socket = daemon_behind(daemon, made["setup"]["token"], tmp_path, remote_port)
        try:
            wait_sync(lambda: server_online(api, server_id), 20, f"online ({daemon.log})")
            assert tunnel(api, tid)["server_id"] == server_id
            _stream_across_sshd_restart(hub_process, api, browser, sshd, tmp_path, server_id, tid)
            assert tunnel(api, tid)["connected_at"] > first_up
            _changed_host_key(hub_process, api, browser, sshd, tid, fingerprint, project_id)
        finally:
            tmux_on(socket, "kill-server")


def _stream_across_sshd_restart(
    hub: HubProcess,
    api: httpx.Client,
    browser: Browser,
    sshd: Sshd,
    tmp_path: Path,
    server_id: str,
    tid: str,
) -> None:
    script, go = tmp_path / "counter.py", tmp_path / "go"
    script.write_text(COUNTER)
    res = api.post(
        "/api/v1/sessions",
        json={"server_id": server_id, "name": "counter", "working_directory": str(tmp_path),
              "command": f"exec {sys.executable} -S {script} {LINES} 0.02 {go}",
              "cols": 100, "rows": 30},
    )  # fmt: skip
    assert res.status_code == 201, res.text
    sid = res.json()["id"]
    wait_sync(lambda: api.get(f"/api/v1/sessions/{sid}").json()["status"] == "running", 15, "run")

    page = open_page(browser)
    log_in(page, hub)
    page.goto(f"{hub.url}/sessions/{sid}")
    page.wait_for_function("() => window.term !== undefined")
    # The viewer holds the screen (snapshot or stream) before the first numbered line exists,
    # so every one of them reaches it as output.
    wait_sync(lambda: "waiting for go" in screen(page), 15, "the viewer", 0.1)
    go.touch()
    wait_sync(lambda: len(ticks(page)) >= 40, 15, "the first lines in the browser", 0.1)

    logins = sshd.accepted_logins()
    assert logins == 1
    sshd.restart()  # kills the tunnel's connection with it, mid-stream
    wait_tunnel(api, tid, "up", "back up after the sshd restart")
    assert sshd.accepted_logins() == 1  # the new sshd run saw the hub log in again
    wait_sync(lambda: server_online(api, server_id), 30, "the daemon back through the tunnel")
    wait_sync(lambda: "count done" in screen(page), 30, "the last line", 0.2)
    seen, expected = ticks(page), [f"tick {i:05d}" for i in range(1, LINES + 1)]
    missing = sorted(set(expected) - set(seen))
    twice = sorted({line for line in seen if seen.count(line) > 1})
    assert seen == expected, f"missing {missing[:20]}, twice {twice[:20]}, {len(seen)} lines"
    # The hub's recording holds them exactly once too.
    assert re.findall(rb"tick \d{5}", recording(api, sid)) == [t.encode() for t in expected]
    page.context.close()


def _changed_host_key(
    hub: HubProcess,
    api: httpx.Client,
    browser: Browser,
    sshd: Sshd,
    tid: str,
    pinned: str,
    project_id: str,
) -> None:
    page = open_page(browser)
    log_in(page, hub)
    page.goto(f"{hub.url}/fleet?project_id={project_id}")
    row = page.locator(f"#tunnel-{tid}")
    expect(row.locator("[data-field=tunnel-status]")).to_have_text("up")
    expect(page.locator("[data-mode=ssh]")).to_contain_text("SSH tunnel · up")

    new_fingerprint = sshd.restart(new_host_key=True)
    assert new_fingerprint and new_fingerprint != pinned
    refused = wait_tunnel(api, tid, "host_key_mismatch", "refused")
    assert refused["offered_fingerprint"] == new_fingerprint
    assert refused["host_key_fingerprint"] == pinned
    # Shown, in red, with the new fingerprint, live on the open page.
    expect(row.locator("[data-field=tunnel-status]")).to_have_text("host key changed")
    mismatch = page.locator(f"#mismatch-{tid}")
    expect(mismatch).to_contain_text(new_fingerprint)
    assert "notice bad" in (mismatch.get_attribute("class") or "")
    expect(page.locator("[data-mode=ssh]")).to_contain_text("host key changed")
    # Refused before authentication, and not retried.
    assert sshd.accepted_logins() == 0
    assert tunnel(api, tid)["status"] == "host_key_mismatch"

    # An owner who checked the new key trusts it from the page: pinned, and up again.
    mismatch.get_by_role("button", name="Trust the new key").click()
    expect(row.locator("[data-field=tunnel-status]")).to_have_text("up")
    assert tunnel(api, tid)["host_key_fingerprint"] == new_fingerprint
    assert sshd.accepted_logins() == 1
    page.context.close()
