"""The permission spool: hooks append decisions here, the daemon ships them (SPEC §8).

Every pre-tool-use decision becomes one JSON line (a ``PermissionDecisionEntry`` with an id
minted by the hook) in ``<policy dir>/permissions.jsonl``. Hooks append with ``O_APPEND`` under
an exclusive ``flock`` held only for the one ``write``, so concurrent hooks never interleave
lines, whatever their size.

``rotate`` moves the spool to ``permissions-<ns>.sending`` while holding the same lock; a hook
that opened the old file before the rename notices, once it gets the lock, that the path now
names another file, and appends to the new one instead. Shipping the rotated files is
``permission_shipping``'s job.

The hook's fast path imports this, so it uses only cheap standard-library modules (no
``uuid``, ``datetime``, ``pathlib``, ``tempfile``, ``json`` or ``typing``, each several ms on
our machines).
"""

from __future__ import annotations

import fcntl
import os
import time

from orchestratia.agent.approvals import light_json

TYPE_CHECKING = False  # not typing's: see light_json
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SPOOL_FILE = "permissions.jsonl"
SENDING_GLOB = "permissions-*.sending"
REJECTED_FILE = "permissions-rejected.jsonl"
OPEN_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
PathLike = str | os.PathLike[str]


def _uuid4() -> str:
    # RFC 4122 version 4 from os.urandom, as uuid.uuid4() does, without importing uuid.
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _utc_now() -> str:
    now = time.time()
    micros = int(now % 1 * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{micros:06d}+00:00"


def new_entry(**fields: Any) -> dict[str, Any]:
    """A spool entry: ``fields`` plus a fresh id and the current time (ISO 8601, UTC)."""
    return {"id": _uuid4(), "created_at": _utc_now(), **fields}


def append_entry(directory: PathLike, entry: Mapping[str, Any]) -> None:
    """Append ``entry`` as one line to the spool in ``directory`` (created 0700 if missing)."""
    # ASCII escapes keep lone surrogates from agent JSON encodable; the daemon cleans them.
    line = (light_json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode("ascii")
    directory = os.fspath(directory)
    path = os.path.join(directory, SPOOL_FILE)
    if not os.path.isdir(directory):
        from pathlib import Path

        from orchestratia.agent.files import ensure_private_dir

        ensure_private_dir(Path(directory))
    for _ in range(10):
        fd = os.open(path, OPEN_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            opened = os.fstat(fd)
            try:
                current = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue  # rotated away between our open and our lock: use the new file
            if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
                continue
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            return
        finally:
            os.close(fd)  # also releases the lock
    raise OSError(f"permission spool {path} kept moving; entry not written")


def rotate(directory: PathLike) -> str | None:
    """Move a non-empty spool aside for shipping; its new path, or None if nothing to ship."""
    path = os.path.join(os.fspath(directory), SPOOL_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits out a hook that is mid-append
        if os.fstat(fd).st_size == 0:
            return None
        target = os.path.join(os.fspath(directory), f"permissions-{time.time_ns():020d}.sending")
        os.rename(path, target)
        return target
    finally:
        os.close(fd)
