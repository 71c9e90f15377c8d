"""Fleet and pipeline management in a real browser on the real hub (issue 14 §4): a server's
page, reached from the fleet table, charts the load its real daemon reports and renames it;
"New pipeline" on the board creates a pipeline from steps or from pasted JSON, shows the hub's
refusals as sentences, and lands on the pipeline's graph; the pages fit a phone's width."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_pages import UI_TIMEOUT_MS, log_in, open_page
from tests.e2e.processes import DaemonProcess, HubProcess, api_client
from tests.support import wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

expect.set_options(timeout=UI_TIMEOUT_MS)


@dataclass
class Project:
    hub: HubProcess
    api: httpx.Client
    id: str


@pytest.fixture
def project(hub_process: HubProcess) -> Project:
    api = api_client(hub_process)
    hub_process.closing.append(api)
    res = api.post("/api/v1/projects", json={"name": "fleet"})
    assert res.status_code == 201, res.text
    return Project(hub_process, api, res.json()["id"])


@pytest.fixture
def online_server(project: Project, daemon_factory: Any, tmp_path: Path) -> Iterator[str]:
    """A real daemon registered to the project and online, with a load sample recorded."""
    api = project.api
    token = api.post("/api/v1/servers/tokens", json={"project_id": project.id})
    assert token.status_code == 201, token.text
    daemon: DaemonProcess = daemon_factory()
    registered = daemon.register(token.json()["token"])
    assert registered.returncode == 0, registered.stderr
    socket = f"orc-e2e-{uuid.uuid4().hex[:10]}"
    config = yaml.safe_load(daemon.config.read_text())
    config.update(tmux_socket=socket, state_dir=str(tmp_path / "agent-state"))
    daemon.config.write_text(yaml.safe_dump(config))
    server_id: str = config["server_id"]
    try:
        daemon.start()

        def sampled() -> bool:
            res = api.get(f"/api/v1/servers/{server_id}/samples")
            return res.status_code == 200 and bool(res.json()["samples"])

        wait_sync(sampled, 30, f"a load sample (daemon log: {daemon.log})")
        yield server_id
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def fits_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_server_page_charts_load_and_renames(
    browser: Browser, project: Project, online_server: str
) -> None:
    hub = project.hub
    page = open_page(browser)
    log_in(page, hub)
    page.goto(f"{hub.url}/fleet?project_id={project.id}")
    page.click(f"#server-{online_server} a.server-link")
    page.wait_for_url(f"{hub.url}/servers/{online_server}")
    expect(page.locator("#server-status")).to_have_text("online")
    for series in ("cpu", "memory", "disk"):
        expect(page.locator(f'.load-chart polyline[data-series="{series}"]')).to_have_count(1)

    page.click("#rename-server")
    page.fill("#server-name-input", "   ")
    page.click("#server-form button[type=submit]")
    expect(page.locator("#server-form-error")).to_contain_text("Name must not be empty")
    page.fill("#server-name-input", "render-farm-1")
    page.click("#server-form button[type=submit]")
    expect(page.locator("#server-name")).to_have_text("render-farm-1")
    expect(page.locator("#server-dialog")).not_to_be_visible()
    assert project.api.get(f"/api/v1/servers/{online_server}").json()["name"] == "render-farm-1"
    page.goto(f"{hub.url}/fleet?project_id={project.id}")
    expect(page.locator(f"#server-{online_server} [data-field=name]")).to_have_text("render-farm-1")

    phone = open_page(browser, 390, 844)
    log_in(phone, hub)
    phone.goto(f"{hub.url}/servers/{online_server}")
    expect(phone.locator(".load-chart").first).to_be_visible()
    assert fits_width(phone)


def test_new_pipeline_from_steps_and_from_json_lands_on_its_graph(
    browser: Browser, project: Project
) -> None:
    hub = project.hub
    page = open_page(browser)
    log_in(page, hub)
    page.goto(f"{hub.url}/tasks?project_id={project.id}")

    page.click("#new-pipeline")
    steps = page.locator("#pipeline-steps [data-step]")
    expect(steps).to_have_count(2)
    steps.nth(0).locator("[data-field=title]").fill("Build the image")
    steps.nth(0).locator("[data-field=spec]").fill("docker build .")
    steps.nth(1).locator("[data-field=title]").fill("Deploy it")
    steps.nth(1).locator("[data-field=depends_on]").fill("3")
    page.click("#pipeline-submit")
    expect(page.locator("#pipeline-errors")).to_contain_text('Step 2: "3" is not another step')
    steps.nth(1).locator("[data-field=depends_on]").fill("1")
    page.click("#pipeline-add-step")
    page.click("#pipeline-submit")  # step 3 has no title: the hub says so, naming the step
    expect(page.locator("#pipeline-errors")).to_contain_text("Step 3: title must not be empty")
    steps.nth(2).locator("[data-remove-step]").click()
    page.fill("#pipeline-name", "ship it")
    page.click("#pipeline-submit")
    page.wait_for_url(f"{hub.url}/pipelines/*")
    expect(page.locator("#pipeline-graph .pnode")).to_have_count(2)
    expect(page.locator("#pipeline-graph .pedge")).to_have_count(1)
    expect(page.locator("h1")).to_contain_text("ship it")

    page.goto(f"{hub.url}/tasks?project_id={project.id}")
    page.click("#new-pipeline")
    page.click("#pipeline-mode-json")
    page.fill("#pipeline-json", '{"tasks": [')
    page.click("#pipeline-submit")
    expect(page.locator("#pipeline-errors")).to_contain_text("The JSON does not parse")
    page.fill("#pipeline-json", '{"tasks": [{"id": "a", "title": "A", "depends_on": ["nope"]}]}')
    page.click("#pipeline-submit")
    expect(page.locator("#pipeline-errors")).to_contain_text("'nope' is neither a temp id")
    body = (
        '{"name": "pasted", "tasks": [{"id": "a", "title": "Schema"},'
        ' {"id": "b", "title": "API", "depends_on": ["a"]},'
        ' {"id": "c", "title": "UI", "depends_on": ["a", "b"]}]}'
    )
    page.fill("#pipeline-json", body)
    page.click("#pipeline-submit")
    page.wait_for_url(f"{hub.url}/pipelines/*")
    expect(page.locator("#pipeline-graph .pnode")).to_have_count(3)
    expect(page.locator("#pipeline-graph .pedge")).to_have_count(3)

    page.goto(f"{hub.url}/tasks?project_id={project.id}")
    page.click("#pipelines-link")
    rows = page.locator("#pipelines tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("pasted")
    rows.first.locator("a").first.click()
    page.wait_for_url(f"{hub.url}/pipelines/*")
    expect(page.locator("#pipeline-graph .pnode")).to_have_count(3)

    phone = open_page(browser, 390, 844)
    log_in(phone, hub)
    phone.goto(f"{hub.url}/pipelines?project_id={project.id}")
    assert fits_width(phone)
    phone.goto(f"{hub.url}/tasks?project_id={project.id}")
    phone.click("#new-pipeline")
    expect(phone.locator("#pipeline-dialog")).to_be_visible()
    assert fits_width(phone)
