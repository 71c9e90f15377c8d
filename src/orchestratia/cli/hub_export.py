"""``orchestratia hub export``: a project's tasks, results, notes, dependencies and audit events
as one JSON document."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from orchestratia.cli.hub_audit import database_url, hub_database
from orchestratia.cli.output import console, fail
from orchestratia.hub.errors import HubError
from orchestratia.hub.services import project_export
from orchestratia.hub.settings import HubSettings


async def _document(url: str, project_id: str) -> str:
    async with hub_database(url) as db:
        document = await project_export.for_operator(db, project_id)
    return document.model_dump_json(indent=2) + "\n"


def export(
    project: Annotated[str, typer.Option("--project", help="Id of the project to export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default: stdout.")
    ] = None,
) -> None:
    """Export a project (tasks with results, notes, dependencies, timeline, audit events)."""
    try:
        text = asyncio.run(_document(database_url(HubSettings()), project))
    except HubError as exc:
        fail(exc.detail)
    if output is None:
        typer.echo(text, nl=False)
        return
    # Audit events name people and their addresses: readable by the operator only.
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    console.print(f"exported project {project} to {output}", highlight=False)
