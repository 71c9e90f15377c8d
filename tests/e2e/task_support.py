"""Helpers for the task e2e tests: a project with several real daemons ("servers") on one hub
process, sessions running the scripted stand-in agent, and readers for what it did.

Every daemon gets a tmux socket, state directory and HOME of its own. Daemons on one machine
would report the same OS machine id and so register as one server; the first one registers
through the real ``orchestratia agent register``, the others redeem their token through the
REST call with a machine id of their own and get their config file written for them.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.processes import DaemonProcess, HubProcess, api_client
from tests.support import wait_sync

STANDIN = Path(__file__).with_name("standin_agent.py")
# Deliveries wait for a quiet terminal; a short wait keeps the pipeline test quick.
DELIVERY_IDLE_SECONDS = 0.3


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tmux", "-L", socket, "-u", *args], capture_output=True, text=True, timeout=10, check=False
    )


def cli_path() -> str:
    """The ``orchestratia`` console script of the interpreter running the tests."""
    found = Path(sys.executable).parent / "orchestratia"
    assert found.exists(), f"no orchestratia executable next to {sys.executable}"
    return str(found)


@dataclass
class Server:
    name: str
    id: str
    daemon: DaemonProcess
    socket: str


@dataclass
class StandIn:
    """A session running the stand-in agent."""

    name: str
    id: str
    server: Server
    tmux_name: str
    transcript: Path

    def entries(self) -> list[dict[str, Any]]:
        if not self.transcript.exists():
            return []
        lines = self.transcript.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def commands(self, command: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.entries()
            if e["event"] == "command" and (command is None or e["command"] == command)
        ]

    def events(self, event: str, task: str | None = None) -> list[dict[str, Any]]:
        """Transcript entries of one kind (``response``, ``plan_feedback``, ...), of ``task``."""
        return [
            e
            for e in self.entries()
            if e["event"] == event and (task is None or e.get("task") == task)
        ]

    def type_line(self, text: str) -> None:
        """Type ``text`` and Enter at the terminal, as a person at the keyboard would."""
        typed = tmux(self.server.socket, "send-keys", "-t", f"={self.tmux_name}:", "-l", text)
        assert typed.returncode == 0, typed.stderr
        enter = tmux(self.server.socket, "send-keys", "-t", f"={self.tmux_name}:", "Enter")
        assert enter.returncode == 0, enter.stderr

    def screen(self) -> str:
        """The pane's whole history and screen, wrapped lines joined."""
        out = tmux(self.server.socket, "capture-pane", "-p", "-J", "-S", "-", "-t", self.target)
        assert out.returncode == 0, out.stderr
        return out.stdout

    @property
    def target(self) -> str:
        return f"={self.tmux_name}:"


@dataclass
class TaskRig:
    hub: HubProcess
    api: httpx.Client
    project_id: str
    root: Path
    servers: dict[str, Server] = field(default_factory=dict)
    agents: dict[str, StandIn] = field(default_factory=dict)

    # --- servers ------------------------------------------------------------------------------

    def add_server(self, name: str, daemon: DaemonProcess, *, via_cli: bool) -> Server:
        """Register ``daemon`` as server ``name`` of the project and start it (see
        ``wait_online``)."""
        token = self.api.post("/api/v1/servers/tokens", json={"project_id": self.project_id})
        assert token.status_code == 201, token.text
        home = self.root / name / "home"
        home.mkdir(parents=True)
        # An empty HOME: login shells find no dotfiles; the tmux server the daemon starts
        # (whose environment every pane inherits) gets it too.
        daemon.env.update(HOME=str(home), SHELL="/bin/sh", LANG="C.UTF-8")
        if via_cli:
            registered = daemon.register(token.json()["token"])
            assert registered.returncode == 0, registered.stderr
            config = yaml.safe_load(daemon.config.read_text())
        else:
            res = self.api.post(
                "/api/v1/servers/register",
                json={
                    "name": name,
                    "hostname": f"{name}.e2e",
                    "os": "linux",
                    "registration_token": token.json()["token"],
                    "machine_id": f"e2e-{name}-{uuid.uuid4().hex}",
                },
            )
            assert res.status_code == 200, res.text
            config = {
                "hub_url": self.hub.url,
                "api_key": res.json()["api_key"],
                "server_id": res.json()["id"],
                "name": name,
            }
        socket = f"orc-e2e-{name}-{uuid.uuid4().hex[:8]}"
        config.update(
            name=name,
            tmux_socket=socket,
            state_dir=str(self.root / name / "state"),
            delivery_idle_seconds=DELIVERY_IDLE_SECONDS,
        )
        daemon.config.parent.mkdir(parents=True, exist_ok=True)
        daemon.config.write_text(yaml.safe_dump(config))
        daemon.config.chmod(0o600)
        server = Server(name, str(config["server_id"]), daemon, socket)
        self.servers[name] = server
        daemon.start()
        return server

    def wait_online(self) -> None:
        """Every server's daemon (started by ``add_server``) is connected."""
        for server in self.servers.values():
            wait_sync(
                partial(self.server_online, server.id),
                20,
                f"server {server.name} online (daemon log: {server.daemon.log})",
            )

    def server_online(self, server_id: str) -> bool:
        return self.server_status(server_id) == "online"

    def server_status(self, server_id: str) -> str | None:
        res = self.api.get(f"/api/v1/servers/{server_id}")
        return str(res.json()["status"]) if res.status_code == 200 else None

    def close(self) -> None:
        """Stop each server's tmux and remove its socket file (tmux leaves it behind)."""
        base = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        for server in self.servers.values():
            tmux(server.socket, "kill-server")
            (base / server.socket).unlink(missing_ok=True)

    # --- stand-in agents ----------------------------------------------------------------------

    def start_agent(self, name: str, server: Server, script: dict[str, Any]) -> StandIn:
        """A session named ``name`` on ``server`` running the stand-in with ``script``."""
        workdir = self.root / "agents" / name
        workdir.mkdir(parents=True)
        script_file = workdir / "script.json"
        script_file.write_text(json.dumps({"name": name, **script}))
        transcript = workdir / "transcript.jsonl"
        argv = [
            sys.executable,
            str(STANDIN),
            "--script",
            str(script_file),
            "--cli",
            cli_path(),
            "--transcript",
            str(transcript),
        ]
        res = self.api.post(
            "/api/v1/sessions",
            json={
                "server_id": server.id,
                "name": name,
                "working_directory": str(workdir),
                "command": "exec " + shlex.join(argv),
                "cols": 200,
                "rows": 50,
            },
        )
        assert res.status_code == 201, res.text
        sid = str(res.json()["id"])
        session = wait_sync(
            lambda: (s := self.session(sid))["status"] == "running" and s["tmux_name"] and s,
            15,
            f"session {name} running (daemon log: {server.daemon.log})",
        )
        agent = StandIn(name, sid, server, str(session["tmux_name"]), transcript)
        wait_sync(
            lambda: any(e["event"] == "ready" for e in agent.entries()),
            15,
            f"stand-in {name} ready (transcript {transcript})",
        )
        self.agents[name] = agent
        return agent

    def session(self, sid: str) -> dict[str, Any]:
        res = self.api.get(f"/api/v1/sessions/{sid}")
        assert res.status_code == 200, res.text
        return dict(res.json())

    # --- tasks --------------------------------------------------------------------------------

    def task(self, task_id: str) -> dict[str, Any]:
        res = self.api.get(f"/api/v1/tasks/{task_id}")
        assert res.status_code == 200, res.text
        return dict(res.json())

    def events(self, task_id: str) -> list[dict[str, Any]]:
        res = self.api.get(f"/api/v1/tasks/{task_id}/events")
        assert res.status_code == 200, res.text
        return list(res.json()["events"])

    def wait_status(self, task_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
        return dict(
            wait_sync(
                lambda: (t := self.task(task_id))["status"] == status and t,
                timeout,
                f"task {task_id} {status}",
                0.1,
            )
        )

    # --- the inbox and the audit log ----------------------------------------------------------

    def inbox(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v1/inbox`` as the admin (the dashboard's call)."""
        res = self.api.get("/api/v1/inbox", params=filters)
        assert res.status_code == 200, res.text
        return list(res.json()["items"])

    def decide(self, *decisions: dict[str, Any]) -> list[dict[str, Any]]:
        """``POST /api/v1/inbox/decisions`` as the admin; the per-decision results."""
        res = self.api.post("/api/v1/inbox/decisions", json={"decisions": list(decisions)})
        assert res.status_code == 200, res.text
        return list(res.json()["results"])

    def audit(self, target_id: str) -> list[dict[str, Any]]:
        """The audit log's rows about ``target_id``, oldest first, straight from the hub's SQLite
        file (the hub has no audit API)."""
        db = sqlite3.connect(f"file:{self.hub.data_dir / 'hub.db'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT action, actor_type, actor_id, target_type, details, created_at "
                "FROM audit_events WHERE target_id = ? ORDER BY id",
                (target_id,),
            ).fetchall()
        finally:
            db.close()
        keys = ("action", "actor_type", "actor_id", "target_type", "details", "created_at")
        out = [dict(zip(keys, row, strict=True)) for row in rows]
        for row in out:
            row["details"] = json.loads(row["details"] or "{}")
        return out

    def deliveries(self, task_id: str) -> list[dict[str, Any]]:
        """Every delivery the hub stored for ``task_id`` (kind, session, status, attempts)."""
        db = sqlite3.connect(f"file:{self.hub.data_dir / 'hub.db'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT kind, session_id, status, attempts FROM deliveries WHERE task_id = ? "
                "ORDER BY created_at",
                (task_id,),
            ).fetchall()
        finally:
            db.close()
        keys = ("kind", "session_id", "status", "attempts")
        return [dict(zip(keys, row, strict=True)) for row in rows]


@contextmanager
def task_rig(
    hub: HubProcess,
    daemon_factory: Callable[[str], DaemonProcess],
    root: Path,
    project: str,
    servers: dict[str, bool],
) -> Iterator[TaskRig]:
    """A new project on ``hub`` with a server per name in ``servers`` (registered through the CLI
    when its value is true, else through the API), all online; stopped and cleaned up after."""
    api = api_client(hub)
    hub.closing.append(api)
    made = api.post("/api/v1/projects", json={"name": project})
    assert made.status_code == 201, made.text
    rig = TaskRig(hub, api, made.json()["id"], root)
    try:
        for name, via_cli in servers.items():
            rig.add_server(name, daemon_factory(name), via_cli=via_cli)
        rig.wait_online()
        yield rig
    finally:
        for server in rig.servers.values():
            server.daemon.kill(signal.SIGTERM)
        rig.close()
