"""A project with one online server (a real daemon) running one live session, for the browser
tests of the human in the loop: the inbox, approvals and their notifications."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.processes import HubProcess
from tests.e2e.task_support import task_rig
from tests.support import wait_sync

SESSION = "e2e-agent"


@dataclass
class Rig:
    hub: HubProcess
    api: httpx.Client
    agent: httpx.Client  # the server's key, as the daemon's hook and spool use it
    project_id: str
    server_name: str
    session_id: str
    received: Path  # what the session's terminal was given (it runs `cat > received.txt`)

    def ask(self, command: str) -> str:
        res = self.agent.post(
            "/api/v1/server/approvals",
            json={"session_id": self.session_id, "agent": "claude", "tool": "Bash",
                  "tool_input": {"command": command}},
        )  # fmt: skip
        assert res.status_code == 201, res.text
        return str(res.json()["id"])

    def as_session(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        """An agent API call with the server's key, acting for the session."""
        res = self.agent.request(method, f"/api/v1/server{path}", json=body or None)
        assert res.status_code in (200, 201), res.text
        return dict(res.json())

    def task(self, task_id: str) -> dict[str, Any]:
        res = self.api.get(f"/api/v1/tasks/{task_id}")
        assert res.status_code == 200, res.text
        return dict(res.json())

    def approval(self, approval_id: str) -> dict[str, Any]:
        res = self.agent.get(f"/api/v1/server/approvals/{approval_id}")
        assert res.status_code == 200, res.text
        return dict(res.json())

    def audited(self, action: str, target_id: str) -> int:
        """Audit rows of ``action`` on ``target_id``, read from the hub's own database."""
        db = sqlite3.connect(f"file:{self.hub.data_dir / 'hub.db'}?mode=ro", uri=True)
        try:
            query = "SELECT count(*) FROM audit_events WHERE action = ? AND target_id = ?"
            return int(db.execute(query, (action, target_id)).fetchone()[0])
        finally:
            db.close()


@contextmanager
def hitl_rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[Rig]:
    """A project with one online server (a real daemon) running one live session, which writes
    whatever is typed into it to a file (so each delivery is counted once, without tty echo)."""
    with task_rig(hub_process, daemon_factory, tmp_path, "guarded", {"alpha": False}) as tasks:
        api, server = tasks.api, tasks.servers["alpha"]
        key = yaml.safe_load(server.daemon.config.read_text())["api_key"]
        agent = httpx.Client(base_url=hub_process.url, headers={"X-API-Key": key}, timeout=10)
        hub_process.closing.append(agent)
        started = api.post(
            "/api/v1/sessions",
            json={"server_id": server.id, "name": SESSION, "working_directory": str(tmp_path),
                  "command": "cat > received.txt"},
        )  # fmt: skip
        assert started.status_code == 201, started.text
        session_id = started.json()["id"]
        wait_sync(
            lambda: tasks.session(session_id)["status"] == "running",
            20,
            f"session running (daemon log: {server.daemon.log})",
        )
        received = tmp_path / "received.txt"
        yield Rig(hub_process, api, agent, tasks.project_id, server.name, session_id, received)
