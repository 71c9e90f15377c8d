"""``orchestratia hub rotate-keys``: put every sealed secret under a new key, retire old keys.

Secrets the hub must read back (TOTP secrets, SMTP passwords, …; ``hub.sealed_columns``) are
sealed with a key from ``<data dir>/keys`` or ``ORCHESTRATIA_ENCRYPTION_KEYS``. Rotating:

    orchestratia hub rotate-keys                 # new current key, every value re-sealed
    orchestratia hub rotate-keys                 # after an interruption: carries on, no new key
    orchestratia hub rotate-keys --retire KEY_ID # delete an old key nothing is sealed with

A run that finds values still under an older key it holds finishes that rotation instead of
minting another key. With keys from the environment no key is minted: values are re-sealed
with the environment's first (current) key, and retiring means removing a key from the
variable. A running hub notices a rotation in the data dir by itself.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from orchestratia.cli.output import console, err_console, fail
from orchestratia.hub import key_rotation
from orchestratia.hub.db import migrate
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.sealed_columns import SEALED_COLUMNS
from orchestratia.hub.sealing import (
    KEYS_ENV,
    Keyring,
    SealingError,
    add_key,
    retire_key,
    set_current,
)
from orchestratia.hub.settings import HubSettings

HELP = (
    "Seal every stored secret with a new key (resumable), or retire an old key.\n\n"
    "Makes a new key in <data dir>/keys current, then re-seals every value under an older key "
    "in batches committed one by one. Interrupted? Run it again: it finishes the same rotation "
    "(no new key while values remain under an older one).\n\n"
    "Then retire the old key with --retire KEY_ID, refused while any value is still sealed with "
    "it. With ORCHESTRATIA_ENCRYPTION_KEYS set, values are re-sealed with its first key and a "
    "key is retired by removing it from the variable.\n\n"
    "Exit status 1 when a value did not open (each is listed), 2 for an unknown or current key "
    "given to --retire."
)

# An operator's mistake (unknown key id), as typer's own usage errors.
USAGE_ERROR = 2


def rotate_keys(
    retire: Annotated[
        str | None,
        typer.Option(
            "--retire",
            metavar="KEY_ID",
            help="Delete this old key instead of rotating; refused while any value uses it.",
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(min=1, max=10_000, help="Values re-sealed per committed batch."),
    ] = 100,
) -> None:
    """Seal every stored secret with a new key (resumable), or retire an old key."""
    settings = HubSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        keyring = settings.keyring()
    except SealingError as exc:
        fail(str(exc))
    migrate.upgrade(settings.resolved_database_url())
    # Keys from the environment have no directory: none can be minted or deleted here.
    from_env = keyring.directory is None
    if retire is not None:
        asyncio.run(_retire(settings, keyring, retire, from_env))
    else:
        asyncio.run(_rotate(settings, keyring, batch_size, from_env))


async def _rotate(settings: HubSettings, keyring: Keyring, size: int, from_env: bool) -> None:
    engine = build_engine(settings.resolved_database_url())
    sessionmaker = build_sessionmaker(engine)
    try:
        async with sessionmaker() as db:
            unfinished = key_rotation.pending(await key_rotation.key_usage(db), keyring)
        if from_env:
            console.print(
                f"keys come from {KEYS_ENV}: re-sealing with its first key {keyring.current!r}"
            )
        elif unfinished:
            # Minting again would strand those values under a key that is neither old nor new.
            console.print(
                f"{unfinished} value(s) still under an older key: finishing the rotation to "
                f"{keyring.current!r} (no new key made)"
            )
        else:
            old = keyring.current
            set_current(settings.data_dir, add_key(settings.data_dir, make_current=False))
            keyring = Keyring.load(settings.data_dir)
            console.print(f"new current key {keyring.current!r} (was {old!r})")
        totals = await _reseal_all(sessionmaker, keyring, size)
        async with sessionmaker() as db:
            usage = await key_rotation.key_usage(db)
    finally:
        await engine.dispose()
    _summary(totals, usage, keyring, from_env)


async def _reseal_all(
    sessionmaker: key_rotation.SessionMaker, keyring: Keyring, size: int
) -> dict[str, key_rotation.Batch]:
    totals = {column.label: key_rotation.Batch() for column in SEALED_COLUMNS}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=False,
    ) as progress:
        for column in SEALED_COLUMNS:
            async with sessionmaker() as db:
                todo = await key_rotation.stale_count(db, column, keyring.current)
            task = progress.add_task(column.label, total=todo)
            total = totals[column.label]

            def advance(
                batch: key_rotation.Batch, task_id: TaskID = task, sum_: key_rotation.Batch = total
            ) -> None:
                sum_.add(batch)
                progress.advance(task_id, batch.handled)

            await key_rotation.reseal_column(sessionmaker, keyring, column, size, advance)
    return totals


def _summary(
    totals: dict[str, key_rotation.Batch], usage: Counter[str], keyring: Keyring, from_env: bool
) -> None:
    table = Table(title="Re-sealed")
    for heading in ("column", "re-sealed", "changed meanwhile", "did not open"):
        table.add_column(heading, justify="left" if heading == "column" else "right")
    for label, batch in totals.items():
        table.add_row(
            label, str(batch.resealed), str(batch.changed_meanwhile), str(len(batch.unopened))
        )
    console.print(table)
    keys = Table(title="Values per key")
    keys.add_column("key")
    keys.add_column("values", justify="right")
    for kid in sorted(set(usage) | set(keyring.keys)):
        mark = (
            " (current)" if kid == keyring.current else "" if kid in keyring.keys else " (missing)"
        )
        keys.add_row(kid + mark, str(usage.get(kid, 0)))
    console.print(keys)
    unopened = [u for batch in totals.values() for u in batch.unopened]
    for item in unopened:
        err_console.print(
            f"did not open: {item.column.label} row {item.row_id}: {item.reason}",
            markup=False,
            soft_wrap=True,
        )
    left = key_rotation.pending(usage, keyring)
    if left:
        fail(
            f"{left} value(s) changed while re-sealing and are still under an older key; run again"
        )
    idle = sorted(kid for kid in keyring.keys if kid != keyring.current and not usage.get(kid))
    for kid in idle:
        console.print(f"no value uses key {kid!r}: {_how_to_retire(kid, from_env)}")
    if unopened:
        fail(f"{len(unopened)} value(s) did not open and were left as they are (listed above)")
    console.print(f"every sealed value is under key {keyring.current!r}")


async def _retire(settings: HubSettings, keyring: Keyring, kid: str, from_env: bool) -> None:
    if kid not in keyring.keys:
        fail(f"there is no key {kid!r}; keys: {', '.join(sorted(keyring.keys))}", code=USAGE_ERROR)
    if kid == keyring.current:
        fail(
            f"key {kid!r} is the current key; rotate first (`orchestratia hub rotate-keys`)",
            code=USAGE_ERROR,
        )
    engine = build_engine(settings.resolved_database_url())
    try:
        async with build_sessionmaker(engine)() as db:
            in_use = (await key_rotation.key_usage(db)).get(kid, 0)
    finally:
        await engine.dispose()
    if in_use:
        fail(
            f"{in_use} value(s) are still sealed with key {kid!r}; run "
            "`orchestratia hub rotate-keys` to re-seal them, then retire it"
        )
    if from_env:
        console.print(f"no value uses key {kid!r}: {_how_to_retire(kid, from_env)}")
        return
    try:
        retire_key(settings.data_dir, kid)
    except SealingError as exc:
        fail(str(exc))
    console.print(f"retired key {kid!r}: no value was sealed with it")


def _how_to_retire(kid: str, from_env: bool) -> str:
    if from_env:
        return f"remove it from {KEYS_ENV} and restart the hub to retire it"
    return f"retire it with `orchestratia hub rotate-keys --retire {kid}`"
