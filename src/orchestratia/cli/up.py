"""``orchestratia up``: hub on SQLite plus a local daemon registered to it, in one process tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.hub_tls import ENV_CA_FILE
from orchestratia.agent.link.registration import RegistrationError, register
from orchestratia.cli.hub import TlsFiles, listen, migrate_database, tls_files, uvicorn_config
from orchestratia.cli.output import console, fail
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import accounts, projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import servers
from orchestratia.hub.settings import HubSettings

ADMIN_EMAIL = "admin@localhost"
DAEMON_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Bootstrap:
    principal: Principal
    project_id: str
    # Only a password made up here is printed: one the user chose is theirs to know, and echoing
    # it would put it in terminal scrollback and logs.
    generated_password: str | None


async def bootstrap(settings: HubSettings, email: str) -> Bootstrap:
    """First run: create the admin and a default project. Later runs: find them again."""
    engine = build_engine(settings.resolved_database_url())
    try:
        sessions = build_sessionmaker(engine)
        async with sessions() as db:
            generated = None
            if not await accounts.has_users(db):
                given = os.environ.get("ORCHESTRATIA_ADMIN_PASSWORD")
                password = given or secrets.token_urlsafe(12)
                await accounts.create_admin(db, email, password, "default", settings.default_plan)
                generated = None if given else password
            admin = await accounts.first_admin(db)
            assert admin is not None
            principal = Principal(admin.id, admin.tenant_id, admin.email, True, "")
            project = await projects.oldest(db, admin.tenant_id)
        if project is None:
            async with sessions.begin() as db:  # committed as the block ends
                made = await projects.create(db, principal, "default", audit.Actor("system"))
                project = made.project
        return Bootstrap(principal, project.id, generated)
    finally:
        await engine.dispose()


async def ensure_local_daemon(
    settings: HubSettings,
    boot: Bootstrap,
    hub_url: str,
    config_path: Path,
    ca_file: Path | None = None,
) -> None:
    """Register this machine's daemon with the embedded hub (first run only)."""
    engine = build_engine(settings.resolved_database_url())
    try:
        async with build_sessionmaker(engine).begin() as db:  # committed as the block ends
            issued = await servers.issue_token(
                db, boot.principal, boot.project_id, hub_url, 1, audit.Actor("system")
            )
    finally:
        await engine.dispose()
    try:
        config = await register(issued.token, config_path=config_path, ca_file=ca_file)
    except RegistrationError as exc:
        fail(f"the local daemon cannot register: {exc}")
    config.save(config_path)


def follow_hub_url(config_path: Path, hub_url: str, ca_file: Path | None) -> None:
    """Point the local daemon at this run's hub: a later run may use another port, host, scheme
    or CA."""
    config = AgentConfig.load(config_path)
    if (config.hub_url, config.ca_file) != (hub_url, ca_file):
        config.hub_url = hub_url
        config.ca_file = ca_file
        config.save(config_path)


def _stop_on_signals(server: uvicorn.Server) -> None:
    """Make Ctrl-C and SIGTERM stop the hub, then the daemon, then exit 0.

    uvicorn re-raises the stop signal to the handler that was installed before it started. With
    Python's defaults, SIGTERM would then kill this process before the daemon is stopped (leaving
    it orphaned) and SIGINT would surface as KeyboardInterrupt (exit 130) although the shutdown was
    clean. Ctrl-C is the documented way to stop ``up``, so both signals simply ask the hub to exit.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


async def _serve(
    settings: HubSettings,
    sock: socket.socket,
    host: str,
    port: int,
    email: str,
    config_path: Path,
    first_run: bool,
    tls: TlsFiles | None = None,
    ca_file: Path | None = None,
) -> None:
    boot = await bootstrap(settings, email)
    server = uvicorn.Server(uvicorn_config(settings, host, port, tls))
    _stop_on_signals(server)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    scheme = "https" if tls else "http"
    hub_url = f"{scheme}://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if first_run:
        await ensure_local_daemon(settings, boot, hub_url, config_path, ca_file)
    else:
        follow_hub_url(config_path, hub_url, ca_file)
    daemon = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestratia", "agent", "run", "--config", str(config_path)
    )
    console.print()
    console.print(
        f"[bold green]Orchestratia is up[/bold green]  dashboard: [bold]{hub_url}/[/bold]"
    )
    console.print(f"  login: [bold]{boot.principal.email}[/bold]")
    if boot.generated_password:
        console.print(f"  password: [bold]{boot.generated_password}[/bold]  (shown this once)")
    elif os.environ.get("ORCHESTRATIA_ADMIN_PASSWORD"):
        console.print("  password: from ORCHESTRATIA_ADMIN_PASSWORD")
    else:
        console.print("  password: the one printed on first run")
    console.print(
        f"  data: {settings.data_dir}   local daemon pid {daemon.pid}   Ctrl-C stops both"
    )
    try:
        await serving
    finally:
        if daemon.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                daemon.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(daemon.wait(), DAEMON_STOP_TIMEOUT)
            except TimeoutError:
                daemon.kill()
                await daemon.wait()


def up(
    port: Annotated[
        int | None, typer.Option(help="Dashboard/API port [default: ORCHESTRATIA_PORT or 8765].")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind [default: ORCHESTRATIA_HOST or 127.0.0.1]."),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite database lives.")] = None,
    email: Annotated[str, typer.Option(help="Admin login created on first run.")] = ADMIN_EMAIL,
    certfile: Annotated[
        Path | None, typer.Option(help="Serve HTTPS/WSS with this PEM certificate (chain).")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option(help="PEM private key of --certfile.")] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            help="CA bundle the local daemon verifies the hub's certificate with.",
            envvar=ENV_CA_FILE,
        ),
    ] = None,
) -> None:
    """Run everything locally: hub on SQLite plus a daemon for this machine."""
    settings = HubSettings()
    if data_dir is not None:
        settings.data_dir = data_dir
    host, port = host or settings.host, port or settings.port
    tls = tls_files(settings, certfile, keyfile)
    if ca_file is not None:
        ca_file = ca_file.expanduser().absolute()
    sock = listen(host, port)  # first: a busy port fails before anything is created
    migrate_database(settings)
    config_path = settings.data_dir / "agent.yaml"
    first_run = not config_path.exists()
    asyncio.run(_serve(settings, sock, host, port, email, config_path, first_run, tls, ca_file))
