"""A real OpenSSH server for the SSH tunnel tests: ``/usr/sbin/sshd -D`` on a loopback port with
a host key, config, authorized keys and pid file in the test's tmp dir, and a throwaway user.

As root the user is made with ``useradd`` (and removed after); otherwise sshd can only
authenticate the user it runs as, so the test logs in as itself."""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support import IN_CI, free_port, wait_sync

SSHD = Path("/usr/sbin/sshd")


def need_sshd() -> None:
    """Fail in CI, skip elsewhere, when OpenSSH's server is not installed."""
    if not SSHD.exists():
        reason = f"{SSHD} is missing (scripts/test-deps.sh installs openssh-server)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def make_host_key(path: Path) -> str:
    """A fresh ed25519 host key at ``path``; its SHA256 fingerprint as ssh-keygen prints it."""
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30
    )
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()[1]


@dataclass
class Sshd:
    root: Path
    port: int
    user: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def host_key(self) -> Path:
        return self.root / "host_ed25519"

    @property
    def log(self) -> Path:
        """The log of the current run (each start writes a new one)."""
        return self.root / f"sshd-{self.starts}.log"

    def authorize(self, public_key_line: str) -> None:
        keys = self.root / "authorized_keys"
        keys.mkdir(mode=0o755, exist_ok=True)
        (keys / self.user).write_text(public_key_line.strip() + "\n")
        (keys / self.user).chmod(0o644)

    def _config(self) -> Path:
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}/%u",
                    f"AllowUsers {self.user}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "AllowTcpForwarding remote",
                    "GatewayPorts no",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin no",
                    "X11Forwarding no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        return config

    def start(self) -> None:
        self.starts += 1
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self._config()), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
        )
        wait_sync(self._listening, 10, f"sshd listening (log: {self.log})", 0.05)

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()}")
        return "Server listening" in (self.log.read_text() if self.log.exists() else "")

    def stop(self) -> None:
        """Kill sshd and every connection it serves: a restart that drops the tunnel (a plain
        SIGTERM to the listener would leave established connections running)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            family = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
        except psutil.NoSuchProcess:
            family = []
        for member in family:
            with suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        psutil.wait_procs(family, timeout=10)

    def restart(self, *, new_host_key: bool = False) -> str | None:
        """Stop, then start again on the same port; with ``new_host_key`` the server has a new
        identity (its fingerprint is returned)."""
        self.stop()
        fingerprint = make_host_key(self.host_key) if new_host_key else None
        self.start()
        return fingerprint

    def accepted_logins(self) -> int:
        """Public-key logins the current run accepted."""
        return self.log.read_text().count(f"Accepted publickey for {self.user}")


@contextmanager
def throwaway_user() -> Iterator[str]:
    """A user to log in as: a new one made (and removed) when running as root, else us."""
    if os.geteuid() != 0:
        yield getpass.getuser()
        return
    name = f"orctun{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
        check=True,
        timeout=30,
    )
    try:
        # Without PAM, sshd refuses a locked account ("!" in shadow); "*" is no password at all.
        subprocess.run(["usermod", "-p", "*", name], check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, timeout=30)


@contextmanager
def running_sshd() -> Iterator[tuple[Sshd, str]]:
    """An sshd for a throwaway user, and its host key's fingerprint. Its files live outside
    pytest's tmp dir, which is private to us: the user sshd reads authorized keys as must
    reach them."""
    need_sshd()
    root = Path(tempfile.mkdtemp(prefix="orc-sshd-"))
    root.chmod(0o755)
    try:
        with throwaway_user() as user:
            sshd = Sshd(root, free_port(), user)
            fingerprint = make_host_key(sshd.host_key)
            sshd.start()
            try:
                yield sshd, fingerprint
            finally:
                sshd.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
