"""One session's output to one viewer, recording on: MB/s, bytes verified, CPU per MB.

Baseline in the same run: the same program in raw tmux with pipe-pane into a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import Stack, emit, run, stack
from orchestratia.protocol.viewer import unpack_output
from tests.support import wait_sync

MB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_MB", "32")) * MB
LINE = b"%09d the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJ\n"

GENERATOR = """
import sys
out = sys.stdout.buffer
line = %r
size = %d
i = 0
written = 0
while written < size:
    chunk = b"".join(line %% n for n in range(i, i + 1000))
    chunk = chunk[: size - written]
    out.write(chunk)
    written += len(chunk)
    i += 1000
out.flush()
"""


def expected_bytes() -> bytes:
    raw = bytearray()
    i = 0
    while len(raw) < SIZE:
        raw += b"".join(LINE % n for n in range(i, i + 1000))
        i += 1000
    # The PTY turns every \n into \r\n (onlcr).
    return bytes(raw[:SIZE]).replace(b"\n", b"\r\n")


def write_generator(root: Path) -> Path:
    path = root / "gen.py"
    path.write_text(GENERATOR % (LINE, SIZE))
    return path


def raw_tmux(root: Path, gen: Path, total: int) -> float:
    sock, log = f"orc-bench-tp-{os.getpid()}", root / "raw-tp.log"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            "tp",
            "-x",
            "120",
            "-y",
            "40",
            f"sleep 0.5; {sys.executable} {gen}; sleep 30",
        ],
        check=True,
    )
    subprocess.run([*tmux, "pipe-pane", "-t", "tp", f"cat >> {log}"], check=True)
    try:
        wait_sync(lambda: log.exists() and log.stat().st_size > 0, 10, "raw output starts")
        start = time.perf_counter()
        wait_sync(lambda: log.stat().st_size >= total, 120, "raw output complete")
        return total / (time.perf_counter() - start) / MB
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


async def through_hub(st: Stack, gen: Path, expected: bytes) -> dict[str, float | bool]:
    session_id = st.start_session("throughput", f"sleep 2; {sys.executable} {gen}; sleep 60")
    ws = await st.viewer(session_id)
    await ws.send(json.dumps({"type": "join", "resume_offset": 0}))
    hub, daemon = st.process("hub"), st.process("daemon")
    received = bytearray()
    start = 0.0
    cpu0 = (sum(hub.cpu_times()[:2]), sum(daemon.cpu_times()[:2]))
    while len(received) < len(expected):
        msg = await asyncio.wait_for(ws.recv(), 60)
        if not isinstance(msg, bytes):
            continue
        offset, data = unpack_output(msg)
        if offset != len(received):
            raise RuntimeError(f"hole or overlap at {len(received)} (frame at {offset})")
        if not received:
            start = time.perf_counter()
        received += data
    elapsed = time.perf_counter() - start
    cpu1 = (sum(hub.cpu_times()[:2]), sum(daemon.cpu_times()[:2]))
    await ws.close()
    megabytes = len(received) / MB
    recording = st.api().get(
        f"/api/v1/sessions/{session_id}/output", params={"offset": 0, "limit": 4 * MB}
    )
    return {
        "mb_per_s": round(megabytes / elapsed, 2),
        "byte_identical": hashlib.sha256(received).digest() == hashlib.sha256(expected).digest(),
        "recording_head_matches": recording.content == expected[: len(recording.content)],
        "hub_cpu_ms_per_mb": round((cpu1[0] - cpu0[0]) * 1000 / megabytes, 2),
        "daemon_cpu_ms_per_mb": round((cpu1[1] - cpu0[1]) * 1000 / megabytes, 2),
    }


async def main() -> None:
    expected = expected_bytes()
    with stack() as st:
        gen = write_generator(st.root)
        raw = raw_tmux(st.root, gen, len(expected))
        hub = await through_hub(st, gen, expected)
    emit(
        {
            "bench": "terminal_throughput",
            "bytes": len(expected),
            "raw_pipe_pane_mb_per_s": round(raw, 2),
            "through_hub": hub,
            "ratio": round(float(hub["mb_per_s"]) / raw, 3),
            "bar_ratio": 0.75,
        }
    )


if __name__ == "__main__":
    run(main)
