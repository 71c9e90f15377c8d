"""``orchestratia``: the single entry point for hub, daemon, embedded mode and agent commands.

Agents inside sessions run ``orchestratia task …`` many times a minute, so startup must stay
fast: the hub stack (FastAPI, SQLAlchemy, uvicorn) and the daemon load only when ``hub``,
``agent`` or ``up`` is actually invoked. ``RootGroup`` lists those commands from a static table
and imports their modules on dispatch.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

from orchestratia import __version__
from orchestratia.cli import agent_commands, hook, task
from orchestratia.cli.agent_api import AgentOptions
from orchestratia.cli.output import take_json_flag

# name -> (module, attribute, one-line help shown in `orchestratia --help`)
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "hub": ("orchestratia.cli.hub", "app", "Operate a hub."),
    "agent": ("orchestratia.cli.agent", "app", "Operate the agent daemon on this server."),
    "up": (
        "orchestratia.cli.up",
        "up",
        "Run everything locally: hub on SQLite plus a daemon for this machine.",
    ),
}
# Commands whose `--json` may appear anywhere (`agent status` keeps its own `--json` option).
JSON_ANYWHERE = frozenset(
    {"task", "server", "session", "pipeline", "intervention", "status", "init"}
)


def load_lazy_command(name: str) -> _click.Command:
    module, attribute, _ = LAZY_COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    # Registered the way `add_typer` / `command` would have done it on the root app, so the
    # command behaves exactly as before (and gets no completion options of its own).
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name=name)(target)
    holder.callback()(lambda: None)  # keeps typer from collapsing a one-command app
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _command_name(args: list[str]) -> str | None:
    return next((a for a in args if not a.startswith("-")), None)


class RootGroup(TyperGroup):
    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*LAZY_COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            # A stand-in that carries the help line: listing commands must not import them.
            return TyperCommand(cmd_name, help=LAZY_COMMANDS[cmd_name][2])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in LAZY_COMMANDS:
            command = load_lazy_command(name)
        return name, command, rest

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        if _command_name(args) in JSON_ANYWHERE:
            args, as_json = take_json_flag(args)
            if as_json:
                ctx.ensure_object(AgentOptions).as_json = True
        return super().parse_args(ctx, args)

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _click.ClickException as exc:
            # In JSON mode even a usage error is a JSON error (help screens stay help screens).
            options = ctx.find_object(AgentOptions)
            if options is None or not options.as_json:
                raise
            if isinstance(exc, _click.exceptions.NoArgsIsHelpError):
                raise
            typer.echo(json.dumps({"error": exc.format_message()}))
            raise typer.Exit(exc.exit_code) from exc


app = typer.Typer(
    name="orchestratia",
    cls=RootGroup,
    help="Mission control for fleets of AI coding agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(task.app, name="task")
app.add_typer(agent_commands.server_app, name="server")
app.add_typer(agent_commands.session_app, name="session")
app.add_typer(agent_commands.pipeline_app, name="pipeline")
app.add_typer(agent_commands.intervention_app, name="intervention")
app.add_typer(hook.app, name="hook")
app.command(name="status")(agent_commands.status)
app.command(name="init")(agent_commands.init)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
