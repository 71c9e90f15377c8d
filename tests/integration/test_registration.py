"""Registration tokens, server registration, server keys and REST heartbeats (SPEC §2, §5, §10)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from orchestratia.hub.db.models import RegistrationToken, Server, ServerApiKey
from orchestratia.hub.security import sha256_hex
from orchestratia.protocol.tokens import decode_hub_url
from tests.integration.hub_setup import register_body, register_server, registration_token
from tests.integration.running_hub import RunningHub

SERVER_FIELDS = {"status", "last_seen", "system_info", "capabilities", "agent_version"}


async def _register(hub: RunningHub, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anon:
        return await anon.post("/api/v1/servers/register", json=body)


async def _heartbeat(
    hub: RunningHub, api_key: str | None, system_info: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {"X-API-Key": api_key} if api_key is not None else {}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anon:
        return await anon.post(
            "/api/v1/servers/heartbeat", json={"system_info": system_info or {}}, headers=headers
        )


async def _servers(admin: httpx.AsyncClient, project_id: str) -> list[dict[str, Any]]:
    res = await admin.get("/api/v1/servers", params={"project_id": project_id})
    assert res.status_code == 200, res.text
    rows: list[dict[str, Any]] = res.json()["servers"]
    return rows


def _row_values(row: Any) -> list[str]:
    return [str(v) for v in row._mapping.values() if v is not None]


async def test_token_carries_hub_url_and_install_command(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    res = await admin.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201, res.text
    body = res.json()
    assert set(body) == {"token", "expires_at", "install_command"}
    token: str = body["token"]
    assert token.startswith("orcreg_")
    encoded, dot, secret = token[len("orcreg_") :].partition(".")
    assert dot == "." and encoded and len(secret) >= 32
    assert "=" not in encoded  # base64url without padding
    assert decode_hub_url(token) == hub.url
    assert token in body["install_command"]
    expires = datetime.fromisoformat(body["expires_at"])
    expected = datetime.now(UTC) + timedelta(hours=hub.settings.registration_token_hours)
    assert abs((expires - expected).total_seconds()) < 60


async def test_register_returns_server_key_and_token_is_single_use(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = await registration_token(admin, project_id)
    first = await _register(hub, register_body(token))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["id"] and body["api_key"].startswith("orc_")
    assert body["project_id"] == project_id

    again = await _register(hub, register_body(token, machine_id="machine-2"))
    assert again.status_code == 401
    detail = again.json()
    assert set(detail) == {"detail"} and "token" in detail["detail"]
    assert token not in again.text
    # Neither a reused nor a made-up token created a server.
    garbage = await _register(hub, register_body("orcreg_bm9wZQ.not-a-real-secret"))
    assert garbage.status_code == 401 and set(garbage.json()) == {"detail"}
    assert [s["id"] for s in await _servers(admin, project_id)] == [body["id"]]


async def test_expired_token_is_refused(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = await registration_token(admin, project_id)
    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(RegistrationToken)
            .where(RegistrationToken.token_hash == sha256_hex(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()
    res = await _register(hub, register_body(token))
    assert res.status_code == 401
    assert "expired" in res.json()["detail"]
    assert await _servers(admin, project_id) == []


async def test_same_machine_reuses_row_and_rotates_key(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    first = await register_server(admin, project_id, machine_id="machine-7")
    assert (await _heartbeat(hub, first["api_key"])).status_code == 200

    token = await registration_token(admin, project_id)
    res = await _register(hub, register_body(token, "machine-7", name="renamed"))
    assert res.status_code == 200, res.text
    second = res.json()
    assert second["id"] == first["id"]
    assert second["api_key"] != first["api_key"]

    assert (await _heartbeat(hub, first["api_key"])).status_code == 401
    assert (await _heartbeat(hub, second["api_key"])).status_code == 200
    rows = await _servers(admin, project_id)
    assert [(s["id"], s["name"]) for s in rows] == [(first["id"], "renamed")]

    other = await register_server(admin, project_id, machine_id="machine-8")
    assert other["id"] != first["id"]


async def test_heartbeat_marks_online_and_stores_system_info(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    reg = await register_server(admin, project_id)
    [before] = await _servers(admin, project_id)
    assert before["status"] == "disconnected"

    started = datetime.now(UTC)
    info = {"cpu_percent": 99.5, "memory_percent": 1.0, "disk_percent": 2.0}
    res = await _heartbeat(hub, reg["api_key"], info)
    assert res.status_code == 200, res.text
    assert res.json() == {"status": "ok", "server_id": reg["id"]}

    [after] = await _servers(admin, project_id)
    assert after["status"] == "online"
    assert after["system_info"] == info
    last_seen = datetime.fromisoformat(after["last_seen"])
    assert started - timedelta(seconds=1) <= last_seen <= datetime.now(UTC)


async def test_heartbeat_without_a_valid_key_is_401(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    reg = await register_server(admin, project_id)
    for key in (None, "", "orc_not-a-key", reg["api_key"] + "x", "orcu_" + reg["api_key"]):
        res = await _heartbeat(hub, key, {"cpu_percent": 50})
        assert res.status_code == 401, (key, res.text)
        assert set(res.json()) == {"detail"}
    [row] = await _servers(admin, project_id)
    assert row["status"] == "disconnected"
    assert row["system_info"] != {"cpu_percent": 50}


async def test_server_listing_shows_liveness_fields(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = await registration_token(admin, project_id)
    res = await _register(
        hub, register_body(token, capabilities=["claude", "codex"], agent_version="0.20.1")
    )
    assert res.status_code == 200, res.text
    await _heartbeat(hub, res.json()["api_key"], {"cpu_percent": 3.0})
    [row] = await _servers(admin, project_id)
    assert set(row) >= SERVER_FIELDS
    assert row["status"] == "online"
    assert row["last_seen"] is not None
    assert row["system_info"] == {"cpu_percent": 3.0}
    assert row["capabilities"] == ["claude", "codex"]
    assert row["agent_version"] == "0.20.1"
    assert row["repos"] == {"api": "/srv/api"}
    assert row["hostname"] == "build-1.local" and row["os"] == "linux"


async def test_register_tolerates_unknown_fields_and_fills_in_ip(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = await registration_token(admin, project_id)
    body = register_body(token, future_field={"nested": True}, gpu_count=4)
    res = await _register(hub, body)
    assert res.status_code == 200, res.text
    [row] = await _servers(admin, project_id)
    assert row["ip"] == "127.0.0.1"  # the public agent sends 0.0.0.0; the socket tells the truth
    assert "future_field" not in row and "gpu_count" not in row

    token = await registration_token(admin, project_id)
    res = await _register(hub, register_body(token, "machine-2", ip="10.1.2.3"))
    assert res.status_code == 200, res.text
    by_id = {s["id"]: s for s in await _servers(admin, project_id)}
    assert by_id[res.json()["id"]]["ip"] == "10.1.2.3"


async def test_nul_inside_json_fields_is_stored_intact(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = await registration_token(admin, project_id)
    info = {"kernel": "6.1\x00-custom", "nested": {"k\x00": ["\x00"]}}
    res = await _register(hub, register_body(token, system_info=info))
    assert res.status_code == 200, res.text
    [row] = await _servers(admin, project_id)
    assert row["system_info"] == info


async def test_registration_token_is_stored_hashed(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = await registration_token(admin, project_id)
    secret = token.rsplit(".", 1)[1]
    async with hub.state.sessionmaker() as db:
        rows = (await db.execute(select(RegistrationToken.__table__))).all()
    [row] = rows
    assert row.token_hash == sha256_hex(token) != token
    assert all(secret not in value for value in _row_values(row))


async def test_server_key_is_stored_as_sha256(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    reg = await register_server(admin, project_id)
    key: str = reg["api_key"]
    async with hub.state.sessionmaker() as db:
        keys = (await db.execute(select(ServerApiKey.__table__))).all()
        servers = (await db.execute(select(Server.__table__))).all()
    [row] = keys
    assert row.key_hash == sha256_hex(key)
    assert len(row.key_hash) == 64 and int(row.key_hash, 16) >= 0
    secret_part = key[len("orc_") :]
    for stored in [*keys, *servers]:
        assert all(secret_part not in value for value in _row_values(stored))


def _dialog_token(page: str) -> str:
    found = re.search(r'id="registration-token">(orcreg_[^<]+)<', page)
    assert found is not None, page
    return found.group(1)


async def test_register_dialog_warns_of_a_loopback_hub_url_and_takes_another(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    dialog = f"/ui/projects/{project_id}/register-token"
    res = await admin.post(dialog)
    assert res.status_code == 200, res.text
    assert decode_hub_url(_dialog_token(res.text)) == hub.url  # 127.0.0.1: this machine only
    assert 'id="loopback-warning"' in res.text
    assert "ORCHESTRATIA_PUBLIC_URL" in res.text

    res = await admin.post(dialog, data={"hub_url": " https://hub.example.com:8443/ "})
    assert res.status_code == 200, res.text
    assert decode_hub_url(_dialog_token(res.text)) == "https://hub.example.com:8443"
    assert 'id="loopback-warning"' not in res.text

    bad_urls = ["ftp://hub.example.com", "hub.example.com", "http://", "http://h:99999",
                "http://user:pw@hub.example", "http://hub.example/?x=1", "http://h/#f"]  # fmt: skip
    for bad in bad_urls:
        res = await admin.post(dialog, data={"hub_url": bad})
        assert res.status_code == 422, (bad, res.text)
        assert "orcreg_" not in res.text, bad
        assert "Hub URL" in res.text, res.text
