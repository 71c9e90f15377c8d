"""What tmux reports about panes: alive or dead and how, size, capture; parsed from formats."""

from __future__ import annotations

from dataclasses import dataclass

STATUS_FORMAT = "#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}"
LIST_FORMAT = (
    "#{session_name}\t#{pane_pid}\t#{pane_width}\t#{pane_height}\t#{pane_pipe}\t#{pane_id}\t"
    + STATUS_FORMAT
)


@dataclass(frozen=True)
class PaneStatus:
    dead: bool
    exit_status: int | None = None
    exit_signal: int | None = None

    @property
    def exit_code(self) -> int | None:
        """Shell convention: the status, or 128 + signal for a program killed by a signal."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.exit_status


@dataclass(frozen=True)
class SessionInfo:
    name: str
    pane_pid: int
    dead: bool
    exit_status: int | None
    cols: int
    rows: int
    exit_signal: int | None
    capturing: bool
    pane_id: str

    @property
    def status(self) -> PaneStatus:
        return PaneStatus(self.dead, self.exit_status, self.exit_signal)


def _int_or_none(text: str) -> int | None:
    return int(text) if text.strip() else None


def parse_status(line: str) -> PaneStatus:
    """A ``STATUS_FORMAT`` line."""
    dead, status, sig = line.rstrip("\n").split("\t")
    return PaneStatus(dead == "1", _int_or_none(status), _int_or_none(sig))


def parse_listing(out: str) -> list[SessionInfo]:
    """``list-panes -a -F LIST_FORMAT`` output: one entry per session (its first pane)."""
    sessions: dict[str, SessionInfo] = {}
    for line in out.splitlines():
        name, pid, cols, rows, pipe, pane_id, *rest = line.split("\t")
        st = parse_status("\t".join(rest))
        info = SessionInfo(
            name, int(pid), st.dead, st.exit_status, int(cols), int(rows),
            st.exit_signal, pipe == "1", pane_id,
        )  # fmt: skip
        sessions.setdefault(name, info)  # our sessions have one pane; keep the first
    return list(sessions.values())
