"""Private files: config, machine id and state hold or point at secrets (SPEC §10: 0600/0700)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) so that the directories we create are 0700.

    Directories that already exist are left alone: the user may have chosen their modes (for
    example a shared ``~/.config``), and tightening them behind their back would surprise.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=DIR_MODE)
        # mkdir's mode is filtered by the umask; chmod states the intent exactly.
        os.chmod(path, DIR_MODE)


def write_private_file(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600.

    Readers (another process running ``agent status``) see either the old or the new content,
    never a torn file. ``durable`` fsyncs before the rename so a power cut cannot leave an empty
    config behind; state files skip it because losing the last update is harmless.
    """
    ensure_private_dir(path.parent)
    # mkstemp creates the file 0600 from the start, so the secret is never world-readable.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets you open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
