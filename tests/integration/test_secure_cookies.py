"""Login cookies carry ``Secure`` when the browser came over HTTPS: through a proxy the hub
trusts (``trusted_proxies``), or by the configured https public URL; a forwarded header from
anyone else changes nothing. (Direct HTTPS: tests/e2e/test_tls.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.hub_setup import PASSWORD, create_admin
from tests.integration.running_hub import make_settings, serving

EMAIL = "alice@a.example"
FROM_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


async def login_cookies(
    tmp_path: Path, database_url: str, headers: dict[str, str], **settings: Any
) -> list[str]:
    async with serving(make_settings(database_url, tmp_path / "data", **settings)) as hub:
        await create_admin(hub, EMAIL, "tenant-a")
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
            res = await client.post(
                "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, headers=headers
            )
    assert res.status_code == 200, res.text
    cookies = res.headers.get_list("set-cookie")
    assert len(cookies) == 2, cookies
    return cookies


def secure(cookies: list[str]) -> bool:
    flags = {"; Secure" in c for c in cookies}
    assert len(flags) == 1, cookies  # both or neither
    return flags.pop()


@pytest.mark.parametrize(
    ("headers", "settings", "expected"),
    [
        pytest.param({}, {}, False, id="plain-http"),
        pytest.param(FROM_PROXY, {}, False, id="forwarded-from-an-untrusted-client"),
        pytest.param(FROM_PROXY, {"trusted_proxies": ["127.0.0.1"]}, True, id="trusted-proxy"),
        pytest.param({}, {"trusted_proxies": ["127.0.0.1"]}, False, id="proxy-said-http"),
        pytest.param({}, {"public_url": "https://hub.example.com"}, True, id="https-public-url"),
        pytest.param(
            FROM_PROXY,
            {"trusted_proxies": ["127.0.0.1"], "cookie_secure": False},
            False,
            id="operator-override",
        ),
    ],
)
async def test_secure_flag_follows_the_scheme_the_browser_used(
    tmp_path: Path,
    database_url: str,
    headers: dict[str, str],
    settings: dict[str, Any],
    expected: bool,
) -> None:
    cookies = await login_cookies(tmp_path, database_url, headers, **settings)
    assert secure(cookies) is expected
