"""Fixtures of the end-to-end tests: a hub process with an admin, daemon processes, headless
Chromium."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.hitl_support import Rig, hitl_rig
from tests.e2e.processes import DaemonProcess, HubProcess, base_env, hub_with_admin
from tests.e2e.terminal_support import Fleet, terminal_fleet
from tests.support import IN_CI

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Debian's build, not Playwright's download: the tests drive the browser users actually install.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def hub_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Extra environment for ``hub_process``; parametrise it (indirectly) to tune the hub."""
    extra: dict[str, str] = getattr(request, "param", {})
    return extra


@pytest.fixture
def hub_process(tmp_path: Path, hub_env: dict[str, str]) -> Iterator[HubProcess]:
    data_dir = tmp_path / "hub"
    with hub_with_admin(data_dir, base_env(data_dir) | hub_env, tmp_path / "hub.log") as hub:
        yield hub


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[DaemonProcess] = []

    def make(name: str = "daemon") -> DaemonProcess:
        env = base_env(tmp_path / "hub")
        d = DaemonProcess(tmp_path / name / "agent.yaml", env, tmp_path / f"{name}.log")
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill(signal.SIGKILL)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, one per test; a missing binary fails in CI and skips
    elsewhere."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (scripts/test-deps.sh installs Debian's chromium)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[Rig]:
    """One online server with one live session that writes what it is typed to a file."""
    with hitl_rig(hub_process, daemon_factory, tmp_path) as made:
        yield made


@pytest.fixture
def fleet(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[Fleet]:
    """A project with one online server whose daemon runs sessions on a tmux socket of its own."""
    with terminal_fleet(hub_process, daemon_factory, tmp_path) as made:
        yield made
