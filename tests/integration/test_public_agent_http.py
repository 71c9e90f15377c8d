"""The public agent v0.20's HTTP calls (SPEC §5), replayed from recorded fixtures against a real
hub: each reply carries every field the public CLI or daemon reads, with the right type, and says
what is true of this hub."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from orchestratia.cli.main import app
from tests.integration.public_agent_http import missing_reads, recorded, replay
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet


def test_the_reply_check_finds_missing_and_mistyped_fields() -> None:
    spec = recorded("status")["reply"]["reads"]
    assert missing_reads(spec, {"connected": True}) != []
    good = {
        "connected": True,
        "server_name": "s",
        "server_id": "1",
        "session_id": None,
        "session_name": None,
        "project_id": "p",
        "project_name": "P",
        "role": None,
        "task_summary": {"pending": 0, "running": 1, "total": 1},
        "tasks": [{"id": "t", "title": "x", "status": "running"}],
    }
    assert missing_reads(spec, good) == []
    assert missing_reads(spec, {**good, "connected": "yes"}) == [
        "reply.connected: 'yes' is not bool"
    ]
    assert missing_reads(spec, {**good, "tasks": [{"id": "t"}]}) == [
        "reply.tasks[0].title: missing",
        "reply.tasks[0].status: missing",
    ]
    assert missing_reads(
        spec, {**good, "task_summary": {"pending": True, "running": 0, "total": 0}}
    )


async def test_status_answers_what_the_public_cli_prints(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, tmp_path: Path
) -> None:
    async with fleet(hub, admin, project_id) as f:
        session = await f.session("worker")
        running, waiting = await f.task("Schema"), await f.task("API")
        for task in (running, waiting):
            await f.assign(task["id"], "worker")
        async with f.server_client() as by_key:
            started = await by_key.post(f"/tasks/{running['id']}/start")
            assert started.status_code == 200, started.text
        call = recorded("status")
        res = await replay(hub.url, call, api_key=f.server["api_key"], session_id=session.id)
        assert res.status_code == call["reply"]["status"], res.text
        body = res.json()
        assert missing_reads(call["reply"]["reads"], body) == []
        project = (await admin.get(f"/api/v1/projects/{project_id}")).json()
        assert body["connected"] is True
        assert (body["server_id"], body["server_name"]) == (f.daemon.server_id, f.server["name"])
        assert (body["session_id"], body["session_name"]) == (session.id, "worker")
        assert (body["project_id"], body["project_name"]) == (project_id, project["name"])
        assert body["task_summary"] == {"pending": 1, "running": 1, "total": 2}
        assert {t["id"] for t in body["tasks"]} == {running["id"], waiting["id"]}
        # Our own CLI reads the nested objects, from a session token as from the server key.
        mine = (await session.client.get("/status")).json()
        assert (mine["session"]["name"], mine["project"]["id"], mine["server"]["id"]) == (
            "worker",
            project_id,
            f.daemon.server_id,
        )
        assert missing_reads(call["reply"]["reads"], mine) == []
        # ...and prints them, through the real CLI (in a thread: the hub shares this loop).
        env = {
            "ORCHESTRATIA_HUB_URL": hub.url,
            "ORCHESTRATIA_API_KEY": session.token,
            "ORCHESTRATIA_SESSION_ID": session.id,
            "ORCHESTRATIA_AGENT_CONFIG": str(tmp_path / "absent.yaml"),
        }
        printed = await asyncio.to_thread(CliRunner().invoke, app, ["status"], env=env)
        assert printed.exit_code == 0, printed.output
        assert f"session: worker ({session.id})  role: worker" in printed.output
        assert "Schema" in printed.output and "API" in printed.output
        # The server key outside any session: the server, no session, no tasks.
        outside = await replay(hub.url, call, api_key=f.server["api_key"], session_id="")
        body = outside.json()
        assert missing_reads(call["reply"]["reads"], body) == []
        assert (body["connected"], body["session_id"], body["task_summary"]["total"]) == (
            True,
            None,
            0,
        )


@pytest.mark.parametrize(
    "name",
    ["files_pending", "files_pulls_pending", "access_grants_cli", "access_grants_daemon"],
)
async def test_features_this_hub_lacks_answer_nothing_pending(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, name: str
) -> None:
    call = recorded(name)
    async with fleet(hub, admin, project_id) as f:
        res = await replay(hub.url, call, api_key=f.server["api_key"])
        assert res.status_code == call["reply"]["status"], res.text
        # Nothing to upload or pull and no SSH grants: this hub has no such features (yet), and
        # an empty list is what the public daemon skips and its CLI prints as "no grants".
        assert res.json() == []
        assert missing_reads(call["reply"]["reads"], res.json()) == []
        session = await f.session("worker")
        assert (await replay(hub.url, call, api_key=session.token)).json() == []
        wrong = await replay(hub.url, call, api_key="orc_wrong")
        assert wrong.status_code == 401
