"""Do the hub's keys open its sealed secrets? Every key id in use must be present, and one
value per column and key id is actually opened: a key file replaced by another under the same
id (a botched restore) shows here rather than when a webhook or login first needs it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub import key_rotation
from orchestratia.hub.db.models import Base
from orchestratia.hub.doctor.findings import Finding
from orchestratia.hub.sealed_columns import SEALED_COLUMNS
from orchestratia.hub.sealing import Keyring, SealingError, key_id_of

NAME = "sealed values"
RESTORE = "restore the keys (keys dir or ORCHESTRATIA_ENCRYPTION_KEYS) from your backup"


async def sealed_values(db: AsyncSession, ring: Keyring | None) -> Finding:
    usage = dict(await key_rotation.key_usage(db))
    total = sum(usage.values())
    have = set(ring.keys) if ring is not None else set()
    missing = {kid: n for kid, n in usage.items() if kid not in have}
    if missing:
        kids = ", ".join(sorted(missing))
        detail = f"{sum(missing.values())} of {total} sealed with keys this hub lacks: {kids}"
        return Finding(NAME, "fail", detail, RESTORE)
    if ring is None or not total:
        return Finding(NAME, "ok", "none stored yet")
    unopened = await _unopened(db, ring)
    if unopened:
        return Finding(NAME, "fail", "; ".join(unopened[:3]), RESTORE)
    return Finding(NAME, "ok", f"{total} sealed value(s); a sample under each key opens")


async def _unopened(db: AsyncSession, ring: Keyring) -> list[str]:
    failures: list[str] = []
    for column in SEALED_COLUMNS:
        table = Base.metadata.tables[column.table]
        value, row_id = table.c[column.column], table.c[column.row_id]
        tried: set[str] = set()
        for rid, sealed in (
            await db.execute(select(row_id, value).where(value.is_not(None)))
        ).all():
            kid = key_id_of(sealed)
            if kid in tried:
                continue
            tried.add(kid)
            try:
                ring.open(sealed, column.aad(str(rid)))
            except SealingError as exc:
                failures.append(f"{column.label} (row {rid}, key {kid}): {exc}")
    return failures
