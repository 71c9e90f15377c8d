"""``orchestratia hub backup`` and ``orchestratia hub doctor``: the operator's two checks
before and after anything risky."""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from orchestratia.cli.output import console, emit_json, fail
from orchestratia.hub import backup as backups
from orchestratia.hub.doctor import run_checks
from orchestratia.hub.settings import HubSettings

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def backup(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write, or a directory for a timestamped file (default: "
            "<data dir>/backups).",
        ),
    ] = None,
) -> None:
    """Back the hub's database up while it runs (SQLite), or print the pg_dump command
    (PostgreSQL). Keep the encryption keys (<data dir>/keys) with it."""
    settings = HubSettings()
    url = settings.resolved_database_url()
    try:
        source = backups.sqlite_file(url)
        if source is None:
            _pg_dump_hint(url)
            return
        copied = backups.backup_sqlite(
            source, backups.target_path(out, settings.data_dir / "backups")
        )
    except backups.BackupError as exc:
        fail(str(exc))
    console.print(
        f"[green]backed up[/green] {escape(str(source))} to {escape(str(copied.path))} "
        f"({copied.size:,} bytes, mode 600)",
        highlight=False,
        soft_wrap=True,
    )
    if settings.encryption_keys is None:
        console.print(
            f"keep {escape(str(settings.data_dir / 'keys'))} with it: sealed secrets in the "
            "backup open only with those keys",
            highlight=False,
            soft_wrap=True,
        )


def _pg_dump_hint(url: str) -> None:
    # The hub does not run pg_dump itself: the operator's client version, credentials and
    # storage are theirs to choose. Exit 0: this is the answer, not a failure.
    console.print("PostgreSQL: back it up with pg_dump (not run by the hub):", highlight=False)
    typer.echo("  " + shlex.join(backups.pg_dump_command(url)))
    console.print(
        "replace *** with the password, or leave it out and use PGPASSWORD or ~/.pgpass",
        highlight=False,
        soft_wrap=True,
    )


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check config, data dir, keys, database, migrations, TLS, public URL and daemons'
    clocks; exit 1 when any check fails."""
    findings = asyncio.run(run_checks())
    failed = any(f.status == "fail" for f in findings)
    if as_json:
        emit_json([asdict(f) for f in findings])
    else:
        table = Table()
        # Folded, never cut with an ellipsis: a path or URL is the point of the line.
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column, overflow="fold")
        for f in findings:
            table.add_row(
                f.check,
                f"[{STYLE[f.status]}]{f.status}[/{STYLE[f.status]}]",
                escape(f.detail),
                escape(f.fix),
            )
        console.print(table)
        worst = "fail" if failed else "warn" if any(f.status == "warn" for f in findings) else "ok"
        console.print(f"[{STYLE[worst]}]{worst}[/{STYLE[worst]}]: {len(findings)} checks")
    if failed:
        raise typer.Exit(1)
