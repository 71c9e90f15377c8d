"""``orchestratia hub …``: operate a hub."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from orchestratia.cli import hub_audit, hub_export, hub_keys, hub_ops, hub_plans
from orchestratia.cli.output import console, fail
from orchestratia.hub import gc_tuning
from orchestratia.hub.app import create_app
from orchestratia.hub.db import migrate
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.errors import HubError
from orchestratia.hub.log_masking import hub_log_config
from orchestratia.hub.services.access import accounts
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.tls import TlsFilesError, check_tls_files

app = typer.Typer(help="Operate a hub.", no_args_is_help=True)
app.add_typer(hub_audit.app, name="audit")
app.command("export")(hub_export.export)
app.command("rotate-keys", help=hub_keys.HELP)(hub_keys.rotate_keys)
app.command("set-plan")(hub_plans.set_plan)
app.command("backup")(hub_ops.backup)
app.command("doctor")(hub_ops.doctor)


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path
    keyfile: Path


def tls_files(
    settings: HubSettings, certfile: Path | None, keyfile: Path | None
) -> TlsFiles | None:
    """The checked certificate and key to serve with (options over settings), None for plain
    HTTP; anything unusable ends the command with one line."""
    certfile = certfile or settings.tls_certfile
    keyfile = keyfile or settings.tls_keyfile
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        fail(
            "TLS needs both a certificate and its key: pass --certfile and --keyfile "
            "(or set ORCHESTRATIA_TLS_CERTFILE and ORCHESTRATIA_TLS_KEYFILE)"
        )
    try:
        check_tls_files(certfile, keyfile)
    except TlsFilesError as exc:
        fail(str(exc))
    return TlsFiles(certfile, keyfile)


def uvicorn_config(
    settings: HubSettings, host: str, port: int, tls: TlsFiles | None = None
) -> uvicorn.Config:
    # The app learns where it actually listens: SSH tunnels carry their connections there.
    settings = settings.model_copy(update={"host": host, "port": port})
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_max_size=settings.ws_transport_max_bytes(),
        ws_per_message_deflate=settings.ws_compression,
        # Socket-level pings catch dead peers that send no application heartbeats (public agent).
        ws_ping_interval=20,
        ws_ping_timeout=20,
        log_level="info",
        log_config=hub_log_config(settings.log_format),
        # Forwarded headers are the app's business (``trusted_proxies``); uvicorn's default
        # would believe them from any local process.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
    )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` for uvicorn; a busy port (or an unknown host) is one
    line and exit 1, where uvicorn would print a traceback from inside its serving task."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def migrate_database(settings: HubSettings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    migrate.upgrade(settings.resolved_database_url())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations before serving.")
    ] = True,
    certfile: Annotated[
        Path | None,
        typer.Option(help="PEM certificate (chain) to serve HTTPS/WSS with; needs --keyfile."),
    ] = None,
    keyfile: Annotated[
        Path | None, typer.Option(help="PEM private key of --certfile (unencrypted).")
    ] = None,
) -> None:
    """Serve the REST + WebSocket API and the dashboard (over TLS with --certfile/--keyfile)."""
    settings = HubSettings()
    host, port = host or settings.host, port or settings.port
    tls = tls_files(settings, certfile, keyfile)
    sock = listen(host, port)
    if migrate_first:
        migrate_database(settings)
    server = uvicorn.Server(uvicorn_config(settings, host, port, tls))
    gc_tuning.tune_for_serving()  # the app is built: its objects are frozen with the modules
    server.run(sockets=[sock])


@app.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema up to date."""
    settings = HubSettings()
    migrate_database(settings)
    console.print("database is up to date")


async def _create_admin(settings: HubSettings, email: str, password: str, tenant: str) -> None:
    engine = build_engine(settings.resolved_database_url())
    try:
        async with build_sessionmaker(engine)() as db:
            await accounts.create_admin(db, email, password, tenant, settings.default_plan)
    finally:
        await engine.dispose()


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Admin's email (login).")],
    password: Annotated[
        str | None,
        typer.Option(help="Password; defaults to $ORCHESTRATIA_ADMIN_PASSWORD, else prompted."),
    ] = None,
    tenant: Annotated[str, typer.Option(help="Organisation to create or join.")] = "default",
) -> None:
    """Create a tenant admin (and the tenant, if new)."""
    settings = HubSettings()
    password = password or os.environ.get("ORCHESTRATIA_ADMIN_PASSWORD")
    if not password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        fail("password must be at least 8 characters")
    migrate_database(settings)
    try:
        asyncio.run(_create_admin(settings, email, password, tenant))
    except HubError as exc:
        fail(exc.detail)
    console.print(f"created admin {email.lower()} in tenant {tenant!r}")
