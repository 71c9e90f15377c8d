"""TLS end to end with a throwaway CA: a hub process serving HTTPS and WSS, a daemon and the
agent CLI that verify it against ``ca_file`` / ``ORCHESTRATIA_CA_FILE``, one-line refusals for a
wrong CA, and no plain WebSocket to another machine unless allowed."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from orchestratia.protocol.tokens import decode_hub_url, encode_registration_token
from tests.e2e.processes import (
    ADMIN,
    PASSWORD,
    DaemonProcess,
    HubProcess,
    HubTls,
    base_env,
    hub_with_admin,
    orchestratia,
)
from tests.e2e.terminal_support import Rig, authenticated, tmux_on
from tests.e2e.tls_support import hub_certificate, other_ca
from tests.support import wait_sync

pytestmark = pytest.mark.e2e

AUTH_FRAME = Path(__file__).parents[1] / "fixtures" / "public_agent_v020" / "frames" / "auth.json"


@pytest.fixture
def tls(tmp_path: Path) -> HubTls:
    return hub_certificate(tmp_path / "pki")


@pytest.fixture
def tls_hub(tmp_path: Path, tls: HubTls) -> Iterator[HubProcess]:
    data_dir = tmp_path / "hub"
    with hub_with_admin(data_dir, base_env(data_dir), tmp_path / "hub.log", tls=tls) as hub:
        yield hub


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(orchestratia(*args), env=env, capture_output=True, text=True, timeout=60)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's output: non-zero exit, no traceback."""
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Traceback" not in out, out
    return out


def new_token(api: httpx.Client, project_id: str) -> str:
    res = api.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201, res.text
    return str(res.json()["token"])


def daemon_state(daemon: DaemonProcess) -> dict[str, Any] | None:
    out = daemon.status()
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_login_cookies_are_secure_over_https(tls_hub: HubProcess) -> None:
    with httpx.Client(base_url=tls_hub.url, verify=tls_hub.verify, timeout=10) as client:
        res = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
        assert res.status_code == 200, res.text
        cookies = res.headers.get_list("set-cookie")
        assert len(cookies) == 2 and all("; Secure" in c for c in cookies), cookies
        client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        page = client.get("/tasks")  # remembers the project shown, in a cookie too
        assert page.status_code == 200
        assert all("; Secure" in c for c in page.headers.get_list("set-cookie")), page.headers
        out = client.post("/api/v1/auth/logout")
        assert out.status_code == 204, out.text
        assert all("; Secure" in c for c in out.headers.get_list("set-cookie")), out.headers


async def public_agent_auth(hub: HubProcess, api_key: str) -> dict[str, Any]:
    """The public agent's first frame over WSS, and the hub's answer."""
    frame = AUTH_FRAME.read_text().replace("{{api_key}}", api_key)
    url = hub.url.replace("https://", "wss://") + "/ws/server"
    async with connect(url, ssl=hub.tls.context() if hub.tls else None, proxy=None) as ws:
        await ws.send(frame)
        reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return reply


def test_daemon_and_cli_over_tls(
    tls_hub: HubProcess, tls: HubTls, daemon_factory: Any, tmp_path: Path
) -> None:
    wrong_ca = other_ca(tmp_path / "other")
    api, login = authenticated(tls_hub)
    tls_hub.closing.append(api)
    project = api.post("/api/v1/projects", json={"name": "tls"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    token = new_token(api, project_id)
    assert decode_hub_url(token) == tls_hub.url  # the hub hands out its https address

    daemon: DaemonProcess = daemon_factory()
    home = tmp_path / "home"
    home.mkdir()
    daemon.env.update(HOME=str(home), SHELL="/bin/sh", LANG="C.UTF-8")
    # The system trust store does not know our CA, and neither does the wrong one.
    for options in ((), ("--ca-file", str(wrong_ca))):
        out = one_line_error(daemon.register(token, *options))
        assert "TLS to the hub at 127.0.0.1 failed: certificate verify failed:" in out, out
        assert "pass --ca-file /path/to/ca.pem" in out, out
    registered = daemon.register(token, "--ca-file", str(tls.ca_file))
    assert registered.returncode == 0, registered.stderr
    config = yaml.safe_load(daemon.config.read_text())
    assert config["ca_file"] == str(tls.ca_file) and config["hub_url"] == tls_hub.url
    socket = f"orc-tls-{uuid.uuid4().hex[:10]}"
    config.update(tmux_socket=socket, state_dir=str(tmp_path / "agent-state"))
    daemon.config.write_text(yaml.safe_dump(config))
    rig = Rig(tls_hub, daemon, api, login, project_id, config["server_id"], socket, tmp_path)
    daemon.start()
    try:
        rig.wait_online()
        # A session streams over WSS, and the CLI inside it reaches the hub over HTTPS with the
        # CA its daemon passed down (the session's environment has nothing else to go on).
        session = rig.start("tls", "orchestratia status --json >/dev/null && echo cli-ok-$((6*7))")
        wait_sync(lambda: b"cli-ok-42" in rig.recording(session["id"]), 20, "CLI output")

        # The agent CLI from outside a session: the CA bundle from the environment.
        env = base_env(tmp_path / "hub") | {
            "ORCHESTRATIA_HUB_URL": tls_hub.url,
            "ORCHESTRATIA_API_KEY": config["api_key"],
            "ORCHESTRATIA_AGENT_CONFIG": str(tmp_path / "absent.yaml"),
        }
        listed = cli(env | {"ORCHESTRATIA_CA_FILE": str(tls.ca_file)}, "server", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [s["id"] for s in json.loads(listed.stdout)["servers"]] == [config["server_id"]]
        for bad in ({}, {"ORCHESTRATIA_CA_FILE": str(wrong_ca)}):
            out = one_line_error(cli(env | bad, "server", "list"))
            assert "TLS to the hub at 127.0.0.1 failed: certificate verify failed:" in out, out
            assert "set ORCHESTRATIA_CA_FILE=/path/to/ca.pem" in out, out

        # The public agent's protocol works over WSS too.
        other = httpx.post(
            f"{tls_hub.url}/api/v1/servers/register",
            json={"name": "public", "registration_token": new_token(api, project_id)},
            verify=tls_hub.verify,
        )
        assert other.status_code == 200, other.text
        assert asyncio.run(public_agent_auth(tls_hub, other.json()["api_key"]))["type"] == "auth_ok"

        # The daemon given the wrong CA: a clear line per attempt, and it keeps retrying.
        daemon.kill(signal.SIGTERM)
        config["ca_file"] = str(wrong_ca)
        daemon.config.write_text(yaml.safe_dump(config))
        daemon.start()
        wait_sync(
            lambda: daemon.log.read_text().count("certificate verify failed") >= 2,
            30,
            "two refused attempts",
        )
        assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon must not exit"
        state = daemon_state(daemon)
        assert state is not None and state["state"] in ("backoff", "connecting"), state
        log = daemon.log.read_text()
        assert "Traceback" not in log, log[-3000:]
        assert "TLS to the hub at 127.0.0.1 failed: certificate verify failed:" in log
        assert "set `ca_file: /path/to/ca.pem` in the agent config" in log
        assert "reconnecting in" in log
    finally:
        tmux_on(socket, "kill-server")


def test_plain_websocket_to_another_machine_is_refused(daemon_factory: Any, tmp_path: Path) -> None:
    daemon: DaemonProcess = daemon_factory()
    settings: dict[str, Any] = {
        "hub_url": "http://10.0.0.1:1",
        "api_key": "orc_not_a_real_key",
        "server_id": "srv",
        "name": "far",
        "tmux_socket": f"orc-tls-{uuid.uuid4().hex[:10]}",
        "state_dir": str(tmp_path / "agent-state"),
    }
    daemon.config.parent.mkdir(parents=True)
    daemon.config.write_text(yaml.safe_dump(settings))
    daemon.config.chmod(0o600)
    for argv in (
        orchestratia("agent", "run", "--config", str(daemon.config)),
        [
            str(Path(orchestratia()[0]).parent / "orchestratia-agent"),
            "--config",
            str(daemon.config),
        ],
    ):
        result = subprocess.run(argv, env=daemon.env, capture_output=True, text=True, timeout=60)
        out = one_line_error(result)
        assert "refusing plain http:// / ws:// to 10.0.0.1" in out, out
        assert "set `allow_insecure: true` in the agent config" in out, out

    # The CLI and registration refuse it the same way, each naming its own switch.
    env = daemon.env | {"ORCHESTRATIA_HUB_URL": "http://10.0.0.1:1", "ORCHESTRATIA_API_KEY": "k"}
    out = one_line_error(cli(env, "status"))
    assert "refusing plain http:// / ws:// to 10.0.0.1" in out, out
    assert "set ORCHESTRATIA_ALLOW_INSECURE=1" in out, out
    token = encode_registration_token("http://10.0.0.1:1", "secret")
    out = one_line_error(daemon.register(token))
    assert "refusing plain http:// / ws:// to 10.0.0.1" in out and "--allow-insecure" in out, out

    # Allowed explicitly, the daemon runs and tries (a name that cannot resolve fails fast).
    settings.update(hub_url="http://hub.invalid:1", allow_insecure=True)
    daemon.config.write_text(yaml.safe_dump(settings))
    daemon.start()
    state = wait_sync(
        lambda: (s := daemon_state(daemon)) and s.get("last_error") and s, 30, "a failed attempt"
    )
    assert "cannot connect to ws://hub.invalid:1/ws/server" in state["last_error"], state
    assert daemon.proc is not None and daemon.proc.poll() is None
