"""Upstream complete → dependent triggered (SPEC §13: p99 ≤ 100 ms), on loopback.

The same rig as ``task_dispatch.py``: a real hub process and a benchmark-only protocol-2 daemon
over a real WebSocket. Each sample is a two-task pipeline, ``upstream`` assigned to one session
and ``downstream`` (an ``input`` dependency on ``upstream``'s contract) assigned to another, so
the downstream task is assigned but blocked. The upstream session starts its task, then the clock
runs from the start of its ``POST /api/v1/server/tasks/{id}/complete`` (agent API, session token,
a result carrying the contract) to the arrival at the daemon of the downstream task's
``task_assigned`` frame with reason ``unblocked``. The downstream session then works its task
(not timed) and the check that its ``resolved_inputs`` hold the contract is made on every pair.

Run: ``.venv/bin/python bench/cascade.py`` (``BENCH_SAMPLES`` overrides the 100 samples). The
last line of output is one JSON object of figures.
"""

from __future__ import annotations

import asyncio
import os
import time

from harness import emit, run, stack, summary_ms
from task_dispatch import FRAME_TIMEOUT, TaskBench, task_bench

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "100"))
WARMUP = 10
BAR_P99_MS = 100.0
CONTRACT = {"type": "api_schema", "description": "bench", "endpoints": {"GET /x": {}}}


async def pair(bench: TaskBench, i: int) -> tuple[str, str]:
    up, down = bench.sessions[0], bench.sessions[1]
    res = await bench.admin.post(
        "/api/v1/pipelines",
        json={
            "project_id": bench.st.project_id,
            "tasks": [
                {"id": "up", "title": f"upstream {i}", "assign": up.name},
                {
                    "id": "down",
                    "title": f"downstream {i}",
                    "assign": down.name,
                    "depends_on": [{"task": "up", "type": "input", "contract_key": "api"}],
                },
            ],
        },
    )
    res.raise_for_status()
    ids = res.json()["id_map"]
    return str(ids["up"]), str(ids["down"])


async def cascade(bench: TaskBench) -> tuple[list[float], list[float], int]:
    """Samples of complete → unblocked frame and of complete → HTTP reply."""
    to_frame: list[float] = []
    to_reply: list[float] = []
    frame_first = 0
    up, down = bench.sessions[0], bench.sessions[1]
    for i in range(WARMUP + SAMPLES):
        up_id, down_id = await pair(bench, i)
        await asyncio.wait_for(
            bench.daemon.expect("task_assigned", up_id, "assigned"), FRAME_TIMEOUT
        )
        (await up.client.post(f"/tasks/{up_id}/start")).raise_for_status()
        unblocked = bench.daemon.expect("task_assigned", down_id, "unblocked")
        start = time.perf_counter()
        res = await up.client.post(
            f"/tasks/{up_id}/complete",
            json={"result": {"summary": "ok", "contracts": {"api": CONTRACT}}},
        )
        replied = time.perf_counter()
        res.raise_for_status()
        at = await asyncio.wait_for(unblocked, FRAME_TIMEOUT)
        if i >= WARMUP:
            to_frame.append(at - start)
            to_reply.append(replied - start)
            frame_first += at < replied
        task = (await down.client.get(f"/tasks/{down_id}")).json()
        if task["resolved_inputs"] != {"api": CONTRACT}:
            raise RuntimeError(f"contract did not flow: {task['resolved_inputs']}")
        await bench.finish(down, down_id)
    return to_frame, to_reply, frame_first


async def main() -> None:
    with stack(daemon=False) as st:
        async with task_bench(st, 2) as bench:
            to_frame, to_reply, frame_first = await cascade(bench)
    frame = summary_ms(to_frame)
    emit(
        {
            "bench": "cascade",
            "what": "upstream complete (agent API) start -> dependent's task_assigned (unblocked)",
            "database": "sqlite (embedded)",
            "complete_to_frame": frame,
            "complete_to_http_reply": summary_ms(to_reply),
            "frame_before_reply": frame_first,
            "bar_p99_ms": BAR_P99_MS,
            "meets_bar": frame["p99_ms"] <= BAR_P99_MS,
        }
    )


if __name__ == "__main__":
    run(main)
