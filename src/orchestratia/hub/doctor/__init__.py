"""``orchestratia hub doctor``: the hub's set-up checked piece by piece, each finding with a fix.

Nothing is created or written: a missing key or database is reported as such.
"""

from __future__ import annotations

from orchestratia.hub.doctor import settings_checks
from orchestratia.hub.doctor.database import database
from orchestratia.hub.doctor.findings import Finding
from orchestratia.hub.doctor.redis_check import check as redis_check
from orchestratia.hub.doctor.tls import check as tls


async def run_checks() -> list[Finding]:
    settings, loaded = settings_checks.load_settings()
    if settings is None:
        return [loaded]
    ring, keys = settings_checks.keyring(settings)
    found = [
        loaded,
        settings_checks.data_dir(settings),
        keys,
        settings_checks.replica_keys(settings),
    ]
    found += await database(settings, ring)
    found.append(await redis_check(settings))
    found += [tls(settings), settings_checks.public_url(settings)]
    return found
