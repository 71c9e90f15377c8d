"""Invites end to end (issue 13, acceptance 1): an owner invites by email on the Team page, the mail
arrives at a real SMTP server, its link opened in Chromium sets a password and lands the new
member on the project; the link opened again is refused, and so is an expired one."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.e2e.browser_pages import log_in, open_page
from tests.e2e.processes import HubProcess, api_client
from tests.mail_catcher import MailCatcher, invite_link, mail_catcher
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NEWCOMER = "newcomer@e2e.example"
NEW_PASSWORD = "a-brand-new-password"
# 3.6 s: long enough to open the link once, short enough to watch it expire.
SHORT_TTL = {"ORCHESTRATIA_INVITE_TTL_HOURS": "0.001"}
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1400, "height": 900},
    "phone": {"width": 390, "height": 844},
}


def shoot(page: Page, path: Path, name: str) -> None:
    """Desktop and phone screenshots of the page as it is, for a person to look at; at phone width
    nothing may stick out sideways."""
    for label, size in SIZES.items():
        page.set_viewport_size(size)
        page.screenshot(path=path / f"{name}-{label}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {label} screen"
    page.set_viewport_size(SIZES["desktop"])


def admin_with_project(hub: HubProcess, name: str) -> tuple[httpx.Client, str]:
    """The admin's API client (closed with the hub) and a new project's id."""
    api = api_client(hub)
    hub.closing.append(api)
    res = api.post("/api/v1/projects", json={"name": name})
    assert res.status_code == 201, res.text
    return api, res.json()["id"]


def invite_on_team_page(page: Page, hub: HubProcess, pid: str) -> None:
    page.goto(f"{hub.url}/team?project_id={pid}")
    page.fill("#invite-email", NEWCOMER)
    page.select_option("#invite-role", "member")
    page.click("#invite-submit")


def open_link(browser: Browser, link: str) -> Page:
    page = open_page(browser)
    page.goto(link)
    return page


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with mail_catcher() as running:
        yield running


def test_an_invite_by_mail_makes_a_member(
    browser: Browser, hub_process: HubProcess, catcher: MailCatcher, tmp_path: Path
) -> None:
    api, pid = admin_with_project(hub_process, "launch")
    assert api.put("/api/v1/settings/mail", json=catcher.settings()).status_code == 200

    owner = open_page(browser)
    log_in(owner, hub_process)
    invite_on_team_page(owner, hub_process, pid)
    expect(owner.locator("#invite-result-text")).to_have_text(
        f"Invite mailed to {NEWCOMER} (member)."
    )
    expect(owner.locator("#invite-link-box")).to_be_hidden()
    expect(owner.locator("#invites-table")).to_contain_text(NEWCOMER)
    shoot(owner, tmp_path, "team")
    owner.click(".admin-tabs a:has-text('Mail')")
    owner.wait_for_url(f"{hub_process.url}/settings/mail")
    expect(owner.locator("input[name=host]")).to_have_value(catcher.host)
    shoot(owner, tmp_path, "mail-settings")

    mail = wait_sync(lambda: catcher.messages[:1], timeout=10, message="the invite mail")[0]
    assert mail["To"] == NEWCOMER and mail["Subject"] == "Invite to launch on Orchestratia"
    link = invite_link(mail)
    assert link.startswith(hub_process.url + "/invite/orcinv_")

    newcomer = open_link(browser, link)
    expect(newcomer.locator("h1")).to_have_text("Join launch")
    expect(newcomer.locator("#invite-page")).to_contain_text("as member")
    shoot(newcomer, tmp_path, "invite")
    newcomer.fill("input[name=password]", NEW_PASSWORD)
    newcomer.fill("input[name=repeat]", NEW_PASSWORD + "x")
    newcomer.click("#accept-form button[type=submit]")
    expect(newcomer.locator("#accept-error")).to_have_text("The two passwords differ.")
    newcomer.fill("input[name=repeat]", NEW_PASSWORD)
    newcomer.click("#accept-form button[type=submit]")
    newcomer.wait_for_url(f"{hub_process.url}/tasks?project_id={pid}")
    expect(newcomer.locator(".user")).to_contain_text(NEWCOMER)
    expect(newcomer.locator("#project-switcher option:checked")).to_have_text("launch")
    listed = newcomer.request.get(f"{hub_process.url}/api/v1/projects").json()
    assert [(p["name"], p["role"]) for p in listed["projects"]] == [("launch", "member")]

    # The member sees the team read-only; the owner sees the newcomer among the members.
    newcomer.goto(f"{hub_process.url}/team")
    expect(newcomer.locator("#members-table")).to_contain_text(NEWCOMER)
    expect(newcomer.locator("select[data-member-role]")).to_have_count(0)
    expect(newcomer.locator("#invite-form")).to_have_count(0)
    owner.goto(f"{hub_process.url}/team?project_id={pid}")
    expect(owner.locator(f"tr[data-email='{NEWCOMER}'] select")).to_have_value("member")
    expect(owner.locator("#no-invites")).to_be_visible()

    # The same link again: refused, in a sentence.
    again = open_link(browser, link)
    expect(again.locator("#invite-problem")).to_contain_text("already used")
    expect(again.locator("#accept-form")).to_have_count(0)
    shoot(again, tmp_path, "invite-used")

    # The owner makes the newcomer a viewer, then removes them while they watch the board: its
    # live feed ends at once.
    newcomer.goto(f"{hub_process.url}/tasks?project_id={pid}")
    expect(newcomer.locator("#live-indicator")).to_have_text("live")
    row = owner.locator(f"tr[data-email='{NEWCOMER}']")
    row.locator("select").select_option("viewer")
    wait_sync(
        lambda: (
            newcomer.request.get(f"{hub_process.url}/api/v1/projects/{pid}").json()["role"]
            == "viewer"
        ),
        message="the newcomer to be a viewer",
    )
    owner.once("dialog", lambda dialog: dialog.accept())
    row.locator("[data-member-remove]").click()
    expect(row).to_have_count(0)
    expect(newcomer.locator("#live-indicator")).to_have_text("no access", timeout=1_000)
    gone = newcomer.request.get(f"{hub_process.url}/api/v1/projects/{pid}")
    assert gone.status == 404


@pytest.mark.parametrize("hub_env", [SHORT_TTL], indirect=True)
def test_an_unmailed_invite_shows_its_link_which_expires(
    browser: Browser, hub_process: HubProcess, tmp_path: Path
) -> None:
    _api, pid = admin_with_project(hub_process, "launch")
    owner = open_page(browser)
    log_in(owner, hub_process)
    invite_on_team_page(owner, hub_process, pid)
    expect(owner.locator("#invite-mail-error")).to_contain_text("No mail server is configured")
    expect(owner.locator("#invite-link")).to_have_text(re.compile(r"/invite/orcinv_"))
    created = time.monotonic()
    link = owner.locator("#invite-link").inner_text().strip()
    expect(owner.locator("#invite-copy")).to_be_visible()
    shoot(owner, tmp_path, "team-link")

    # Still valid at first, then expired: the page says so and offers nothing to submit.
    fresh = open_link(browser, link)
    expect(fresh.locator("#accept-form")).to_be_visible()
    time.sleep(max(0.0, created + 4.0 - time.monotonic()))
    expired = open_link(browser, link)
    expect(expired.locator("#invite-problem")).to_contain_text("expired")
    expect(expired.locator("#accept-form")).to_have_count(0)
    # Submitting the page opened in time is refused by the hub too.
    fresh.fill("input[name=password]", NEW_PASSWORD)
    fresh.fill("input[name=repeat]", NEW_PASSWORD)
    fresh.click("#accept-form button[type=submit]")
    expect(fresh.locator("#accept-error")).to_contain_text("expired")
    shoot(expired, tmp_path, "invite-expired")


def test_an_existing_user_logs_in_and_joins(
    browser: Browser, hub_process: HubProcess, tmp_path: Path
) -> None:
    api, first = admin_with_project(hub_process, "first")
    second = api.post("/api/v1/projects", json={"name": "second"}).json()["id"]
    for pid in (first, second):
        res = api.post(
            f"/api/v1/projects/{pid}/invites", json={"email": NEWCOMER, "role": "viewer"}
        )
        assert res.status_code == 201, res.text
        link = res.json()["link"]
        if pid == first:  # the account is made with the first invite
            token = link.rsplit("/invite/", 1)[1]
            body = {"token": token, "password": NEW_PASSWORD}
            assert httpx.post(f"{hub_process.url}/api/v1/invites/accept", json=body).is_success

    page = open_link(browser, link)
    expect(page.locator("h1")).to_have_text("Join second")
    page.click("#login-first")
    page.fill("#login-form input[name=email]", NEWCOMER)
    page.fill("#login-form input[name=password]", NEW_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(link)  # back on the invite, now logged in as the invited address
    shoot(page, tmp_path, "invite-join")
    page.click("#accept-form button[type=submit]")
    page.wait_for_url(f"{hub_process.url}/tasks?project_id={second}")
    listed = page.request.get(f"{hub_process.url}/api/v1/projects").json()["projects"]
    assert sorted((p["name"], p["role"]) for p in listed) == [
        ("first", "viewer"),
        ("second", "viewer"),
    ]
