"""``orchestratia agent install-service`` / ``uninstall-service``: the daemon as an OS service
(systemd unit on Linux, launchd job on macOS), and its state for ``agent status``."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from orchestratia.agent.service import install
from orchestratia.agent.service.spec import ROOT_ENV, Scope, build_spec, home_of, invoking_user
from orchestratia.cli.output import console, fail

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Agent config the service runs with (default: the user's)."),
]
SystemOpt = Annotated[
    bool,
    typer.Option(
        "--system/--user",
        help="A system service (boot, needs root) or a service of your user (default).",
    ),
]
RunAsOpt = Annotated[
    str | None,
    typer.Option("--run-as", help="User the system service runs as (default: who invoked it)."),
]
# Tests install into a temporary tree; never shown in --help.
RootOpt = Annotated[Path | None, typer.Option("--root", envvar=ROOT_ENV, hidden=True)]


def _shell(command: list[str]) -> str:
    return shlex.join(command)


def _manager() -> install.Manager:
    try:
        return install.manager_for()
    except install.ServiceError as exc:
        fail(str(exc))


def install_service(
    config: ConfigOpt = None,
    system: SystemOpt = False,
    run_as: RunAsOpt = None,
    show_only: Annotated[
        bool, typer.Option("--print", help="Show what would be written and run; change nothing.")
    ] = False,
    root: RootOpt = None,
) -> None:
    """Install the daemon as a service that starts at boot (or login) and restarts on failure;
    tmux sessions survive its restarts."""
    scope: Scope = "system" if system else "user"
    if run_as and not system:
        fail("--run-as is for --system services; a user service runs as you")
    if system and root is None and os.geteuid() != 0 and not show_only:
        fail("a system service needs root: run it with sudo, or use --user")
    manager = _manager()
    try:
        spec = build_spec(scope, config, run_as)
        plan = install.plan_install(spec, root, manager)
    except (ValueError, FileNotFoundError, install.ServiceError) as exc:
        fail(str(exc))
    if show_only:
        _show(plan)
        return
    if plan.unchanged and not plan.commands:
        console.print(
            f"already installed: {escape(str(plan.path))} (unchanged)",
            highlight=False,
            soft_wrap=True,
        )
        _notes(plan.notes)
        return
    if not plan.unchanged:
        install.write(plan.path, plan.content)
        console.print(
            f"[green]wrote[/green] {escape(str(plan.path))}:", highlight=False, soft_wrap=True
        )
        typer.echo(plan.content.decode())
    else:
        console.print(f"{escape(str(plan.path))} is up to date", highlight=False, soft_wrap=True)
    _run_or_explain(plan.commands, plan.cannot_run)
    _notes(plan.notes)


def _show(plan: install.Plan) -> None:
    verb = "unchanged" if plan.unchanged else "would write"
    console.print(f"[bold]{verb}[/bold] {escape(str(plan.path))}:", highlight=False, soft_wrap=True)
    typer.echo(plan.content.decode())
    if not plan.commands:
        console.print("would run: nothing (already installed)", highlight=False, soft_wrap=True)
    for command in plan.commands:
        console.print(f"would run: {escape(_shell(command))}", highlight=False, soft_wrap=True)
    if plan.cannot_run and plan.commands:
        console.print(
            f"[yellow]but here:[/yellow] {escape(plan.cannot_run)}", highlight=False, soft_wrap=True
        )
    _notes(plan.notes)


def _run_or_explain(commands: list[list[str]], cannot_run: str | None) -> None:
    if not commands:
        return
    if cannot_run is not None:
        console.print(
            f"[yellow]not started:[/yellow] {escape(cannot_run)}; where the service manager "
            "runs, do:",
            highlight=False,
            soft_wrap=True,
        )
        for command in commands:
            console.print(f"  {escape(_shell(command))}", highlight=False, soft_wrap=True)
        return
    for command in commands:
        try:
            install.run(command)
        except install.ServiceError as exc:
            fail(str(exc))
        console.print(
            f"[green]ran[/green] {escape(_shell(command))}", highlight=False, soft_wrap=True
        )


def _notes(notes: list[str]) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


def uninstall_service(
    system: SystemOpt = False,
    run_as: RunAsOpt = None,
    root: RootOpt = None,
) -> None:
    """Stop and remove the service; the daemon's config and running sessions stay."""
    scope: Scope = "system" if system else "user"
    manager = _manager()
    try:
        home = home_of(run_as or invoking_user())
    except ValueError as exc:
        fail(str(exc))
    removal = install.plan_uninstall(scope, home, root, manager)
    if not removal.existed:
        console.print(
            f"not installed: no {escape(str(removal.path))}", highlight=False, soft_wrap=True
        )
        return
    if system and root is None and os.geteuid() != 0:
        fail("removing a system service needs root: run it with sudo")
    try:
        install.uninstall(removal)
    except install.ServiceError as exc:
        fail(str(exc))
    console.print(
        f"[green]removed[/green] {escape(str(removal.path))}", highlight=False, soft_wrap=True
    )
    if removal.cannot_run is not None:
        console.print(
            f"[yellow]service manager not asked:[/yellow] {escape(removal.cannot_run)}; where "
            "it runs, do:",
            highlight=False,
            soft_wrap=True,
        )
        for command in [*removal.before, *removal.after]:
            console.print(f"  {escape(_shell(command))}", highlight=False, soft_wrap=True)


def service_report(root: Path | None) -> list[dict[str, Any]]:
    """The service in both scopes, for ``agent status`` (empty on unsupported platforms)."""
    try:
        manager = install.manager_for()
        home = home_of(invoking_user())
    except (install.ServiceError, ValueError):
        return []
    return [
        {
            "scope": s.scope,
            "manager": s.manager,
            "path": str(s.path),
            "installed": s.installed,
            "state": s.state,
            "summary": s.describe(),
        }
        for s in install.service_states(home, root, manager)
    ]
