"""Browser notifications for the inbox (issue 14, build 3 and acceptance 1), in headless Chromium
with the permission granted: the dashboard is an installable app (manifest, service worker), a
tool call a rule sent to ``ask`` pops up a notification naming the session and the command with
Approve and Deny, Approve applies the decision once (a second click is the same decision), and
with the user's setting off nothing pops up."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Worker, expect

from tests.e2e.browser_pages import UI_TIMEOUT_MS, log_in, submit_login
from tests.e2e.hitl_support import SESSION, Rig
from tests.e2e.processes import PASSWORD
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)
VIEWER = "vera@e2e.example"

SHOWN = """async () => (await (await navigator.serviceWorker.ready).getNotifications()).map(
  (n) => ({title: n.title, body: n.body, tag: n.tag,
           actions: n.actions.map((a) => a.title), data: n.data}))"""

ANNOUNCED = """() => Object.keys(localStorage)
  .filter((k) => k.startsWith("orchestratia-notified:"))
  .flatMap((k) => JSON.parse(localStorage.getItem(k)).keys)"""


def shown(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(SHOWN)
    return found


def announced(page: Page) -> list[str]:
    keys: list[str] = page.evaluate(ANNOUNCED)
    return keys


def wait_announced(page: Page, approval_id: str) -> None:
    """Until the notifier has seen the item (whether or not it showed it)."""
    wait_sync(
        lambda: any(k.startswith(f"tool_approval:{approval_id}:") for k in announced(page)),
        UI_TIMEOUT_MS / 1000,
        f"the notifier saw {approval_id}",
    )


def wait_shown(page: Page) -> list[dict[str, Any]]:
    return wait_sync(lambda: shown(page) or None, UI_TIMEOUT_MS / 1000, "a notification")


def service_worker(page: Page) -> Worker:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    workers = page.context.service_workers
    if not workers:
        workers = [page.context.wait_for_event("serviceworker")]
    return workers[0]


def viewer_page(browser: Browser, hitl: Rig) -> Page:
    """A viewer of the rig's project (invited, joined), logged in with notifications allowed."""
    made = hitl.api.post(
        f"/api/v1/projects/{hitl.project_id}/invites",
        json={"email": VIEWER, "role": "viewer"},
    )
    assert made.status_code == 201, made.text
    token = made.json()["link"].rsplit("/", 1)[1]
    joined = hitl.api.post("/api/v1/invites/accept", json={"token": token, "password": PASSWORD})
    assert joined.status_code == 200, joined.text
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=hitl.hub.url)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    submit_login(page, hitl.hub, VIEWER)
    page.wait_for_url(f"{hitl.hub.url}/overview")
    service_worker(page)
    return page


def test_the_dashboard_is_an_installable_app(browser: Browser, rig: Rig) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{rig.hub.url}/login")
    manifest = page.locator('link[rel="manifest"]')
    assert manifest.get_attribute("href") == "/manifest.webmanifest"
    res = page.request.get(f"{rig.hub.url}/manifest.webmanifest")
    assert res.headers["content-type"].startswith("application/manifest+json")
    body = res.json()
    assert body["start_url"] == "/" and body["display"] == "standalone"
    assert {i["sizes"] for i in body["icons"]} >= {"192x192", "512x512"}
    for icon in body["icons"]:
        assert page.request.get(f"{rig.hub.url}{icon['src']}").ok
    sw = page.request.get(f"{rig.hub.url}/sw.js")
    assert sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/"
    assert "worker-src 'self'" in sw.headers["content-security-policy"]
    worker = service_worker(page)
    assert worker.url == f"{rig.hub.url}/sw.js"
    # Only the public offline files are cached, never a page or an API reply.
    cached = worker.evaluate(
        """async () => (await Promise.all((await caches.keys()).map(
             async (name) => (await (await caches.open(name)).keys()).map((r) => r.url))))
           .flat()"""
    )
    assert {re.sub(r"^https?://[^/]+", "", u) for u in cached} == {
        "/static/offline.html", "/static/app.css", "/static/favicon.svg", "/static/icon-192.png"
    }  # fmt: skip

    # The browser is asked only when the person clicks "Turn on notifications".
    log_in(page, rig.hub)
    page.goto(f"{rig.hub.url}/account")
    ask = page.locator("#notify-permission")
    expect(ask).to_be_visible()
    assert page.evaluate("Notification.permission") == "default"
    page.context.grant_permissions(["notifications"], origin=rig.hub.url)
    ask.click()
    expect(ask).to_be_hidden()
    expect(page.locator("#notify-state")).to_have_text("This browser may show notifications.")


def test_inbox_items_notify_with_actions_unless_switched_off(
    browser: Browser,
    rig: Rig,
) -> None:
    # A viewer cannot answer, so is never called.
    viewer = viewer_page(browser, rig)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["notifications"], origin=rig.hub.url)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    log_in(page, rig.hub)
    page.goto(f"{rig.hub.url}/account")
    expect(page.locator("#notify-toggle")).to_be_checked()
    expect(page.locator("#notify-state")).to_have_text("This browser may show notifications.")
    expect(page.locator("#notify-permission")).to_be_hidden()
    worker = service_worker(page)
    # A second tab of the same login: between them, one notification per item.
    other = context.new_page()
    other.goto(f"{rig.hub.url}/fleet")
    first_look = (
        "() => Object.keys(localStorage).some((k) => k.startsWith('orchestratia-notified:'))"
    )
    wait_sync(lambda: page.evaluate(first_look), UI_TIMEOUT_MS / 1000, "the notifier's first look")

    asked = rig.ask("git push origin main")
    [note] = wait_shown(page)
    wait_announced(page, asked)
    assert note["title"] == f"{SESSION} asks to use Bash"
    assert note["body"] == "git push origin main"
    assert note["actions"] == ["Approve", "Deny"]
    assert note["data"]["url"] == f"/inbox#inbox-tool_approval-{asked}"

    # Approve, as the notification's button does; a second click sends the same decision.
    answer = "async (action) => answer((await self.registration.getNotifications())[0], action)"
    worker.evaluate(answer, "approve")
    assert rig.approval(asked)["status"] == "approved"
    assert shown(page) == []
    assert rig.audited("inbox.decided", asked) == 1

    # Switched off on the Security page: the next ask is seen but not shown.
    with page.expect_response("**/api/v1/auth/preferences") as put:
        page.locator("#notify-toggle").uncheck()
    assert put.value.ok
    quiet = rig.ask("git push --force")
    wait_announced(page, quiet)
    assert shown(page) == []

    # On again: what arrives from now on is shown (and only that, in one tab).
    with page.expect_response("**/api/v1/auth/preferences") as put:
        page.locator("#notify-toggle").check()
    assert put.value.ok
    loud = rig.ask("rm -rf build")
    assert [n["body"] for n in wait_shown(page)] == ["rm -rf build"]
    wait_announced(page, loud)
    assert len(shown(page)) == 1
    worker.evaluate(answer, "deny")
    assert rig.approval(loud)["status"] == "denied"
    assert rig.approval(quiet)["status"] == "pending"

    # Answered elsewhere first: its notification goes away; a button of it, pressed before it
    # went, is refused and says so; its body then opens the inbox at the item.
    late = rig.ask("make deploy")
    wait_shown(page)
    worker.evaluate("async () => { self.kept = (await self.registration.getNotifications())[0]; }")
    decided = rig.api.post(
        "/api/v1/inbox/decisions",
        json={"decisions": [{"kind": "tool_approval", "id": late, "action": "deny",
                             "decision_id": str(uuid.uuid4())}]},
    )  # fmt: skip
    assert decided.json()["results"][0]["outcome"] == "applied"
    wait_sync(lambda: shown(page) == [], 10, "the answered item's notification closed")
    worker.evaluate("() => answer(self.kept, 'approve')")
    [refused] = wait_shown(page)
    assert refused["title"] == f"Not applied: {SESSION} asks to use Bash"
    assert refused["body"].endswith("Open the inbox to answer.")
    assert refused["actions"] == []
    assert rig.approval(late)["status"] == "denied"
    worker.evaluate("() => answer(self.kept, '')")
    at_item = f"{rig.hub.url}/inbox#inbox-tool_approval-{late}"
    wait_sync(lambda: any(p.url == at_item for p in context.pages), 10, "a tab at the item")

    assert shown(viewer) == []
    assert announced(viewer) == []
    context.close()
    viewer.context.close()
