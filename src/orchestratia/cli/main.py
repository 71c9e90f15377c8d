"""``orchestratia``: the single entry point for hub, daemon, embedded mode and agent commands."""

from __future__ import annotations

import typer

from orchestratia import __version__
from orchestratia.cli import agent, hub, up

app = typer.Typer(
    name="orchestratia",
    help="Mission control for fleets of AI coding agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(hub.app, name="hub")
app.add_typer(agent.app, name="agent")
app.command(name="up")(up.up)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
