"""One session's output to one viewer, recording on: MB/s, bytes verified, CPU per MB relayed.

Baseline in the same run: the same printer in raw tmux with ``pipe-pane`` into a file; the two
alternate (raw, hub, raw, hub, ...) and each pair gives a ratio. Hub and daemon CPU come from
``/proc/<pid>/stat`` over each hub run, from the release of the printer until the recording holds
every byte; the viewer's stream and the whole recording (read back through the REST API) must
both equal the printed stream.

``BENCH_MB`` (default 32) sets the stream's size, ``BENCH_ROUNDS`` (default 3) the pairs.
"""

from __future__ import annotations

import os

from harness import MB, bar, emit, interleaved, load_average, machine, medians, run, stack

SIZE = int(os.environ.get("BENCH_MB", "32")) * MB
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


async def main() -> None:
    load_before = load_average()
    with stack() as st:
        pairs = await interleaved(st, 1, SIZE, ROUNDS)
    figures = medians(pairs)
    emit(
        {
            "bench": "terminal_throughput",
            "bytes_printed": SIZE,
            "pairs": pairs,
            **figures,
            "bars": {
                "ratio": bar(figures["ratio"], 0.75, at_least=True, ok=figures["byte_identical"]),
                "hub_cpu_ms_per_mb": bar(figures["hub_cpu_ms_per_mb"], 12.5, at_least=False),
                "daemon_cpu_ms_per_mb": bar(figures["daemon_cpu_ms_per_mb"], 10.0, at_least=False),
            },
            **machine(load_before),
        }
    )


if __name__ == "__main__":
    run(main)
