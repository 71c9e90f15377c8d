"""``orchestratia hub …`` run as a separate process against a test hub's database."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.integration.running_hub import RunningHub


async def hub_cli(hub: RunningHub, *args: str) -> tuple[int, str]:
    """Run ``orchestratia hub …`` as an operator would, against this hub's database."""
    env = {
        **os.environ,
        "ORCHESTRATIA_DATABASE_URL": hub.settings.resolved_database_url(),
        "ORCHESTRATIA_DATA_DIR": str(hub.settings.data_dir),
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestratia", "hub", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()
