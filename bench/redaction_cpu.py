"""CPU the daemon's secret redaction costs per MB of terminal output (SPEC §13: ≤ 10 ms/MB).

In process, no hub: ~10 MB of mixed terminal output (plain log lines, coloured ``ls`` and
``grep --color`` lines, a compiler's coloured diagnostics, base64 and JSON blobs: about one
escape sequence every 30 bytes) is fed to one ``Redactor`` in the stream's 64 KB reads, and the
process CPU time is measured. Two mixes: ``typical`` has a secret (some coloured) every ~2,000
lines; ``secret_dense`` one every 25 lines, the worst case for the per-secret work. Several
runs of each; the best and the median are reported.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time

from orchestratia.agent.redaction import Redactor

MB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_MB", "10")) * MB
CHUNK = 64 * 1024
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def mixed_output(size: int, secret_weight: float) -> bytes:
    rng = random.Random(11)
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    b64 = alnum + "+/"

    def word(k: int, alphabet: str = alnum) -> str:
        return "".join(rng.choices(alphabet, k=k))

    makers = [
        lambda i: f"{i:09d} INFO worker-{i % 7} handled request /api/v1/tasks/{word(8)} in 3ms",
        lambda i: (
            "\x1b[0m\x1b[01;34msrc\x1b[0m  \x1b[01;32mrun.sh\x1b[0m  README.md  "
            f"\x1b[01;36mlink-{i}\x1b[0m"
        ),
        lambda i: (
            f"src/app_{i % 50}.py:\x1b[32m{i % 900}\x1b[0m:    "
            f"return \x1b[01;31m\x1b[Ktoken\x1b[m\x1b[K_for(user)"
        ),
        lambda i: (
            f"\x1b[1msrc/x.c:{i % 99}:5: \x1b[1;31merror: \x1b[0m\x1b[1m"
            f"'task-runner-implements-login' undeclared\x1b[0m"
        ),
        lambda i: word(76, b64),
        lambda i: json.dumps({"id": word(12), "sha": word(40), "n": i, "ok": True}),
        lambda i: f"export GITHUB_TOKEN=\x1b[31mghp_\x1b[0m{word(36)}  # {i}",
        lambda i: f"aws configure set aws_access_key_id AKIA{word(16, alnum[:26] + '234567')}",
    ]
    weights = [40, 15, 15, 10, 8, 8, secret_weight, secret_weight]
    lines: list[str] = []
    total, i = 0, 0
    while total < size:
        line = rng.choices(makers, weights)[0](i) + "\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return "".join(lines).encode()[:size]


def run_once(data: bytes) -> tuple[float, int, int]:
    redactor = Redactor()
    start = time.process_time()
    out = 0
    for offset in range(0, len(data), CHUNK):
        out += len(redactor.feed(data[offset : offset + CHUNK]))
    out += len(redactor.flush())
    return time.process_time() - start, out, sum(redactor.counts.values())


def main() -> None:
    for mix, weight in [("typical", 0.05), ("secret_dense", 2.0)]:
        data = mixed_output(SIZE, weight)
        results = [run_once(data) for _ in range(RUNS)]
        cpu = [seconds * 1000 / (len(data) / MB) for seconds, _, _ in results]
        report = {
            "bench": "redaction_cpu",
            "mix": mix,
            "mb": round(len(data) / MB, 2),
            "escapes": data.count(b"\x1b"),
            "redactions": results[0][2],
            "cpu_ms_per_mb_best": round(min(cpu), 2),
            "cpu_ms_per_mb_median": round(statistics.median(cpu), 2),
            "target_ms_per_mb": 10,
        }
        print(json.dumps(report))


if __name__ == "__main__":
    main()
