"""Real processes: ``orchestratia hub serve`` and ``orchestratia agent run`` as subprocesses, and
the admin who logs in to that hub."""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import REDIS_MODE, free_port, wait_sync

PASSWORD = "e2e-password-123"
ADMIN = "admin@e2e.example"


# Child processes get the usual umask, so the modes of the files they create are their own doing.
UMASK = 0o022


def assert_hub_data_private(data_dir: Path) -> None:
    """The hub's data dir is 0700 and its database (with its WAL files) and key are 0600."""
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    modes = {
        name: oct(stat.S_IMODE((data_dir / name).stat().st_mode))
        for name in ("hub.db", "hub.db-wal", "hub.db-shm", "secret_key")
        if (data_dir / name).exists()
    }
    assert modes == dict.fromkeys(("hub.db", "hub.db-wal", "hub.db-shm"), "0o600") | (
        {"secret_key": "0o600"} if "secret_key" in modes else {}
    ), modes


def orchestratia(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestratia", *args]


@dataclass(frozen=True)
class HubTls:
    """The hub's certificate and key, and the CA clients must trust to verify it."""

    certfile: Path
    keyfile: Path
    ca_file: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@dataclass
class HubProcess:
    data_dir: Path
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    closing: list[httpx.Client] = field(default_factory=list)
    # Run when the hub is torn down: what a test set up beside it (a private tmux server).
    teardowns: list[Callable[[], object]] = field(default_factory=list)
    tls: HubTls | None = None  # serve HTTPS/WSS with this certificate
    serve_args: tuple[str, ...] = ()  # more ``hub serve`` options (``--no-migrate``)
    start_timeout: float = 20.0  # several hubs starting at once on a busy machine need more

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client of this hub verifies its certificate with."""
        return self.tls.context() if self.tls else True

    def start(self) -> None:
        tls_args = []
        if self.tls is not None:
            tls_args = ["--certfile", str(self.tls.certfile), "--keyfile", str(self.tls.keyfile)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                orchestratia("hub", "serve", "--port", str(self.port), *tls_args, *self.serve_args),
                env=self.env,
                umask=UMASK,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            # A crashed hub fails at once (``_healthy`` raises); a slow one gets start_timeout.
            wait_sync(self._healthy, self.start_timeout, f"hub health (log: {self.log})")
        except AssertionError:
            self.kill()  # a hub that never became healthy must not outlive the test
            raise

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"hub exited with {self.proc.returncode}: {self.log.read_text()}")
        try:
            with httpx.Client(timeout=1, verify=self.verify) as client:
                return client.get(f"{self.url}/api/v1/health").status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            orchestratia(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            umask=UMASK,
        )


@dataclass
class DaemonProcess:
    config: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def register(self, token: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            orchestratia("agent", "register", token, "--config", str(self.config), *options),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                orchestratia("agent", "run", "--config", str(self.config)),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(sig)
        return self.proc.wait(15)

    def status(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            orchestratia("agent", "status", "--config", str(self.config), "--json"),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )


@contextmanager
def hub_with_admin(
    data_dir: Path, env: dict[str, str], log: Path, tls: HubTls | None = None
) -> Iterator[HubProcess]:
    """A hub process on a free port with the admin (ADMIN / PASSWORD) created, serving for the
    block; then the clients handed out for it are closed and it is stopped with SIGTERM."""
    hub = HubProcess(data_dir, free_port(), env, log, tls=tls)
    created = hub.cli("hub", "create-admin", "--email", ADMIN, "--password", PASSWORD)
    assert created.returncode == 0, created.stderr
    hub.start()
    try:
        yield hub
    finally:
        for client in hub.closing:
            client.close()
        hub.kill(signal.SIGTERM)
        for teardown in hub.teardowns:
            teardown()


def base_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ORCHESTRATIA_DATA_DIR": str(data_dir),
            "ORCHESTRATIA_SECRET_KEY": "e2e-secret-key",
            "ORCHESTRATIA_HEARTBEAT_INTERVAL": "0.5",
            "ORCHESTRATIA_HEARTBEAT_TIMEOUT": "3",
            "ORCHESTRATIA_RESTART_GRACE": "5",
            "ORCHESTRATIA_LIVENESS_SWEEP_INTERVAL": "0.2",
            # The tests' mail catcher listens on 127.0.0.1, a private target refused by default.
            "ORCHESTRATIA_SMTP_ALLOW_PRIVATE": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("ORCHESTRATIA_DATABASE_URL", None)
    redis_url = os.environ.get(REDIS_MODE)
    if redis_url:
        # The suite's Redis mode: the hubs of one test (one tmp dir) form one cluster.
        test_dir = str(data_dir.resolve().parent).encode()
        env["ORCHESTRATIA_REDIS_URL"] = redis_url
        env["ORCHESTRATIA_REDIS_PREFIX"] = "e" + hashlib.sha256(test_dir).hexdigest()[:16]
    return env


def api_client(hub: HubProcess) -> httpx.Client:
    client = httpx.Client(base_url=hub.url, timeout=10, verify=hub.verify)
    res = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert res.status_code == 200, res.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
    return client
