"""The pre-tool-use hook, the daemon's policy service and a real hub together: rules fetched with
the server key and answered over the daemon's socket, an ``ask`` approved in the inbox reaching
the hook as an allow, and every decision shipped to the permission log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from orchestratia.agent.approvals.policy import PolicyService
from orchestratia.agent.config import AgentConfig
from orchestratia.hub.db.approval_models import ToolApproval
from tests.integration.approval_support import create_rule, decide, user_caller
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet
from tests.support import wait_until

SAMPLES = Path(__file__).parent.parent / "unit" / "hook_samples" / "pretooluse"
ENTRY = "from orchestratia.cli.console import main; main()"


async def start_hook(env: dict[str, str], sample: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ENTRY, "hook", "pre-tool-use", "--agent", "claude",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write((SAMPLES / f"{sample}.json").read_bytes())
    await process.stdin.drain()
    process.stdin.close()
    return process


async def answer(process: asyncio.subprocess.Process) -> tuple[str, str]:
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    out = json.loads(stdout)["hookSpecificOutput"]
    return out["permissionDecision"], out["permissionDecisionReason"]


async def pending_approval(hub: RunningHub, session_id: str) -> str | None:
    async with hub.state.sessionmaker() as db:
        row = await db.scalar(
            select(ToolApproval).where(
                ToolApproval.session_id == session_id, ToolApproval.status == "pending"
            )
        )
    return row.id if row is not None else None


async def test_hook_with_hub(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, tmp_path: Path
) -> None:
    await create_rule(admin, "git is fine", "allow", param_pattern="git *")
    await create_rule(admin, "no rm", "deny", param_pattern="rm *")
    caller = await user_caller(admin)
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        config = AgentConfig(
            hub_url=hub.url,
            api_key=f.server["api_key"],
            server_id=f.daemon.server_id,
            name="machine-1",
            state_dir=tmp_path / "state" / "sessions",
        )
        policy = PolicyService(config, ship_interval=0.1)
        await policy.start()
        try:
            policy.link_changed(True)

            def cached_rules() -> int:
                cached = policy.rules.cached
                rules: list[Any] = (cached.rule_set or {}).get("rules", []) if cached else []
                return len(rules)

            await wait_until(lambda: cached_rules() == 2, message="rule set fetched from the hub")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(tmp_path),
                "ORCHESTRATIA_HUB_URL": hub.url,
                "ORCHESTRATIA_API_KEY": work.token,
                "ORCHESTRATIA_SESSION_ID": work.id,
                "ORCHESTRATIA_PROJECT_ID": project_id,
                "ORCHESTRATIA_POLICY_DIR": str(policy.directory),
            }
            assert (await answer(await start_hook(env, "claude_allow_git_status")))[0] == "allow"
            action, reason = await answer(await start_hook(env, "claude_deny_rm_rf"))
            assert action == "deny" and "no rm" in reason

            asking = await start_hook(env, "claude_ask_webfetch")
            approval_id = await wait_until(
                lambda: pending_approval(hub, work.id), timeout=30, message="the hook's ask"
            )
            assert await decide(hub, caller, approval_id, decision_id="d-1") == "applied"
            action, reason = await answer(asking)
            assert action == "allow" and "alice@a.example" in reason

            await wait_until(lambda: policy.shipper.shipped == 3, message="log shipped")
            res = await admin.get("/api/v1/permissions", params={"session_id": work.id})
            assert res.status_code == 200, res.text
            logged = {(e["tool"], e["decision"], e["decided_by"]) for e in res.json()["entries"]}
            assert logged == {
                ("Bash", "allowed", "rule"),
                ("Bash", "denied", "rule"),
                ("WebFetch", "allowed", "user"),
            }
        finally:
            await policy.stop()
