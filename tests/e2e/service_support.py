"""A systemd unit read back from its file, and a small supervisor that runs its ``ExecStart``
the way systemd would (``Restart=always``, ``RestartSec``, ``Environment``, ``UMask``,
``WorkingDirectory``) on machines where systemd is not PID 1."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Unit:
    """Directives by section, every value of a repeated key kept in order."""

    sections: dict[str, dict[str, list[str]]]

    @classmethod
    def read(cls, path: Path) -> Unit:
        sections: dict[str, dict[str, list[str]]] = {}
        current: dict[str, list[str]] = {}
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
        return cls(sections)

    def one(self, section: str, key: str) -> str:
        values = self.sections[section][key]
        assert len(values) == 1, (key, values)
        return values[0]

    @staticmethod
    def words(value: str) -> list[str]:
        """A unit file's quoted words, specifiers (``%%``) and ``$$`` undone."""
        return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(value)]

    def exec_start(self) -> list[str]:
        return self.words(self.one("Service", "ExecStart"))

    def environment(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for value in self.sections["Service"].get("Environment", []):
            for word in shlex.split(value):
                key, _, val = word.replace("%%", "%").partition("=")
                pairs[key] = val
        return pairs


@dataclass
class Supervisor:
    """Runs ``argv`` and starts it again ``restart_sec`` after every exit (``Restart=always``)
    until ``stop``; every process it started is kept in ``started``."""

    argv: list[str]
    env: dict[str, str]
    restart_sec: float
    umask: int
    cwd: Path
    log: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @classmethod
    def for_unit(cls, unit: Unit, base_env: dict[str, str], log: Path) -> Supervisor:
        assert unit.one("Service", "Restart") == "always"
        return cls(
            argv=unit.exec_start(),
            env=base_env | unit.environment(),
            restart_sec=float(unit.one("Service", "RestartSec")),
            umask=int(unit.one("Service", "UMask"), 8),
            cwd=Path(unit.one("Service", "WorkingDirectory")),
            log=log,
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock, self.log.open("ab") as out:
                if self._stopping.is_set():
                    return
                proc = subprocess.Popen(
                    self.argv,
                    env=self.env,
                    cwd=self.cwd,
                    umask=self.umask,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                self.started.append(proc)
            proc.wait()
            # RestartSec: a pause before the next start, cut short by stop().
            self._stopping.wait(self.restart_sec)

    def current(self) -> subprocess.Popen[bytes]:
        return self.started[-1]

    def stop(self) -> None:
        """Stop restarting and end the running process (SIGTERM, as ``systemctl stop``)."""
        self._stopping.set()
        with self._lock:
            for proc in self.started:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        os.kill(proc.pid, signal.SIGKILL)
                        proc.wait(5)
        if self._thread is not None:
            self._thread.join(20)
