"""The polish a user expects, in a real browser on the real hub: the command palette (Ctrl-K),
the shortcuts listed on "?", the light theme when the system asks for it, copy buttons (with and
without the clipboard API), and every page at phone width without sideways scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.browser_pages import CSP_WATCH, UI_TIMEOUT_MS, log_in
from tests.e2e.hitl_support import Rig
from tests.e2e.processes import HubProcess, api_client
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)
PHONE = {"width": 390, "height": 844}
LONG_TITLE = "Make the release notes readable on_a_phone_without_any_spaces_in_this_long_identifier"


def watched_context(browser: Browser, violations: list[str], **options: object) -> BrowserContext:
    """A fresh context that reports every CSP violation into ``violations``."""
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_WATCH)
    return context


def signed_in(context: BrowserContext, hub: HubProcess) -> Page:
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    log_in(page, hub)
    return page


def seed_task(hub: HubProcess, title: str) -> tuple[str, str]:
    """A project with one task titled ``title``; their ids."""
    api = api_client(hub)
    hub.closing.append(api)
    project = api.post("/api/v1/projects", json={"name": "polish"})
    assert project.status_code == 201, project.text
    task = api.post("/api/v1/tasks", json={"project_id": project.json()["id"], "title": title})
    assert task.status_code == 201, task.text
    return str(project.json()["id"]), str(task.json()["id"])


def test_palette_and_shortcuts(browser: Browser, hub_process: HubProcess, tmp_path: Path) -> None:
    _, task_id = seed_task(hub_process, "Rotate the signing keys")
    violations: list[str] = []
    context = watched_context(browser, violations, viewport={"width": 1400, "height": 900})
    page = signed_in(context, hub_process)

    # Ctrl-K, a few letters of the title (not contiguous), Enter: the task's page.
    page.keyboard.press("Control+k")
    palette = page.locator("dialog#palette")
    expect(palette).to_be_visible()
    expect(page.locator("#palette-input")).to_be_focused()
    page.keyboard.type("rot sign")
    option = page.locator("#palette-list [role=option]", has_text="Rotate the signing keys")
    expect(option).to_be_visible()
    expect(page.locator("#palette-list [role=option]").first).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.locator("#palette-list [role=option]").first).to_contain_text("Rotate")
    page.screenshot(path=tmp_path / "palette.png")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{hub_process.url}/tasks/{task_id}")

    # A short id finds the task too; the arrow keys move the choice; Esc closes.
    page.click("#palette-open")
    page.keyboard.type(task_id[:8])
    expect(page.locator("#palette-list [role=option]", has_text="Rotate")).to_be_visible()
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()
    page.keyboard.press("Control+k")
    page.keyboard.type("sess")
    expect(page.locator("#palette-list [role=option]").first).to_contain_text("Sessions")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{hub_process.url}/sessions")

    # "?" lists the shortcuts of the pages that exist; "g t" goes to the board; "/" its filter.
    page.keyboard.press("?")
    help_dialog = page.locator("dialog#shortcuts-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator("tr", has_text="Tasks")).to_contain_text("g then t")
    page.screenshot(path=tmp_path / "shortcuts.png")
    expect(help_dialog.locator("tr", has_text="Overview")).to_have_count(
        page.locator(".topbar .nav a", has_text="Overview").count()
    )
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("g")
    page.keyboard.press("t")
    page.wait_for_url(f"{hub_process.url}/tasks")
    page.keyboard.press("/")
    expect(page.locator("#filter-q")).to_be_focused()
    # Typing in the field is typing, not shortcuts.
    page.keyboard.type("g s?")
    expect(page.locator("#filter-q")).to_have_value("g s?")
    expect(help_dialog).to_have_count(0)
    assert page.url.startswith(f"{hub_process.url}/tasks")
    assert violations == []
    context.close()


def test_light_theme_follows_the_system(
    browser: Browser, hub_process: HubProcess, tmp_path: Path
) -> None:
    project_id, task_id = seed_task(hub_process, "Check the contrast of both themes")
    body_colours = {}
    for scheme in ("light", "dark"):
        violations: list[str] = []
        context = watched_context(browser, violations, color_scheme=scheme)
        page = signed_in(context, hub_process)
        body_colours[scheme] = page.evaluate(
            "(s => [s.backgroundColor, s.color])(getComputedStyle(document.body))"
        )
        for name, path in (
            ("board", f"/tasks?project_id={project_id}"),
            ("task", f"/tasks/{task_id}"),
        ):
            page.goto(hub_process.url + path)
            page.screenshot(path=tmp_path / f"{scheme}-{name}.png", full_page=True)
        page.keyboard.press("Control+k")
        page.screenshot(path=tmp_path / f"palette-{scheme}.png")
        theme = page.locator(f'meta[name=theme-color][media*="{scheme}"]')
        expect(theme).to_have_count(1)
        assert violations == []
        context.close()
    assert body_colours["light"] == ["rgb(244, 246, 249)", "rgb(22, 26, 35)"]
    assert body_colours["dark"] == ["rgb(15, 17, 21)", "rgb(230, 232, 238)"]


def test_copy_buttons_with_and_without_the_clipboard_api(
    browser: Browser, hub_process: HubProcess
) -> None:
    project_id, _ = seed_task(hub_process, "anything")
    violations: list[str] = []
    context = watched_context(browser, violations, viewport=PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub_process.url)
    page = signed_in(context, hub_process)
    page.goto(f"{hub_process.url}/fleet?project_id={project_id}")
    page.click("#register-server")
    token = page.locator("#registration-token")
    expect(token).not_to_be_empty()
    button = page.locator("button[data-copy='#registration-token']")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token.inner_text().strip()
    expect(button).to_have_text("Copy")

    # A hub on plain http (not localhost) has no clipboard API: the text is copied the old way.
    page.evaluate("Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})")
    install = page.locator("#install-command")
    page.click("button[data-copy='#install-command']")
    expect(page.locator("button[data-copy='#install-command']")).to_have_text("Copied")
    reader = context.new_page()
    reader.goto(f"{hub_process.url}/login")
    assert reader.evaluate("navigator.clipboard.readText()") == install.inner_text().strip()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert violations == []
    context.close()


def test_every_page_fits_a_phone(browser: Browser, rig: Rig, tmp_path: Path) -> None:
    """Every page of a hub with a server, a live session, tasks, an inbox item and a rule, at
    390 by 844: nothing wider than the screen, and the terminal as wide as the page allows."""
    made = rig.api.post("/api/v1/tasks", json={"project_id": rig.project_id, "title": LONG_TITLE})
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    rule = rig.api.post(
        "/api/v1/approval-rules",
        json={"name": "never wipe a disk, on any server of this project", "tool_pattern": "Bash",
              "param_pattern": "rm -rf /*", "action": "deny", "scope": "project",
              "scope_id": rig.project_id},
    )  # fmt: skip
    assert rule.status_code == 201, rule.text
    rig.ask("git push --force origin a-rather-long-branch-name-that-goes-on-and-on")
    shared = rig.api.post(f"/api/v1/sessions/{rig.session_id}/share", json={})
    assert shared.status_code == 201, shared.text
    pages = [
        "/fleet",
        "/sessions",
        f"/sessions/{rig.session_id}",
        "/tasks",
        f"/tasks/{task_id}",
        "/inbox",
        "/permissions",
        "/activity",
        "/team",
        "/api-keys",
        "/webhooks",
        "/audit",
        "/usage",
        "/account",
        "/settings/mail",
        shared.json()["url"].removeprefix(rig.hub.url),
    ]
    violations: list[str] = []
    context = watched_context(browser, violations, viewport=PHONE)
    page = signed_in(context, rig.hub)
    wide = []
    for path in pages:
        page.goto(rig.hub.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide.append(f"{path}: {width}px")
        name = path.strip("/").replace("/", "-")[:24] or "root"
        page.screenshot(path=tmp_path / f"phone-{name}.png", full_page=True)
        if path == f"/sessions/{rig.session_id}":
            expect(page.locator(".terminal-host .xterm-screen")).to_be_visible()
            screen = page.locator(".terminal-host .xterm-screen").bounding_box()
            host = page.locator(".terminal-host").bounding_box()
            assert screen is not None and host is not None
            assert screen["width"] <= host["width"] + 1, (screen, host)
            keys_stay_in_the_terminal(page, rig)
    assert wide == [], wide
    assert violations == []
    context.close()


def keys_stay_in_the_terminal(page: Page, hitl: Rig) -> None:
    """Shortcut keys typed into xterm reach the session, and none of them acts on the page."""
    url = page.url
    page.locator(".terminal-host").click()
    page.keyboard.type("g t ? /")
    page.keyboard.press("Control+k")
    page.keyboard.type(" done")
    page.keyboard.press("Enter")
    wait_sync(
        lambda: hitl.received.exists() and "g t ? /\x0b done" in hitl.received.read_text(),
        10,
        "the keys reach the session",
    )
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert page.url == url
