"""``orchestratia hub …`` run as a separate process against a test hub's database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.running_hub import RunningHub

REPO = Path(__file__).resolve().parents[2]


def _env(hub: RunningHub, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "ORCHESTRATIA_DATABASE_URL": hub.settings.resolved_database_url(),
        "ORCHESTRATIA_DATA_DIR": str(hub.settings.data_dir),
        "COLUMNS": "200",
        **(extra or {}),
    }


async def hub_cli(hub: RunningHub, *args: str) -> tuple[int, str]:
    """Run ``orchestratia hub …`` as an operator would, against this hub's database."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestratia", "hub", *args,
        env=_env(hub), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def run_cli(
    hub: RunningHub,
    *args: str,
    module: str = "orchestratia",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args…`` on this hub's data dir and database (``env`` added),
    with its output and errors apart."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        env=_env(hub, env), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
