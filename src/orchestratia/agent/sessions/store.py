"""What the daemon owns on disk: one private directory per session, described by ``meta.json``.

The directory (see ``output_log.SessionPaths``) outlives the daemon process, as the tmux session
does: after a restart, ``load_all`` tells which tmux sessions are ours, where their logs are and,
for sessions whose tmux session has gone, the exit code recorded before it went.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from orchestratia.agent.files import write_private_file
from orchestratia.agent.sessions.output_log import SessionPaths

log = logging.getLogger(__name__)

META_FILE = "meta.json"
TMUX_PREFIX = "orc-"


def tmux_name_for(session_id: str) -> str:
    """The tmux session name of a hub session: the full id, so names never collide."""
    return TMUX_PREFIX + session_id


@dataclass(frozen=True)
class SessionMeta:
    session_id: str
    project_id: str
    tmux_name: str
    created: str  # ISO 8601 UTC
    working_dir: str = ""
    pid: int | None = None
    exit_code: int | None = None  # recorded once the pane has died, before its tmux session goes

    @classmethod
    def new(cls, session_id: str, project_id: str, working_dir: str) -> SessionMeta:
        now = datetime.now(UTC).isoformat()
        return cls(session_id, project_id, tmux_name_for(session_id), now, working_dir)

    def evolve(self, **changes: object) -> SessionMeta:
        return replace(self, **changes)  # type: ignore[arg-type]


class SessionStore:
    """Session directories under ``root`` (created 0700 on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def paths(self, session_id: str) -> SessionPaths:
        """The session's files; creates its directory. ``ValueError`` for an unsafe id."""
        return SessionPaths.for_session(self.root, session_id)

    def save(self, paths: SessionPaths, meta: SessionMeta) -> None:
        data = json.dumps(asdict(meta), indent=1).encode("utf-8") + b"\n"
        # Durable: after a power cut this file is how we know the tmux session is ours.
        write_private_file(paths.directory / META_FILE, data)

    def load_all(self) -> list[tuple[SessionPaths, SessionMeta]]:
        """Every session directory with readable metadata; others are skipped with a warning."""
        if not self.root.is_dir():
            return []
        found = []
        for directory in sorted(self.root.iterdir()):
            meta_path = directory / META_FILE
            if not directory.is_dir() or not meta_path.exists():
                continue
            try:
                meta = SessionMeta(**json.loads(meta_path.read_text(encoding="utf-8")))
                if meta.session_id != directory.name:
                    raise ValueError(f"names session {meta.session_id!r}")
                found.append((self.paths(meta.session_id), meta))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("ignoring session directory %s: bad %s (%s)", directory, META_FILE, exc)
        return found

    def remove(self, paths: SessionPaths) -> None:
        """Delete the session's directory: only once the hub holds all of its output."""
        shutil.rmtree(paths.directory, ignore_errors=True)
