"""A mixed workload: 20 sessions each printing 5 MB at once, each watched by one viewer,
recording on: aggregate MB/s at the viewers, hub CPU % of one core, every viewer stream and every
recording byte-identical.

Baseline in the same run: 20 raw tmux sessions with ``pipe-pane`` into files, released together
on the same machine. Aggregate MB/s is all bytes over the time from the first byte to the last
one at the consumers (files, viewers); hub and daemon CPU are counted from the release until
every recording holds its whole stream.

``BENCH_SESSIONS`` (default 20), ``BENCH_MB`` (per session, default 5) and ``BENCH_ROUNDS`` (raw
and hub pairs, alternating; default 3) shorten or lengthen it.
"""

from __future__ import annotations

import os

from harness import MB, bar, emit, interleaved, load_average, machine, medians, run, stack

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "20"))
SIZE = int(os.environ.get("BENCH_MB", "5")) * MB
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


async def main() -> None:
    load_before = load_average()
    with stack() as st:
        pairs = await interleaved(st, SESSIONS, SIZE, ROUNDS)
    figures = medians(pairs)
    emit(
        {
            "bench": "terminal_mixed",
            "sessions": SESSIONS,
            "bytes_printed_per_session": SIZE,
            "pairs": pairs,
            **figures,
            "bars": {
                "ratio": bar(figures["ratio"], 0.5, at_least=True, ok=figures["byte_identical"])
            },
            **machine(load_before),
        }
    )


if __name__ == "__main__":
    run(main)
