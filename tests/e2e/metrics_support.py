"""Scraping a real hub's and a real daemon's ``/metrics``, and acting as the agent inside a real
session with the agent CLI (the session's own token, read from its tmux environment)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import yaml

from tests.e2e.processes import DaemonProcess, orchestratia
from tests.e2e.terminal_support import Rig, tmux


def scrape(url: str, token: str | None = None, transport: httpx.HTTPTransport | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(timeout=10, transport=transport) as client:
        res = client.get(url, headers=headers)
    assert res.status_code == 200, res.text
    return res.text


def listen_for_metrics(daemon: DaemonProcess, listen: str) -> None:
    """Give the (registered) daemon a ``metrics_listen`` before it starts."""
    config = yaml.safe_load(daemon.config.read_text())
    config["metrics_listen"] = listen
    daemon.config.write_text(yaml.safe_dump(config))


def session_token(rig: Rig, tmux_name: str) -> str:
    """The session's token, as its agent sees it (``ORCHESTRATIA_API_KEY`` in its environment)."""
    out = tmux(rig.socket, "show-environment", "-t", f"={tmux_name}", "ORCHESTRATIA_API_KEY")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split("=", 1)[1]


def agent_cli(
    rig: Rig, session: dict[str, object], token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``orchestratia task …`` as the agent inside ``session`` runs it."""
    env = dict(rig.daemon.env)
    env.update(
        ORCHESTRATIA_HUB_URL=rig.hub.url,
        ORCHESTRATIA_API_KEY=token,
        ORCHESTRATIA_SESSION_ID=str(session["id"]),
        ORCHESTRATIA_PROJECT_ID=rig.project_id,
    )
    done = subprocess.run(
        orchestratia(*args), env=env, capture_output=True, text=True, timeout=60, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done
