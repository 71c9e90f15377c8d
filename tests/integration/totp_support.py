"""Turning on the second factor and logging in with it, through the API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pyotp

from tests.integration.hub_setup import PASSWORD


@dataclass
class Enabled:
    secret: str
    recovery_codes: list[str]
    # The code that turned it on: its step is spent (the current one, or one before by now).
    confirmed_with: str

    def next_code(self) -> str:
        """The code for the step after the current one: within the hub's one step of drift,
        and not yet spent (a login right after another would need to wait for the next step)."""
        return pyotp.TOTP(self.secret).at(time.time() + 30)


async def enable(client: httpx.AsyncClient) -> Enabled:
    enrolled = await client.post("/api/v1/auth/totp/enrol")
    assert enrolled.status_code == 200, enrolled.text
    secret = enrolled.json()["secret"]
    assert enrolled.json()["otpauth_uri"].startswith("otpauth://totp/Orchestratia:")
    code = pyotp.TOTP(secret).now()
    confirmed = await client.post("/api/v1/auth/totp/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    return Enabled(secret, confirmed.json()["codes"], code)


async def challenge_for(client: httpx.AsyncClient, email: str) -> str:
    res = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["second_factor_required"] is True and "access_token" not in body
    assert "set-cookie" not in res.headers
    challenge: str = body["challenge"]
    assert challenge.startswith("orcmfa_")
    return challenge


async def second_step(
    client: httpx.AsyncClient, challenge: str, code: str, **headers: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login/second-factor",
        json={"challenge": challenge, "code": code},
        headers=headers,
    )
