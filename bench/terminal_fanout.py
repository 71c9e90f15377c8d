"""One session to 100 viewers: p99 delivery latency, every viewer byte-identical.

The session prints lines stamped with the wall clock (same machine); each viewer measures arrival
minus stamp per line. Baselines in the same run: one reader tailing a raw tmux pipe-pane file,
and one viewer through the hub (what fan-out to 100 adds over it). CPU of hub, daemon and the
viewers' process (this one) over each run; frames per viewer show how much output was joined.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import CpuWindow, Stack, bar, emit, load_average, machine, percentile, run, stack
from orchestratia.protocol.viewer import unpack_output
from tests.support import wait_sync

VIEWERS = int(os.environ.get("BENCH_VIEWERS", "100"))
LINES = int(os.environ.get("BENCH_LINES", "1000"))
RATE = 200  # lines per second
END = b"END-OF-STREAM"

PRINTER = f"""
import sys, time
for i in range({LINES}):
    sys.stdout.write(f"{{time.time_ns()}} {{i:06d}} " + "x" * 60 + "\\n")
    sys.stdout.flush()
    time.sleep({1 / RATE})
print("{END.decode()}")
"""


def latencies(data: bytes, arrivals: list[tuple[int, int]]) -> list[float]:
    """Per line: arrival time of the frame that completed it minus the stamp it carries."""
    out: list[float] = []
    cursor = 0
    for end, arrived_ns in arrivals:
        while True:
            nl = data.find(b"\n", cursor, end)
            if nl < 0:
                break
            stamp = data[cursor:nl].split(b" ", 1)[0].strip(b"\r")
            if stamp.isdigit():
                out.append((arrived_ns - int(stamp)) / 1e9)
            cursor = nl + 1
    return out


async def viewer(
    st: Stack, session_id: str, ready: asyncio.Event
) -> tuple[bytes, list[float], int]:
    ws = await st.viewer(session_id)
    await ws.send(json.dumps({"type": "join", "resume_offset": 0}))
    ready.set()
    data = bytearray()
    arrivals: list[tuple[int, int]] = []
    while END not in data[-64:]:
        msg = await asyncio.wait_for(ws.recv(), 60)
        if isinstance(msg, bytes):
            offset, chunk = unpack_output(msg)
            if offset != len(data):
                raise RuntimeError(f"viewer saw a hole/overlap at {len(data)} vs {offset}")
            data += chunk
            arrivals.append((len(data), time.time_ns()))
    await ws.close()
    return bytes(data), latencies(bytes(data), arrivals), len(arrivals)


async def through_hub(st: Stack, printer: Path, name: str, viewers: int) -> dict[str, object]:
    session_id = st.start_session(name, f"sleep 3; {sys.executable} {printer}; sleep 60")
    readies = [asyncio.Event() for _ in range(viewers)]
    tasks = [asyncio.create_task(viewer(st, session_id, r)) for r in readies]
    await asyncio.gather(*(r.wait() for r in readies))
    pids = {"hub": st.procs["hub"].pid, "daemon": st.procs["daemon"].pid, "viewers": os.getpid()}
    window = CpuWindow(pids)
    results = await asyncio.gather(*tasks)
    cpu = window.stop()
    digests = {hashlib.sha256(data).hexdigest() for data, _, _ in results}
    samples = [s for _, lat, _ in results for s in lat]
    lines = len(results[0][1])
    return {
        "viewers": viewers,
        "byte_identical": len(digests) == 1,
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "lines_per_viewer": lines,
        "frames_per_viewer": round(statistics.fmean(n for _, _, n in results), 1),
        # The viewers are this process: if it is busy, they, not the hub, may be the limit.
        "cpu_percent": {name: cpu.percent(name) for name in pids},
        "hub_cpu_us_per_viewer_line": round(cpu.seconds["hub"] * 1e6 / (lines * viewers), 1),
    }


def raw_tmux(root: Path, printer: Path) -> dict[str, float]:
    sock, log = f"orc-bench-fan-{os.getpid()}", root / "raw-fan.log"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            "fan",
            f"sleep 0.5; {sys.executable} {printer}; sleep 30",
        ],
        check=True,
    )
    subprocess.run([*tmux, "pipe-pane", "-t", "fan", f"cat >> {log}"], check=True)
    try:
        wait_sync(log.exists, 10, "raw log")
        data = bytearray()
        arrivals: list[tuple[int, int]] = []
        with log.open("rb") as fh:
            while END not in data[-64:]:
                chunk = fh.read()
                if chunk:
                    data += chunk
                    arrivals.append((len(data), time.time_ns()))
                else:
                    time.sleep(0.0005)
        samples = latencies(bytes(data), arrivals)
        return {
            "p50_ms": round(percentile(samples, 50) * 1000, 2),
            "p99_ms": round(percentile(samples, 99) * 1000, 2),
        }
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


async def main() -> None:
    load_before = load_average()
    with stack() as st:
        printer = st.root / "printer.py"
        printer.write_text(PRINTER)
        raw = raw_tmux(st.root, printer)
        one = await through_hub(st, printer, "one-viewer", 1)
        hub = await through_hub(st, printer, "fanout", VIEWERS)
    emit(
        {
            "bench": "terminal_fanout",
            "raw_tmux_one_reader": raw,
            "through_hub_one_viewer": one,
            "through_hub": hub,
            "p99_vs_raw_one_reader": ratio(hub["p99_ms"], raw["p99_ms"]),
            "p99_vs_hub_one_viewer": ratio(hub["p99_ms"], one["p99_ms"]),
            "bars": {
                "p99_ms": bar(_ms(hub["p99_ms"]), 250, at_least=False, ok=_identical(hub)),
            },
            **machine(load_before),
        }
    )


def _ms(value: object) -> float:
    assert isinstance(value, float)
    return value


def _identical(figures: dict[str, object]) -> bool:
    return figures["byte_identical"] is True


def ratio(a: object, b: object) -> float:
    return round(_ms(a) / _ms(b), 2) if _ms(b) else float("nan")


if __name__ == "__main__":
    run(main)
