"""Registration against a mocked hub transport: body shape, errors made readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestratia import __version__
from orchestratia.agent.link.registration import RegistrationError, register
from orchestratia.protocol.tokens import encode_registration_token

HUB = "https://hub.example.com"
TOKEN = encode_registration_token(HUB, "s3cret")


def transport(status: int, body: Any, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


async def test_success_returns_a_config_for_the_hub(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    reply = {"id": "srv_9", "api_key": "orc_key", "name": "box", "project_id": "prj_1"}
    config = await register(
        TOKEN,
        repos={"api": "/srv/api"},
        config_path=tmp_path / "agent.yaml",
        transport=transport(201, reply, seen),
    )
    assert (config.hub_url, config.server_id, config.api_key, config.name) == (
        HUB,
        "srv_9",
        "orc_key",
        "box",
    )
    assert config.repos == {"api": "/srv/api"}
    [request] = seen
    assert str(request.url) == f"{HUB}/api/v1/servers/register"
    body = json.loads(request.content)
    assert body["registration_token"] == TOKEN
    assert body["name"] == body["hostname"] != ""
    assert body["agent_version"] == __version__
    assert body["repos"] == {"api": "/srv/api"}
    assert isinstance(body["capabilities"], list)
    assert body["machine_id"]
    assert "memory_total" in body["system_info"]


async def test_explicit_name_wins(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    reply = {"id": "s", "api_key": "k", "name": "custom", "project_id": "p"}
    await register(
        TOKEN, name="custom", config_path=tmp_path / "a.yaml", transport=transport(201, reply, seen)
    )
    assert json.loads(seen[0].content)["name"] == "custom"


async def test_401_carries_the_hubs_detail(tmp_path: Path) -> None:
    refused = transport(401, {"detail": "registration token expired"}, [])
    with pytest.raises(RegistrationError, match="registration token expired"):
        await register(TOKEN, config_path=tmp_path / "a.yaml", transport=refused)


async def test_other_errors_name_the_status(tmp_path: Path) -> None:
    failing = transport(422, {"detail": [{"msg": "name too long"}]}, [])
    with pytest.raises(RegistrationError, match=r"HTTP 422: name too long"):
        await register(TOKEN, config_path=tmp_path / "a.yaml", transport=failing)


async def test_unexpected_reply_is_an_error(tmp_path: Path) -> None:
    odd = transport(200, {"hello": "world"}, [])
    with pytest.raises(RegistrationError, match="unexpected registration reply"):
        await register(TOKEN, config_path=tmp_path / "a.yaml", transport=odd)


async def test_network_failure_is_a_clear_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RegistrationError, match=f"cannot reach hub at {HUB}"):
        await register(
            TOKEN, config_path=tmp_path / "a.yaml", transport=httpx.MockTransport(refuse)
        )


async def test_timeout_is_a_clear_error(tmp_path: Path) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(RegistrationError, match="did not answer within 3s"):
        await register(
            TOKEN,
            http_timeout=3,
            config_path=tmp_path / "a.yaml",
            transport=httpx.MockTransport(slow),
        )


@pytest.mark.parametrize("token", ["", "orc_nope", "orcreg_!!!.x", "orcreg_.secret"])
async def test_malformed_token(token: str) -> None:
    with pytest.raises(RegistrationError, match="invalid registration token"):
        await register(token)
