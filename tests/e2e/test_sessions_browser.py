"""Issue 3, acceptance 4, in a real browser on the real hub, daemon and tmux: start a session from
the dashboard, type into xterm.js, resize, hand the driver lock between tabs, and watch through a
read-only share link (and as a project viewer) without being able to type."""

from __future__ import annotations

import asyncio
import base64
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, FloatRect, Page, expect

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import accounts
from tests.e2e.browser_pages import CSP_WATCH, UI_TIMEOUT_MS, log_in, screen
from tests.e2e.processes import PASSWORD, HubProcess
from tests.e2e.terminal_support import Fleet, tmux_on
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)
VIEWER = "viewer@e2e.example"


def new_page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    return page


def wait_screen(page: Page, pattern: str, what: str) -> str:
    """Poll xterm's buffer until ``pattern`` (a regex, multiline) matches; the buffer."""
    rx = re.compile(pattern, re.MULTILINE)
    return str(wait_sync(lambda: rx.search(screen(page)) and screen(page), 15, what, 0.1))


def type_line(page: Page, text: str) -> None:
    page.click("#terminal")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def recorded(fleet: Fleet, session_id: str, offset: int = 0) -> bytes:
    res = fleet.api.get(f"/api/v1/sessions/{session_id}/output", params={"offset": offset})
    assert res.status_code == 200, res.text
    assert int(res.headers["X-Orchestratia-Offset"]) == offset
    return res.content


def recorded_end(fleet: Fleet, session_id: str) -> int:
    res = fleet.api.get(f"/api/v1/sessions/{session_id}")
    assert res.status_code == 200, res.text
    return int(res.json()["output_offset"])


def add_viewer(fleet: Fleet) -> None:
    """A plain user of the tenant with the ``viewer`` role on the project."""
    tenant_id = fleet.api.get("/api/v1/auth/me").json()["tenant_id"]

    async def create() -> None:
        engine = build_engine(f"sqlite+aiosqlite:///{fleet.hub.data_dir / 'hub.db'}")
        try:
            async with build_sessionmaker(engine)() as db:
                await accounts.create_user(db, tenant_id, VIEWER, PASSWORD, audit.Actor("system"))
        finally:
            await engine.dispose()

    # Playwright's sync API keeps an event loop running on this thread; use another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result(timeout=30)
    res = fleet.api.post(
        f"/api/v1/projects/{fleet.project_id}/members", json={"email": VIEWER, "role": "viewer"}
    )
    assert res.status_code == 201, res.text


def start_from_dialog(page: Page, fleet: Fleet, cwd: Path) -> str:
    page.goto(f"{fleet.hub.url}/sessions?project_id={fleet.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    page.click("#start-session")
    expect(page.locator("#start-dialog")).to_be_visible()
    expect(page.locator("#start-server option:checked")).to_have_attribute("value", fleet.server_id)
    page.select_option("#start-preset", "shell")
    page.fill("#start-name", "e2e-shell")
    page.fill("#start-cwd", str(cwd))
    page.click("#start-submit")
    page.wait_for_url(re.compile(r"/sessions/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_terminal_in_the_browser(browser: Browser, fleet: Fleet, tmp_path: Path) -> None:
    admin = browser.new_context(viewport={"width": 1280, "height": 800})
    first = new_page(admin)
    log_in(first, fleet.hub)
    session_id = start_from_dialog(first, fleet, tmp_path)
    expect(first.locator("#session-status")).to_have_text("running")
    expect(first.locator("#control-state")).to_have_text("You are driving")
    expect(first.locator("#take-control")).to_be_hidden()
    wait_screen(first, r"\S", "the shell's prompt")

    # Typing: xterm.js -> viewer channel -> hub -> daemon -> tmux, and the echo back.
    type_line(first, "echo hello")
    wait_screen(first, r"^hello$", "hello on a line of its own")
    assert b"hello" in recorded(fleet, session_id)

    # A dropped viewer socket reconnects and resumes from the last byte it wrote: no reset, no
    # byte twice, none missing.
    first.evaluate("window.orcViewer.ws.close()")
    wait_sync(lambda: first.evaluate("window.orcViewer.joins") == 2, 15, "a reconnect", 0.1)
    type_line(first, "echo again")
    wait_screen(first, r"^again$", "output after the reconnect")
    assert re.findall(r"^hello$", screen(first), re.MULTILINE) == ["hello"]
    wait_sync(
        lambda: first.evaluate("window.orcViewer.expected") == recorded_end(fleet, session_id),
        15,
        "the viewer to hold every recorded byte",
        0.1,
    )

    # The driver's window decides the PTY's size.
    wide = int(first.evaluate("window.term.cols"))
    first.set_viewport_size({"width": 760, "height": 700})
    wait_sync(lambda: first.evaluate("window.term.cols") < wide, 15, "the PTY to narrow", 0.1)
    narrow = int(first.evaluate("window.term.cols"))
    type_line(first, "tput cols")
    wait_screen(first, rf"^{narrow}$", f"tput cols to print {narrow}")
    panes = tmux_on(fleet.socket, "list-panes", "-a", "-F", "#{session_name} #{pane_width}")
    # Only session panes: the daemon's control-client anchor session has a pane too.
    widths = [
        w
        for name, w in (line.split() for line in panes.stdout.splitlines())
        if name.startswith("orc-")
    ]
    assert widths == [str(narrow)]
    first.screenshot(path=tmp_path / "driver.png")

    # A second tab of the same user watches until it takes control explicitly.
    second = new_page(admin)
    second.goto(first.url)
    expect(second.locator("#control-state")).to_have_text("Observing")
    expect(second.locator("#take-control")).to_be_visible()
    expect(second.locator("#viewer-count")).to_have_text("2 viewers")
    wait_screen(second, rf"^{narrow}$", "the observer's snapshot")
    before = recorded_end(fleet, session_id)
    type_line(second, "echo observer-typed")  # an observer's keys go nowhere
    second.click("#take-control")
    expect(second.locator("#control-state")).to_have_text("You are driving")
    expect(first.locator("#control-state")).to_have_text("Observing")
    expect(first.locator("#take-control")).to_be_visible()
    type_line(second, "echo from-second-tab")
    wait_screen(first, r"^from-second-tab$", "the new driver's output in the first tab")
    assert b"observer-typed" not in recorded(fleet, session_id, before)

    # Text view: the daemon's capture of screen and history.
    second.click("#text-view")
    expect(second.locator("#text-view-body")).to_contain_text("from-second-tab")
    second.click("#text-dialog [data-close-dialog]")

    # A read-only share link, opened where nobody is logged in.
    first.click("#share-link")
    url = first.locator("#share-url")
    expect(url).to_have_text(re.compile(rf"^{re.escape(fleet.hub.url)}/share/orcsh_\S+$"))
    share_url = url.inner_text().strip()
    first.click("#share-dialog [data-close-dialog]")
    stranger = browser.new_context(viewport={"width": 390, "height": 760})
    shared = new_page(stranger)
    shared.goto(share_url)
    expect(shared.locator("#readonly-badge")).to_be_visible()
    expect(shared.locator("#control-state")).to_have_text("Read-only")
    expect(shared.locator("#take-control")).to_be_hidden()
    assert shared.locator("#close-session, #kill-session, #share-link").count() == 0
    wait_screen(shared, r"^from-second-tab$", "the session's screen behind the share link")
    before = recorded_end(fleet, session_id)
    type_line(shared, "echo leaked-through-share")
    # Ordering proof instead of a sleep: the driver types a marker after the stranger typed, so
    # once the marker is recorded, any key of the stranger's would have been recorded before it.
    type_line(second, "echo marker-after-share")
    wait_screen(shared, r"^marker-after-share$", "the driver's marker in the shared view")
    after = recorded(fleet, session_id, before)
    assert b"marker-after-share" in after
    assert b"leaked-through-share" not in after
    assert "leaked-through-share" not in screen(shared)
    shared.screenshot(path=tmp_path / "shared.png")

    # A project viewer sees the terminal read-only: no take-over, close, kill or share.
    add_viewer(fleet)
    watcher = new_page(browser.new_context(viewport={"width": 1000, "height": 700}))
    log_in(watcher, fleet.hub, VIEWER)
    watcher.goto(first.url)
    expect(watcher.locator("#control-state")).to_have_text("Read-only")
    expect(watcher.locator("#take-control")).to_be_hidden()
    assert watcher.locator("#close-session, #kill-session, #share-link").count() == 0
    expect(watcher.locator("#text-view")).to_be_visible()
    wait_screen(watcher, r"^marker-after-share$", "the viewer's screen")

    # Kill from the UI (confirmed), and every view shows the end.
    second.once("dialog", lambda dialog: dialog.accept())
    second.click("#kill-session")
    for page in (first, second, shared, watcher):
        expect(page.locator("#session-status")).to_have_text(re.compile("exited|lost"))
    first.goto(f"{fleet.hub.url}/sessions?project_id={fleet.project_id}")
    card = first.locator(f"#session-{session_id}")
    expect(card.locator('[data-field="status"]')).to_have_text(re.compile("exited|lost"))


def test_session_cards_update_live(browser: Browser, fleet: Fleet, tmp_path: Path) -> None:
    page = new_page(browser.new_context(viewport={"width": 1280, "height": 800}))
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/sessions?project_id={fleet.project_id}")
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(page.locator(".session-card")).to_have_count(0)
    page.evaluate("window.__noReload = 1")

    created = fleet.api.post(
        "/api/v1/sessions",
        json={
            "server_id": fleet.server_id,
            "name": "from-api",
            "working_directory": str(tmp_path),
            "command": "sleep 600",
        },
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    card = page.locator(f"#session-{session_id}")
    expect(card.locator('[data-field="status"]')).to_have_text("running")
    expect(card.locator('[data-field="command"]')).to_have_text("sleep 600")
    expect(page.locator("#grid-empty")).to_be_hidden()

    closed = fleet.api.post(f"/api/v1/sessions/{session_id}/kill")
    assert closed.status_code == 202, closed.text
    expect(card.locator('[data-field="status"]')).to_have_text(re.compile("exited|lost"))
    assert page.evaluate("window.__noReload === 1")
    page.screenshot(path=tmp_path / "sessions.png", full_page=True)


def test_invalid_share_link_is_a_page(browser: Browser, hub_process: HubProcess) -> None:
    page = new_page(browser.new_context())
    response = page.goto(f"{hub_process.url}/share/orcsh_not-a-real-token")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["referrer-policy"] == "no-referrer"
    expect(page.locator("#error-page h1")).to_have_text("Not found")
    expect(page.locator("#error-page")).to_contain_text("invalid, revoked or expired")


# Brightness of each pixel row of a PNG, computed by the browser itself (no image library needed):
# the mean over the pixels of the row whose brightest channel passes the threshold.
ROW_BRIGHTNESS_JS = """async ([png, threshold]) => {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  const rows = [];
  for (let y = 0; y < img.height; y++) {
    let lit = 0;
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 4;
      if (Math.max(data[i], data[i + 1], data[i + 2]) >= threshold) lit++;
    }
    rows.push(lit / img.width);
  }
  return rows;
}"""


def test_underscores_are_visible_at_1x(browser: Browser, fleet: Fleet, tmp_path: Path) -> None:
    """An underscore sits at the very bottom of its cell, so a line height that clips glyph
    descenders makes ``snake_case`` read as ``snake case``. Checked in the rendered pixels."""
    res = fleet.api.post(
        "/api/v1/sessions",
        json={"server_id": fleet.server_id, "name": "underscores", "cols": 80, "rows": 24,
              "working_directory": str(tmp_path),
              "command": "printf '%s\\n' ________________________________; exec sleep 600"},
    )  # fmt: skip
    assert res.status_code == 201, res.text
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    page = new_page(context)
    log_in(page, fleet.hub)
    page.goto(f"{fleet.hub.url}/sessions/{res.json()['id']}")
    wait_screen(page, r"^_{32}$", "the line of underscores")
    row = page.locator(".xterm-rows > div", has_text="_" * 32)
    box = row.bounding_box()
    assert box is not None
    # Only the cells holding underscores (the first 32 of the row).
    width = box["width"] * 32 / page.evaluate("window.term.cols")
    clip: FloatRect = {"x": box["x"], "y": box["y"], "width": width, "height": box["height"]}
    png = page.screenshot(clip=clip)
    (tmp_path / "underscores.png").write_bytes(png)
    page.screenshot(path=tmp_path / "page.png")
    rows: list[float] = page.evaluate(ROW_BRIGHTNESS_JS, [base64.b64encode(png).decode(), 128])
    # The underscore is one solid stroke across the cells: some pixel row is lit nearly all along.
    assert max(rows) > 0.8, f"no underscore stroke drawn in the row: {rows} ({tmp_path})"
    context.close()


# Reports what the browser refuses under the page's CSP (an init script is not subject to it).
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}


def test_every_page_works_under_the_content_security_policy(
    browser: Browser, fleet: Fleet, tmp_path: Path
) -> None:
    """Every dashboard page (and the share page) is served with the security headers, and the
    browser reports no CSP violation while the page, htmx and the terminal do their work."""
    created = fleet.api.post(
        "/api/v1/sessions",
        json={"server_id": fleet.server_id, "name": "csp", "working_directory": str(tmp_path)},
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    share = fleet.api.post(f"/api/v1/sessions/{session_id}/share", json={})
    assert share.status_code == 201, share.text

    other = fleet.api.post("/api/v1/projects", json={"name": "csp-other"})
    assert other.status_code == 201, other.text

    console: list[str] = []
    violations: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_WATCH)
    context.on("console", lambda msg: console.append(msg.text))
    page = new_page(context)

    def visit(path: str) -> None:
        response = page.goto(f"{fleet.hub.url}{path}")
        assert response is not None and response.ok, path
        headers = response.headers
        assert {k: headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS, (path, headers)
        assert headers.get("referrer-policy") in ("same-origin", "no-referrer"), (path, headers)
        csp = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, (path, csp)
        page.wait_for_load_state("load")

    visit("/login")
    log_in(page, fleet.hub)
    for path in (
        "/overview",
        "/fleet",
        "/sessions",
        "/tasks",
        "/activity",
        "/inbox",
        "/permissions",
    ):
        visit(f"{path}?project_id={fleet.project_id}")
    # The project switcher submits itself on change (once an inline handler).
    page.select_option("#project-switcher", other.json()["id"])
    page.wait_for_url(re.compile(re.escape(other.json()["id"])))
    visit(f"/sessions/{session_id}")
    type_line(page, "echo csp-$((6*7))")
    wait_screen(page, r"^csp-42$", "the terminal working under the CSP")
    visit(share.json()["url"].removeprefix(fleet.hub.url))
    wait_screen(page, r"^csp-42$", "the shared terminal under the CSP")

    refused = [text for text in console if "Content Security Policy" in text]
    assert violations == [] and refused == [], (violations, refused)
