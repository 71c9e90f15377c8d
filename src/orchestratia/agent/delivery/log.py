"""Which deliveries were already typed into a session: ``deliveries.json`` in its directory.

The hub resends every delivery it has no ack for when the daemon reconnects, and a daemon that
restarts has lost its memory; this file is how a resent id is acknowledged again without being
typed twice. An id is recorded right after its line was typed and submitted: a crash in between
types it again, which is better than a message the agent never sees. The file keeps the last
``limit`` ids (the hub resends only recent deliveries) and goes away with the session's
directory.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from pathlib import Path

from orchestratia.agent.files import write_private_file

log = logging.getLogger(__name__)

FILE_NAME = "deliveries.json"
LIMIT = 500


class TypedLog:
    """The ids typed into one session, oldest first, loaded from and saved to ``directory``."""

    def __init__(self, directory: Path, limit: int = LIMIT) -> None:
        self.path = directory / FILE_NAME
        self.limit = limit
        self._ids: deque[str] = deque(maxlen=limit)
        self._load()

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, delivery_id: str) -> None:
        """Remember ``delivery_id`` and save (atomically, 0600); a save that fails is logged."""
        if delivery_id in self._ids:
            return
        self._ids.append(delivery_id)
        if not self.path.parent.is_dir():
            return  # the session ended and its directory is gone: never create it again
        data = json.dumps({"typed": list(self._ids)}, separators=(",", ":")).encode() + b"\n"
        try:
            write_private_file(self.path, data)
        except OSError as exc:
            log.warning(
                "cannot save %s: %s; a resend after a restart may be typed again", self.path, exc
            )

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return
        try:
            typed = json.loads(text)["typed"]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s: not a list of typed ids (%s)", self.path, exc)
            return
        if isinstance(typed, list):
            self._ids.extend(item for item in typed if isinstance(item, str))
