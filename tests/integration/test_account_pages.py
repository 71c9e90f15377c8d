"""The account page and its second-factor partials, as the browser's htmx calls them: a login
cookie with its CSRF header, form fields, HTML answers, and the hub's sentences on errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest

from tests.integration.hub_setup import PASSWORD, create_admin
from tests.integration.running_hub import RunningHub


@pytest.fixture
async def browser(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """Alice logged in with a cookie, sending the CSRF header htmx sends."""
    await create_admin(hub, "alice@a.example", "tenant-a")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        res = await client.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
        assert res.status_code == 200, res.text
        client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        client.headers["HX-Request"] = "true"
        yield client


def secret_in(html: str) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert found, html
    return found.group(1)


async def test_set_up_and_turn_off_from_the_page(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/account")
    assert page.status_code == 200 and 'id="totp-enrol-form"' in page.text
    assert 'href="/account" class="active"' in page.text  # the Security tab
    enrolled = await browser.post("/ui/account/totp/enrol")
    assert enrolled.status_code == 200
    assert 'src="data:image/svg+xml' in enrolled.text
    secret = secret_in(enrolled.text)
    assert "A setup was started" in (await browser.get("/account")).text

    wrong = await browser.post("/ui/account/totp/confirm", data={"code": "000000"})
    assert wrong.status_code == 403 and wrong.json()["detail"].startswith("the code is wrong")
    on = await browser.post("/ui/account/totp/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert on.status_code == 200
    codes = re.search(r'id="recovery-codes">([^<]+)<', on.text)
    assert codes and len(codes.group(1).split()) == 10
    page = await browser.get("/account")
    assert re.search(r'id="recovery-left">10<', page.text)

    fresh = await browser.post(
        "/ui/account/totp/recovery-codes", data={"code": codes.group(1).split()[0]}
    )
    assert fresh.status_code == 200 and 'id="recovery-codes"' in fresh.text
    off = await browser.post("/ui/account/totp/disable", data={"code": "000000"})
    assert off.status_code == 403
    new_code = re.search(r'id="recovery-codes">([^<]+)<', fresh.text)
    assert new_code
    off = await browser.post(
        "/ui/account/totp/disable", data={"code": new_code.group(1).split()[1]}
    )
    assert off.status_code == 200 and 'id="totp-enrol-form"' in off.text


async def test_partials_need_the_csrf_header_and_good_fields(browser: httpx.AsyncClient) -> None:
    del browser.headers["X-CSRF-Token"]
    assert (await browser.post("/ui/account/totp/enrol")).status_code == 403
    browser.headers["X-CSRF-Token"] = "forged"
    assert (await browser.post("/ui/account/totp/enrol")).status_code == 403


async def test_bad_form_fields_are_precise_4xx(hub: RunningHub, browser: httpx.AsyncClient) -> None:
    for data in ({}, {"code": "1"}, {"code": "x" * 33}, {"code": "12;456"}):
        res = await browser.post("/ui/account/totp/confirm", data=data)
        assert res.status_code == 422, res.text
        assert res.json()["detail"][0]["message"].startswith("Code ")


async def test_the_page_wants_a_login(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        page = await anon.get("/account")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert (await anon.post("/ui/account/totp/enrol")).status_code == 401
