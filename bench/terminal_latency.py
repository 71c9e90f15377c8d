"""Keystroke → echo latency through viewer WebSocket, hub, daemon, tmux and back (loopback).

Baseline in the same run: a persistent tmux control-mode client types the key and the echo is read
from the pane's pipe-pane log, with no hub or daemon in between.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from harness import Stack, emit, run, stack, summary_ms
from orchestratia.protocol.viewer import unpack_output
from tests.support import wait_sync

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "300"))
WARMUP = 30


async def _until_driver(ws: ClientConnection) -> None:
    while True:
        msg = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(msg, str):
            frame = json.loads(msg)
            if frame.get("type") == "control" and frame["you"]:
                return


async def _drain(ws: ClientConnection, quiet: float = 0.05) -> None:
    while True:
        try:
            await asyncio.wait_for(ws.recv(), quiet)
        except TimeoutError:
            return


async def through_hub(st: Stack) -> list[float]:
    session_id = st.start_session("latency", "cat")
    ws = await st.viewer(session_id)
    await ws.send(json.dumps({"type": "join"}))
    await _until_driver(ws)
    await _drain(ws, 0.5)
    samples: list[float] = []
    for i in range(SAMPLES + WARMUP):
        if i % 50 == 49:
            await ws.send(json.dumps({"type": "input", "data": "\r"}))
            await _drain(ws)
        start = time.perf_counter()
        await ws.send(json.dumps({"type": "input", "data": "x"}))
        while True:
            msg = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(msg, bytes) and b"x" in unpack_output(msg)[1]:
                break
        if i >= WARMUP:
            samples.append(time.perf_counter() - start)
    await ws.close()
    return samples


def raw_tmux(root: Path) -> list[float]:
    sock, name, log = f"orc-bench-raw-{os.getpid()}", "raw", root / "raw.log"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", name, "-x", "120", "-y", "40", "cat"], check=True
    )
    subprocess.run([*tmux, "pipe-pane", "-t", name, f"cat >> {log}"], check=True)
    control = subprocess.Popen(
        [*tmux, "-C", "attach", "-t", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert control.stdin is not None
    try:
        wait_sync(log.exists, 5, "raw pipe-pane log")
        samples: list[float] = []
        for i in range(SAMPLES + WARMUP):
            size = log.stat().st_size
            if i % 50 == 49:
                control.stdin.write(b"send-keys -t raw Enter\n")
                control.stdin.flush()
                time.sleep(0.05)
                size = log.stat().st_size
            start = time.perf_counter()
            control.stdin.write(b"send-keys -t raw -l x\n")
            control.stdin.flush()
            while log.stat().st_size == size:
                pass  # spin: sleeping would dominate a sub-millisecond measurement
            if i >= WARMUP:
                samples.append(time.perf_counter() - start)
        return samples
    finally:
        control.kill()
        subprocess.run([*tmux, "kill-server"], capture_output=True)


async def main() -> None:
    with stack() as st:
        raw = raw_tmux(st.root)
        hub = await through_hub(st)
    figures: dict[str, Any] = {
        "bench": "terminal_latency",
        "raw_tmux": summary_ms(raw),
        "through_hub": summary_ms(hub),
        "bar_p50_ms": 2.0,
        "bar_p99_ms": 5.0,
    }
    figures["ratio_p50"] = round(
        figures["through_hub"]["p50_ms"] / figures["raw_tmux"]["p50_ms"], 2
    )
    emit(figures)


if __name__ == "__main__":
    run(main)
