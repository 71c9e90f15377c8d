"""One-time registration: trade a registration token for a server id and key."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from orchestratia import __version__
from orchestratia.agent.capabilities import detect_capabilities
from orchestratia.agent.config import AgentConfig, default_config_path
from orchestratia.agent.link.hub_tls import (
    HubTlsError,
    certificate_error,
    certificate_message,
    check_plain_transport,
    client_context,
)
from orchestratia.agent.sysinfo import (
    collect_system_info,
    mac_address,
    machine_id,
    os_description,
    primary_ip,
)
from orchestratia.protocol.rest import RegisterRequest, RegisterResponse
from orchestratia.protocol.tokens import MalformedToken, decode_hub_url

REGISTER_PATH = "/api/v1/servers/register"


class RegistrationError(Exception):
    """Registration failed; the message is fit to print as the CLI's one-line error."""


async def register(
    token: str,
    name: str | None = None,
    repos: dict[str, str] | None = None,
    http_timeout: float = 10,
    *,
    config_path: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    ca_file: Path | None = None,
    allow_insecure: bool = False,
) -> AgentConfig:
    """Register this machine with the hub named inside ``token`` and return the new config.

    Does not save it: the caller decides where (``AgentConfig.save``). ``config_path`` only locates
    the fallback machine id; ``transport`` lets tests stand in for the network. ``ca_file`` and
    ``allow_insecure`` are how to reach this hub (see ``hub_tls``), kept in the new config.
    Raises RegistrationError for a malformed or refused token, a network failure or a reply
    that is not a registration.
    """
    try:
        hub_url = decode_hub_url(token.strip()).rstrip("/")
    except MalformedToken as exc:
        raise RegistrationError(f"invalid registration token: {exc}") from exc
    try:
        check_plain_transport(hub_url, allow_insecure, "pass --allow-insecure")
        verify = client_context(ca_file)
    except HubTlsError as exc:
        raise RegistrationError(str(exc)) from None
    fallback_dir = (config_path or default_config_path()).parent
    # psutil, DNS and file reads can block briefly; keep the event loop free.
    facts = await asyncio.to_thread(_machine_facts, fallback_dir)
    body = RegisterRequest(
        name=name or facts["hostname"] or "server",
        registration_token=token.strip(),
        repos=dict(repos or {}),
        agent_version=__version__,
        **facts,
    )
    url = hub_url + REGISTER_PATH
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(http_timeout), transport=transport, verify=verify
        ) as client:
            response = await client.post(url, json=body.model_dump(mode="json"))
    except httpx.TimeoutException as exc:
        raise RegistrationError(
            f"hub at {hub_url} did not answer within {http_timeout:g}s"
        ) from exc
    except httpx.HTTPError as exc:
        error = certificate_error(exc)
        if error is not None:
            fix = "pass --ca-file /path/to/ca.pem"
            raise RegistrationError(certificate_message(hub_url, error, fix)) from exc
        raise RegistrationError(f"cannot reach hub at {hub_url}: {exc}") from exc
    if response.status_code == 401:
        raise RegistrationError(f"registration refused: {_detail(response)}")
    if response.status_code >= 400:
        raise RegistrationError(
            f"hub at {hub_url} answered HTTP {response.status_code}: {_detail(response)}"
        )
    try:
        reply = RegisterResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise RegistrationError(f"hub at {hub_url} sent an unexpected registration reply") from exc
    return AgentConfig(
        hub_url=hub_url,
        api_key=reply.api_key,
        server_id=reply.id,
        name=reply.name,
        repos=body.repos,
        ca_file=ca_file,
        allow_insecure=allow_insecure,
    )


def _machine_facts(fallback_dir: Path) -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "ip": primary_ip(),
        "os": os_description(),
        "system_info": collect_system_info(),
        "machine_id": machine_id(fallback_dir),
        "mac_address": mac_address(),
        "capabilities": detect_capabilities(),
    }


def _detail(response: httpx.Response) -> str:
    # FastAPI puts a string in ``detail`` for our errors and a list for 422s.
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    return response.reason_phrase
