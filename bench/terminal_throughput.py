"""One session's output to one viewer, recording on: MB/s, bytes verified, CPU per MB relayed.

Baseline in the same run: the same printer in raw tmux with ``pipe-pane`` into a file; the two
alternate (raw, hub, raw, hub, ...) and each pair gives a ratio. Hub and daemon CPU come from
``/proc/<pid>/stat`` over each hub run, from the release of the printer until the recording holds
every byte; the viewer's stream and the whole recording (read back through the REST API) must
both equal the printed stream.

A lone stream is a chain of hand-offs (printer, tmux, cat, daemon, hub, viewer); on a machine with
more runnable threads than cores (``busy`` in the figures) each hand-off waits for a core, raw
tmux slows down most and the MB/s ratio says little. ``cpu_cost_ratio`` (tmux's CPU per MB over
tmux + daemon + hub) holds up better there.

``BENCH_MB`` (default 32) sets the stream's size, ``BENCH_ROUNDS`` (default 3) the pairs. With a
small stream the per-session costs weigh on the CPU per MB.
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
