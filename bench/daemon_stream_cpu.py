"""CPU the daemon's output path costs per MB: log read → redaction → frame, in process.

One session's ``OutputStream`` streams a log of ``BENCH_MB`` (default 32) of the throughput
bench's lines to a stand-in for the hub link that does to each frame what ``HubConnection``
does before the socket (JSON: serialise and encode; binary: nothing) and acks it at once. Three
formats, interleaved over ``BENCH_RUNS`` rounds, the median reported: ``binary`` (protocol 3),
``json`` (protocol 2 as sent now) and ``json_validated`` (protocol 2 as sent before: the frame
validated, its base64 decoded again by the validator). Not measured here: the WebSocket library
(masking, socket writes) and the wake-ups of a log still being written; ``terminal_throughput``
measures the whole daemon.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from orchestratia.agent.metrics import AgentMetrics
from orchestratia.agent.sessions.hub_link import HubLink
from orchestratia.agent.sessions.output_log import SessionPaths
from orchestratia.agent.sessions.stream import OutputStream
from orchestratia.protocol.base import dump
from orchestratia.protocol.output_frames import unpack_session_output
from orchestratia.protocol.sessions import SessionOutputFrame

MB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_MB", "32")) * MB
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LINE = b"%09d the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJ\r\n"
FORMATS = ("binary", "json", "json_validated")


class Wire:
    """The hub link's last steps before the socket, acking every output frame at once."""

    def __init__(self, fmt: str) -> None:
        self.binary_output = fmt == "binary"
        self.validate = fmt == "json_validated"
        self.stream: OutputStream | None = None
        self.frames = 0

    async def send(self, frame: BaseModel) -> None:
        if isinstance(frame, SessionOutputFrame):
            if self.validate:
                frame = SessionOutputFrame(**dict(frame))
            text = dump(frame).encode()
            assert frame.offset is not None and text
            size = len(frame.data) // 4 * 3 - frame.data[-2:].count("=")
            self._ack(frame.offset + size)

    async def send_binary(self, message: bytes) -> None:
        frame = unpack_session_output(message)
        self._ack(frame.offset + len(frame.data))

    def _ack(self, offset: int) -> None:
        assert self.stream is not None
        self.frames += 1
        self.stream.on_ack(offset)


async def run_once(root: Path, log: bytes, fmt: str, n: int) -> dict[str, float]:
    paths = SessionPaths.for_session(root, f"{fmt}-{n}")
    paths.log.write_bytes(log)
    wire = Wire(fmt)
    link = HubLink(AgentMetrics())
    link.target = wire
    stream = OutputStream(paths.directory.name, paths, link)
    wire.stream = stream
    cpu, wall = time.process_time(), time.perf_counter()
    stream.start()
    stream.end_of_input(0)
    await stream.wait_done()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await stream.stop()
    assert stream.final_offset == len(log)
    return {"cpu_ms_per_mb": cpu * 1000 / (len(log) / MB), "frames": wire.frames, "wall": wall}


async def main() -> None:
    log = b"".join(LINE % i for i in range(SIZE // len(LINE) + 1))[:SIZE]
    results: dict[str, list[dict[str, float]]] = {fmt: [] for fmt in FORMATS}
    with tempfile.TemporaryDirectory(prefix="orc-bench-stream-") as tmp:
        for n in range(RUNS):
            for fmt in FORMATS:
                results[fmt].append(await run_once(Path(tmp), log, fmt, n))
    report: dict[str, object] = {"bench": "daemon_stream_cpu", "mb": round(len(log) / MB, 2)}
    for fmt, runs in results.items():
        report[fmt] = {
            "cpu_ms_per_mb_median": round(statistics.median(r["cpu_ms_per_mb"] for r in runs), 2),
            "cpu_ms_per_mb_best": round(min(r["cpu_ms_per_mb"] for r in runs), 2),
            "mb_per_s_median": round(statistics.median(len(log) / MB / r["wall"] for r in runs)),
            "frames": runs[0]["frames"],
        }
    report["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
