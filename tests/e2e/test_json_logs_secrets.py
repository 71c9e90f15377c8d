"""Acceptance 5: nothing secret in JSON logs over a full run. A hub and a daemon log JSON lines
(``ORCHESTRATIA_LOG_FORMAT=json``) while the test creates and uses a password and its login
(bearer and cookie), a user API key, a registration token, a server key, a session token, a
share link (in a WebSocket query string), an invite token mailed over SMTP with a password, the
metrics token, a TOTP secret and recovery codes, and a webhook signing secret and its rotation.
Then every line must parse, access lines must carry request ids, and no secret, nor the secret
part after its prefix, may appear in either log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import yaml
from websockets.sync.client import connect

from tests.e2e.metrics_support import scrape, session_token
from tests.e2e.processes import PASSWORD, HubProcess
from tests.e2e.terminal_support import Rig, make_rig
from tests.mail_catcher import invite_link, mail_catcher
from tests.support import wait_sync
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.e2e
METRICS_TOKEN = "metrics-token-e2e-5f1d2c3b4a"
SMTP_PASSWORD = "smtp-pass-9f8e7d6c5b"
REQUEST_ID = "trace-abc.123_XYZ"
JSON_HUB = {
    "ORCHESTRATIA_LOG_FORMAT": "json",
    "ORCHESTRATIA_METRICS_TOKEN": METRICS_TOKEN,
    "ORCHESTRATIA_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on 127.0.0.1
}


def _variants(secret: str) -> set[str]:
    """The secret, the part after its prefix, and the part after a registration token's dot."""
    found = {secret}
    if "_" in secret[:8]:
        found.add(secret.split("_", 1)[1])
    if "." in secret:
        found.add(secret.rsplit(".", 1)[1])
    return {s for s in found if len(s) >= 8}


def _json_lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path.name}:{number} is not JSON: {line!r}") from None
        assert isinstance(entry, dict), line
        assert {"ts", "level", "logger", "msg", "request_id"} <= set(entry), line
        entries.append(entry)
    return entries


def _use_the_secrets(rig: Rig, secrets: list[str]) -> None:
    api, hub = rig.api, rig.hub
    with httpx.Client(base_url=hub.url, timeout=10) as browser:
        login = browser.post(
            "/api/v1/auth/login", json={"email": "admin@e2e.example", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        cookie = browser.cookies["orc_session"]
        secrets += [cookie, login.json()["access_token"], login.json()["csrf_token"]]
        assert browser.get("/api/v1/auth/me").status_code == 200
    key = api.post("/api/v1/api-keys", json={"name": "ci", "scopes": ["tasks:read"]})
    assert key.status_code == 201, key.text
    secrets.append(key.json()["key"])
    with httpx.Client(base_url=hub.url, timeout=10) as by_key:
        by_key.headers["Authorization"] = f"Bearer {key.json()['key']}"
        assert by_key.get("/api/v1/projects").status_code == 200
    session = rig.start("quiet", "exec cat")
    secrets.append(session_token(rig, session["tmux_name"]))
    share = api.post(f"/api/v1/sessions/{session['id']}/share", json={})
    assert share.status_code == 201, share.text
    secrets.append(share.json()["token"])
    ws_url = "ws" + hub.url[4:] + f"/ws/sessions/{session['id']}/view?share={share.json()['token']}"
    with connect(ws_url, additional_headers={"Origin": hub.url}) as viewer:
        viewer.send(json.dumps({"type": "join"}))
        viewer.recv(timeout=10)
    assert httpx.get(f"{hub.url}/share/{share.json()['token']}").status_code == 200
    with mail_catcher() as catcher:
        mail = catcher.settings(username="hub", password=SMTP_PASSWORD)
        assert api.put("/api/v1/settings/mail", json=mail).status_code == 200
        invite = api.post(
            f"/api/v1/projects/{rig.project_id}/invites",
            json={"email": "bob@e2e.example", "role": "member"},
        )
        assert invite.status_code == 201, invite.text
        message = wait_sync(lambda: catcher.messages, 20, "the invite mail")[0]
        assert catcher.logins == [("hub", SMTP_PASSWORD)]
    invite_token = invite_link(message).rsplit("/", 1)[1]
    secrets.append(invite_token)
    assert api.get(f"/api/v1/invites/{invite_token}").status_code == 200
    assert "orchestratia_" in scrape(f"{hub.url}/metrics", METRICS_TOKEN)
    enrol = api.post("/api/v1/auth/totp/enrol")
    assert enrol.status_code == 200, enrol.text
    secret = enrol.json()["secret"]
    secrets.append(secret)
    confirmed = api.post("/api/v1/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    secrets += confirmed.json()["codes"]
    _webhook_secrets(api, rig.project_id, secrets)


def _webhook_secrets(api: httpx.Client, project_id: str, secrets: list[str]) -> None:
    """A webhook endpoint's signing secret, rotated, both used to sign a test event."""
    with webhook_receiver() as receiver:
        made = api.post("/api/v1/webhooks", json={"project_id": project_id, "url": receiver.url})
        assert made.status_code == 201, made.text
        secrets.append(made.json()["secret"])
        hook = made.json()["id"]
        rotated = api.post(f"/api/v1/webhooks/{hook}/rotate-secret", json={})
        assert rotated.status_code == 200, rotated.text
        secrets.append(rotated.json()["secret"])
        assert api.post(f"/api/v1/webhooks/{hook}/test").status_code in (200, 201, 202)
        wait_sync(lambda: receiver.received, 20, "the signed test event")


@pytest.mark.parametrize("hub_env", [JSON_HUB], indirect=True)
def test_json_logs_carry_request_ids_and_no_secret(
    hub_process: HubProcess, daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = daemon_factory()
    daemon.env["ORCHESTRATIA_LOG_FORMAT"] = "json"
    rig = make_rig(hub_process, daemon, tmp_path / "rig")
    hub_process.closing.append(rig.api)
    secrets = [PASSWORD, SMTP_PASSWORD, METRICS_TOKEN, rig.token, rig.registration_token]
    secrets.append(yaml.safe_load(daemon.config.read_text())["api_key"])
    traced = rig.api.get("/api/v1/projects", headers={"X-Request-ID": REQUEST_ID})
    assert traced.headers["x-request-id"] == REQUEST_ID
    forged = rig.api.get("/api/v1/projects", headers={"X-Request-ID": 'x" forged=1'})
    assert len(forged.headers["x-request-id"]) == 32  # replaced, not echoed

    _use_the_secrets(rig, secrets)
    daemon.kill(15)  # its shutdown lines too

    hub_log, daemon_log = _json_lines(hub_process.log), _json_lines(daemon.log)
    access = [e for e in hub_log if e["logger"] == "uvicorn.access"]
    assert len(access) > 10
    assert all(e["request_id"] for e in access), [e for e in access if not e["request_id"]][:3]
    assert any(e["request_id"] == REQUEST_ID and e["path"] == "/api/v1/projects" for e in access)
    assert any("orcsh_***" in e["msg"] for e in hub_log), "the share link's socket was logged"
    assert any(e["logger"].startswith("orchestratia.agent") for e in daemon_log)
    text = hub_process.log.read_text() + daemon.log.read_text()
    leaked = sorted({v for s in secrets for v in _variants(s) if v in text})
    assert leaked == [], f"secrets in the logs: {leaked}"
