"""A hub cluster as deploy/compose.yaml runs it, from real parts: a fresh PostgreSQL database
migrated once (``hub migrate``), two ``orchestratia hub serve --no-migrate`` replicas sharing
it, Redis (a key prefix of their own, so parallel tests keep apart) and the secret and
encryption keys, and nginx rendered from deploy/nginx.conf in front of them over TLS (a
throwaway CA), round robin without stickiness.

``running_cluster`` yields a ``Cluster``; ``kill_a``/``restart_a`` take replica A down (SIGKILL
by default) and bring it back on the same port."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import asyncpg
import httpx
import pytest

from orchestratia.hub.settings import normalize_database_url
from tests.e2e.processes import ADMIN, PASSWORD, HubProcess, HubTls, base_env, orchestratia
from tests.e2e.tls_support import hub_certificate
from tests.support import IN_CI, POSTGRES_URL, free_port, wait_sync

NGINX = Path("/usr/sbin/nginx")
NGINX_TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
REDIS_URL = os.environ.get("ORCHESTRATIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PLACEHOLDER = re.compile(r"\$\{(ORC_[A-Z_]+)\}")


def missing(reason: str) -> NoReturn:
    """A part the cluster needs is not there: a failure in CI, a skip elsewhere."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def render_nginx_conf(values: dict[str, str]) -> str:
    """deploy/nginx.conf with its ``${ORC_...}`` names filled in, as compose's envsubst does;
    a name without a value is an error, not an empty string."""
    template = NGINX_TEMPLATE.read_text()
    unknown = set(PLACEHOLDER.findall(template)) - set(values)
    assert not unknown, f"no value for {sorted(unknown)} in {NGINX_TEMPLATE}"
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


@dataclass
class Nginx:
    """nginx in the foreground as an ordinary user: everything it writes is under ``root``."""

    root: Path
    port: int
    upstreams: tuple[str, str]
    tls: HubTls
    proc: subprocess.Popen[bytes] | None = None

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"  # its stdout: the log_format naming the upstream

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(
            render_nginx_conf(
                {
                    "ORC_HUB_A": self.upstreams[0],
                    "ORC_HUB_B": self.upstreams[1],
                    "ORC_LISTEN": f"127.0.0.1:{self.port}",
                    "ORC_TLS_CERT": str(self.tls.certfile),
                    "ORC_TLS_KEY": str(self.tls.keyfile),
                    "ORC_RUNTIME_DIR": str(self.root),
                }
            )
        )
        with self.access_log.open("ab") as out, self.error_log.open("ab") as err:
            self.proc = subprocess.Popen(
                [str(NGINX), "-p", str(self.root), "-c", str(conf), "-g", "daemon off;"],
                stdout=out,
                stderr=err,
            )
        wait_sync(self._listening, 15, f"nginx listening ({self.error_log})")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx exited: {self.error_log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Cluster:
    database_url: str
    redis_prefix: str
    a: HubProcess
    b: HubProcess
    nginx: Nginx
    closing: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where users and daemons reach the cluster: nginx, over TLS."""
        return f"https://127.0.0.1:{self.nginx.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.nginx.port}"

    def ssl_context(self) -> ssl.SSLContext:
        return self.nginx.tls.context()

    def client(self) -> httpx.Client:
        """An httpx client of the cluster (through nginx), closed with it."""
        made = httpx.Client(base_url=self.url, timeout=15, verify=self.ssl_context())
        self.closing.append(made)
        return made

    def login(self) -> httpx.Client:
        """A client logged in as the admin like a browser: cookies, and the CSRF token sent on
        writes."""
        client = self.client()
        res = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
        assert res.status_code == 200, res.text
        client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        return client

    def replica(self, marker: str) -> str | None:
        """Which replica ("a" or "b") logged a request whose line holds ``marker``."""
        found = [name for name, hub in (("a", self.a), ("b", self.b)) if marker in _log(hub)]
        assert len(found) <= 1, f"{marker!r} in both replicas' logs"
        return found[0] if found else None

    def served_by(self, marker: str) -> str:
        """``replica(marker)``, waiting for the access-log line to be written."""
        wait_sync(lambda: self.replica(marker) is not None, 10, f"{marker!r} in a hub's log")
        name = self.replica(marker)
        assert name is not None
        return name

    def kill_a(self, sig: int = signal.SIGKILL) -> None:
        self.a.kill(sig)

    def restart_a(self) -> None:
        """Replica A again, on the same port (nginx's upstream), once it answers."""
        self.a.kill(signal.SIGKILL)
        self.a.start()


def _log(hub: HubProcess) -> str:
    return hub.log.read_text(errors="replace") if hub.log.exists() else ""


def _redis_reachable() -> str | None:
    host, port = "127.0.0.1", 6379
    if match := re.match(r"redis://([^:/]+):(\d+)", REDIS_URL):
        host, port = match.group(1), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"Redis unreachable at {REDIS_URL}: {exc}"


def _admin_sql(sql: str) -> None:
    async def run() -> None:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # On a thread of its own: a browser test's Playwright keeps an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=30)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one cluster (not migrated); dropped at the end."""
    name = f"orc_cluster_{uuid.uuid4().hex[:10]}"
    try:
        _admin_sql(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        missing(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")
    try:
        yield normalize_database_url(f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}")
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_cluster(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Two hub replicas on one fresh PostgreSQL database and Redis behind nginx, with the admin
    (ADMIN / PASSWORD) made; ``env`` adds hub settings. Everything is stopped at the end."""
    if not NGINX.exists():
        missing(f"{NGINX} is missing (scripts/test-deps.sh installs nginx)")
    if (problem := _redis_reachable()) is not None:
        missing(problem)
    nginx_port = free_port()
    keys = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    prefix = f"orc-test-{uuid.uuid4().hex[:12]}"
    with fresh_postgres_database() as database_url:
        shared = {
            "ORCHESTRATIA_DATABASE_URL": database_url,
            "ORCHESTRATIA_REDIS_URL": REDIS_URL,
            "ORCHESTRATIA_REDIS_PREFIX": prefix,
            "ORCHESTRATIA_ENCRYPTION_KEYS": keys,
            "ORCHESTRATIA_SECRET_KEY": f"cluster-secret-{uuid.uuid4().hex}",
            "ORCHESTRATIA_PUBLIC_URL": f"https://127.0.0.1:{nginx_port}",
            "ORCHESTRATIA_TRUSTED_PROXIES": "127.0.0.1",
            **(env or {}),
        }

        def replica(name: str) -> HubProcess:
            data_dir = tmp_path / f"hub-{name}"  # its own, as on its own machine
            return HubProcess(
                data_dir,
                free_port(),
                base_env(data_dir) | shared,
                tmp_path / f"hub-{name}.log",
                serve_args=("--no-migrate",),
                start_timeout=60,
            )

        a, b = replica("a"), replica("b")

        def cli(*args: str) -> None:
            done = subprocess.run(
                orchestratia(*args),
                env=a.env | {"ORCHESTRATIA_ADMIN_PASSWORD": PASSWORD},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr

        # Migrations once, before any replica serves (compose's ``migrate`` service).
        cli("hub", "migrate")
        tls = hub_certificate(tmp_path / "tls")
        nginx = Nginx(
            tmp_path / "nginx", nginx_port, (f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"), tls
        )
        cluster = Cluster(database_url, prefix, a, b, nginx)
        try:
            # Each takes seconds to start (imports): the admin and both replicas at once.
            with ThreadPoolExecutor(max_workers=3) as pool:
                steps = [
                    pool.submit(cli, "hub", "create-admin", "--email", ADMIN),
                    pool.submit(a.start),
                    pool.submit(b.start),
                ]
                for step in steps:
                    step.result()
            nginx.start()
            yield cluster
        finally:
            for client in cluster.closing:
                client.close()
            nginx.stop()
            for hub in (a, b):
                hub.kill(signal.SIGTERM)
