"""Checks that read the database: reachable, migrated, sealed values openable, daemon clocks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db import migrate
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.db.models import Server
from orchestratia.hub.doctor.findings import Finding, Status
from orchestratia.hub.doctor.sealed import sealed_values
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.settings import HubSettings

# A daemon's clock this far from the hub's makes expiry times and the audit trail misleading.
SKEW_WARN_SECONDS = 5.0
SKEW_FAIL_SECONDS = 120.0
# An unreachable database server is reported after this long, not after the driver's minute.
CONNECT_TIMEOUT_SECONDS = 10.0


async def database(settings: HubSettings, ring: Keyring | None) -> list[Finding]:
    """Reachability, migrations, sealed values and daemon clocks: everything that reads the DB."""
    url = settings.resolved_database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    dependent = ("migrations", "sealed values", "daemon clocks")
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if sqlite and not await asyncio.to_thread(Path(make_url(url).database or "").exists):
        return [
            Finding(
                "database",
                "fail",
                f"no SQLite file at {make_url(url).database}",
                "orchestratia hub migrate (or set ORCHESTRATIA_DATABASE_URL)",
            ),
            *_not_checked(dependent),
        ]
    engine = build_engine(url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            heads = migrate.head_revisions()
            current = await conn.run_sync(migrate.current_revisions)
        found = [Finding("database", "ok", f"reachable: {shown}"), _migrations(current, heads)]
        if current != heads:
            return [*found, *_not_checked(dependent[1:])]
        async with build_sessionmaker(engine)() as db:
            found.append(await sealed_values(db, ring))
            found.append(await _clocks(db))
        return found
    except (DBAPIError, SQLAlchemyError, OSError, TimeoutError) as exc:
        reason = (
            str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            if str(exc)
            else (f"no answer within {CONNECT_TIMEOUT_SECONDS:.0f}s")
        )
        return [
            Finding(
                "database",
                "fail",
                f"cannot reach {shown}: {reason}",
                "check ORCHESTRATIA_DATABASE_URL and that the database server is up",
            ),
            *_not_checked(dependent),
        ]
    finally:
        await engine.dispose()


def _not_checked(names: tuple[str, ...]) -> list[Finding]:
    return [Finding(name, "warn", "not checked: needs the database above") for name in names]


def _migrations(current: set[str], heads: frozenset[str]) -> Finding:
    if current == heads:
        return Finding("migrations", "ok", f"at head {', '.join(sorted(heads))}")
    if not current:
        return Finding("migrations", "fail", "database never migrated", "orchestratia hub migrate")
    if current - heads and not (heads - current):
        return Finding(
            "migrations",
            "warn",
            f"database at {', '.join(sorted(current))}, newer than this hub's {', '.join(heads)}",
            "upgrade this hub to the version that migrated the database",
        )
    return Finding(
        "migrations",
        "fail",
        f"database at {', '.join(sorted(current))}, head is {', '.join(sorted(heads))}",
        "orchestratia hub migrate",
    )


async def _clocks(db: AsyncSession) -> Finding:
    """Daemons' clocks against the hub's: each heartbeat carries the daemon's time
    (``system_info.clock``) and the hub stamps ``last_seen_at`` as it arrives, so their
    difference is the skew (plus the heartbeat's transit time)."""
    rows = (await db.scalars(select(Server).where(Server.connected.is_(True)))).all()
    if not rows:
        return Finding("daemon clocks", "ok", "no connected daemons to compare")
    skews: dict[str, float] = {}
    silent: list[str] = []
    now = datetime.now(UTC)
    for server in rows:
        clock = (server.system_info or {}).get("clock")
        if isinstance(clock, int | float) and server.last_seen_at is not None:
            skews[server.name] = float(clock) - server.last_seen_at.timestamp()
        else:
            silent.append(server.name)
    ages = [(now - s.last_seen_at).total_seconds() for s in rows if s.last_seen_at]
    oldest = max(ages, default=0.0)
    tail = f"; {len(silent)} report no clock (older daemons)" if silent else ""
    tail += f"; oldest heartbeat {oldest:.0f}s ago"
    if not skews:
        return Finding("daemon clocks", "ok", f"nothing to compare{tail}")
    name, worst = max(skews.items(), key=lambda item: abs(item[1]))
    detail = f"{len(skews)} daemon(s), largest skew {worst:+.1f}s ({name}){tail}"
    if abs(worst) >= SKEW_FAIL_SECONDS:
        status: Status = "fail"
    elif abs(worst) >= SKEW_WARN_SECONDS:
        status = "warn"
    else:
        status = "ok"
    fix = "" if status == "ok" else f"run NTP (chrony, systemd-timesyncd) on {name} and the hub"
    return Finding("daemon clocks", status, detail, fix)
