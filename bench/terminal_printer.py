"""The program the terminal data-path benchmarks run in their sessions: ``size`` bytes of numbered
lines tagged with ``tag``, written as fast as it can in 1,000-line writes, once the file ``go``
exists.

Run as a script (``python -I -S terminal_printer.py TAG SIZE GO``: nothing to import, so it starts
fast); the benchmarks import ``chunks`` to know the exact stream to expect. Waiting for ``go``
here, not in the shell, lets many sessions wait together without forking a ``sleep`` each tick,
and start printing within a few milliseconds of each other.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

LINE = b"%03d %09d the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJ\n"


def chunks(tag: int, size: int) -> Iterator[bytes]:
    written, n = 0, 0
    while written < size:
        chunk = b"".join(LINE % (tag, i) for i in range(n, n + 1000))[: size - written]
        yield chunk
        written += len(chunk)
        n += 1000


if __name__ == "__main__":
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
    out = sys.stdout.buffer
    for piece in chunks(int(sys.argv[1]), int(sys.argv[2])):
        out.write(piece)
    out.flush()
