"""``orchestratia agent …``: register and run the daemon on a development server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from orchestratia import structured_logs
from orchestratia.agent.config import AgentConfig, ConfigError, default_config_path
from orchestratia.agent.daemon import read_state, run, state_path_for
from orchestratia.agent.link.hub_tls import ENV_ALLOW_INSECURE, ENV_CA_FILE, HubTlsError
from orchestratia.agent.link.registration import RegistrationError, register
from orchestratia.agent.link.secure_link import check_transport
from orchestratia.agent.metrics_server import ListenError
from orchestratia.agent.service.spec import ROOT_ENV
from orchestratia.cli.agent_service import install_service, service_report, uninstall_service
from orchestratia.cli.install_hooks import install_hooks
from orchestratia.cli.output import console, emit_json, fail

app = typer.Typer(help="Operate the agent daemon on this server.", no_args_is_help=True)
app.command("install-hooks")(install_hooks)
app.command("install-service")(install_service)
app.command("uninstall-service")(uninstall_service)


def configure_logging() -> None:
    """The daemon's logs: text, or JSON lines with ``ORCHESTRATIA_LOG_FORMAT=json``; secrets
    masked either way."""
    structured_logs.configure()


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Config file (default: per-user config dir).")
]


def register_and_save(
    token: str,
    path: Path,
    name: str | None,
    ca_file: Path | None = None,
    allow_insecure: bool = False,
) -> AgentConfig:
    try:
        config = asyncio.run(
            register(
                token,
                name=name,
                config_path=path,
                ca_file=ca_file,
                allow_insecure=allow_insecure,
            )
        )
    except RegistrationError as exc:
        fail(str(exc))
    config.save(path)
    return config


def load_for_run(path: Path) -> AgentConfig:
    """The config the daemon will run with; a missing or invalid one, or one that would talk
    plain HTTP to another machine, ends the command with one line."""
    try:
        loaded = AgentConfig.load(path)
        check_transport(loaded)
    except (ConfigError, HubTlsError) as exc:
        fail(str(exc))
    return loaded


@app.command("register")
def register_cmd(
    token: Annotated[str, typer.Argument(help="One-time registration token (orcreg_…).")],
    config: ConfigOpt = None,
    name: Annotated[str | None, typer.Option(help="Server name (default: hostname).")] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            help="PEM bundle of a private CA that signed the hub's certificate (kept).",
            envvar=ENV_CA_FILE,
        ),
    ] = None,
    allow_insecure: Annotated[
        bool,
        typer.Option(
            help="Allow a plain http:// hub on another machine (trusted networks only).",
            envvar=ENV_ALLOW_INSECURE,
        ),
    ] = False,
) -> None:
    """Register this server with the hub named inside TOKEN and save its key."""
    path = config or default_config_path()
    saved = register_and_save(token, path, name, ca_file, allow_insecure)
    console.print(f"registered [bold]{saved.name}[/bold] with {saved.hub_url}; config in {path}")
    console.print("start the daemon with: orchestratia agent run")


@app.command("run")
def run_cmd(config: ConfigOpt = None) -> None:
    """Connect to the hub and keep the connection up until SIGTERM."""
    path = config or default_config_path()
    loaded = load_for_run(path)
    configure_logging()
    try:
        asyncio.run(run(loaded, state_path_for(path)))
    except ListenError as exc:  # metrics_listen's port is taken, or its socket path unusable
        fail(str(exc))


@app.command()
def status(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    root: Annotated[Path | None, typer.Option("--root", envvar=ROOT_ENV, hidden=True)] = None,
) -> None:
    """Show whether the daemon is connected to its hub, and whether it runs as a service."""
    path = config or default_config_path()
    state = read_state(path)
    services = service_report(root)
    if not as_json:
        for service in services:
            console.print(
                f"[bold]service ({service['scope']})[/bold]: {escape(service['summary'])}",
                highlight=False,
            )
    if state is None:
        fail(f"no daemon state next to {path}; is `orchestratia agent run` running?", as_json)
    if as_json:
        emit_json({**state, "service": services})
        return
    for key, value in state.items():
        console.print(
            f"[bold]{key}[/bold]: {json.dumps(value) if not isinstance(value, str) else value}"
        )
