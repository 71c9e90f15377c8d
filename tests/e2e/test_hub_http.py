"""The hub's HTTP edge as a real ``orchestratia hub serve`` process sees it: which forwarded
headers it believes, what its log keeps, who may read its files."""

from __future__ import annotations

import signal
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from orchestratia.hub.security import new_secret
from orchestratia.protocol.tokens import TokenKind
from tests.e2e.processes import ADMIN, PASSWORD, HubProcess, assert_hub_data_private

pytestmark = pytest.mark.e2e

# Two failures per address, and an account budget the test never reaches.
THROTTLED = {
    "ORCHESTRATIA_LOGIN_FAILURES_PER_IP": "2",
    "ORCHESTRATIA_LOGIN_FAILURES_PER_ACCOUNT": "100",
}


def _failed_logins(hub: HubProcess, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        return [
            client.post(
                "/api/v1/auth/login",
                json={"email": ADMIN, "password": "wrong"},
                headers={"X-Forwarded-For": address},
            ).status_code
            for address in forwarded_for
        ]


def _session_cookie_over_forwarded_https(hub: HubProcess) -> str:
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        res = client.post(
            "/api/v1/auth/login",
            json={"email": ADMIN, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert res.status_code == 200, res.text
    return next(c for c in res.headers.get_list("set-cookie") if c.startswith("orc_session="))


@pytest.mark.parametrize("hub_env", [THROTTLED], indirect=True)
def test_forwarded_headers_are_ignored_by_default(hub_process: HubProcess) -> None:
    """A client on loopback cannot reset its budget by making up addresses, nor claim https."""
    assert "Secure" not in _session_cookie_over_forwarded_https(hub_process)
    assert _failed_logins(hub_process, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [401, 401, 429]


@pytest.mark.parametrize(
    "hub_env",
    [THROTTLED | {"ORCHESTRATIA_TRUSTED_PROXIES": "192.0.2.7, 127.0.0.0/8"}],
    indirect=True,
)
def test_forwarded_headers_are_honoured_from_a_trusted_proxy(hub_process: HubProcess) -> None:
    """Behind a configured proxy each forwarded client has its own budget."""
    assert _failed_logins(hub_process, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [401, 401, 401]
    assert _failed_logins(hub_process, ["10.0.0.9"] * 3) == [401, 401, 429]
    assert "Secure" in _session_cookie_over_forwarded_https(hub_process)


def test_tokens_never_reach_the_hub_log(hub_process: HubProcess) -> None:
    """Share links (and any other token the hub issues) are masked in the access log."""
    tokens = {prefix: new_secret(prefix) for prefix in TokenKind}
    share = tokens[TokenKind.SHARE]
    with httpx.Client(base_url=hub_process.url, timeout=10) as client:
        assert client.get(f"/share/{share}").status_code == 404
        for token in tokens.values():
            client.get("/api/v1/health", params={"token": token})
    ws_url = hub_process.url.replace("http", "ws", 1)
    view = f"{ws_url}/ws/sessions/{uuid.uuid4()}/view?share={share}"
    with connect(view, proxy=None) as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    hub_process.kill(signal.SIGTERM)
    log = hub_process.log.read_text()
    assert "GET /share/orcsh_" in log and "/view?share=orcsh_" in log, log
    leaked = [token for prefix, token in tokens.items() if token.removeprefix(prefix) in log]
    assert leaked == [], log


def test_database_and_key_are_private(hub_process: HubProcess) -> None:
    """On a fresh data dir the hub creates its SQLite files (WAL ones too) and key for its user
    alone."""
    _failed_logins(hub_process, ["10.0.0.1"])  # a write, so the WAL files exist
    assert_hub_data_private(hub_process.data_dir)
