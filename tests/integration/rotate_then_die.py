"""``orchestratia hub rotate-keys`` that dies (SIGKILL, no cleanup) right after its first batch
that re-sealed something was committed: a rotation interrupted half-way, for the tests. The
hook lives here, not in the product."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from orchestratia.cli.hub import app
from orchestratia.hub import key_rotation

_real_batch = key_rotation.reseal_batch


async def _batch_then_die(*args: Any, **kwargs: Any) -> key_rotation.Batch:
    batch = await _real_batch(*args, **kwargs)
    if batch.resealed:
        os.kill(os.getpid(), signal.SIGKILL)
    return batch


if __name__ == "__main__":
    key_rotation.reseal_batch = _batch_then_die
    app(["rotate-keys", *sys.argv[1:]])
