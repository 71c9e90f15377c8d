"""Which hub replica keeps which SSH tunnel up: a lease per tunnel row, taken and renewed by
conditional UPDATEs so that two replicas never both hold one, and taken over by another
replica once the holder stops renewing (it died, or lost its database).

Every outcome a replica records (``report``) names it as the holder: a replica that lost its
lease can no longer overwrite what the new holder says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.tunnel_models import SshTunnel
from orchestratia.hub.sealed_columns import SSH_PRIVATE_KEY
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.services.fleet import tunnels
from orchestratia.hub.services.integrations import leases
from orchestratia.hub.services.outbox import Outbox

# Worth a replica's time: an enabled tunnel that is pinned and not refused for a changed host
# key (kept up), or one whose first host key is still to be fetched for confirmation.
WANTED = and_(
    SshTunnel.enabled.is_(True),
    or_(
        and_(SshTunnel.host_key.is_not(None), SshTunnel.status != "host_key_mismatch"),
        and_(SshTunnel.host_key.is_(None), SshTunnel.offered_host_key.is_(None)),
    ),
)


@dataclass(frozen=True)
class Target:
    """What one attempt needs, read in one short transaction: the secret stays in memory."""

    id: str
    host: str
    port: int
    username: str
    private_key: str
    host_key: str | None  # None: only fetch the host key for an owner to confirm
    remote_port: int


async def claim(db: AsyncSession, owner: str, now: datetime, lease: timedelta) -> set[str]:
    """Take or renew the lease of every wanted tunnel that is free, lapsed or already ours, and
    let go of ours that are no longer wanted; the ids this replica holds now. Commits."""
    await db.execute(
        update(SshTunnel)
        .where(WANTED, leases.free_or_ours(SshTunnel, owner, now))
        .values(lease_owner=owner, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        update(SshTunnel)
        .where(SshTunnel.lease_owner == owner, not_(WANTED))
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    held = await db.scalars(
        select(SshTunnel.id).where(SshTunnel.lease_owner == owner, SshTunnel.lease_until > now)
    )
    ids = set(held)
    await db.commit()
    return ids


async def target(db: AsyncSession, keyring: Keyring, tunnel_id: str, owner: str) -> Target | None:
    """The tunnel as an attempt needs it, while this replica holds it and it is wanted."""
    row = await db.scalar(
        select(SshTunnel).where(SshTunnel.id == tunnel_id, SshTunnel.lease_owner == owner, WANTED)
    )
    if row is None:
        return None
    return Target(
        id=row.id,
        host=row.host,
        port=row.port,
        username=row.username,
        private_key=keyring.open(row.private_key_sealed, SSH_PRIVATE_KEY.aad(row.id)),
        host_key=row.host_key,
        remote_port=row.remote_port,
    )


async def report(
    db: AsyncSession, tunnel_id: str, owner: str, outbox: Outbox, **values: Any
) -> bool:
    """Record what happened to the tunnel, only while ``owner`` holds it; dashboards are told.
    Whether it was recorded."""
    done = await db.execute(
        update(SshTunnel)
        .where(SshTunnel.id == tunnel_id, SshTunnel.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    row = await db.get(SshTunnel, tunnel_id, populate_existing=True)
    if row is not None:
        await tunnels.announce(db, row, outbox)
    return True


async def release(db: AsyncSession, owner: str, outbox: Outbox) -> None:
    """Let go of every tunnel this replica holds (it is stopping): another replica takes them
    over at its next look instead of after the lease runs out."""
    rows = list(await db.scalars(select(SshTunnel).where(SshTunnel.lease_owner == owner)))
    for row in rows:
        row.lease_owner = row.lease_until = None
        if row.status in ("connecting", "up"):
            row.status, row.last_error = "down", "the hub replica holding it stopped"
        await tunnels.announce(db, row, outbox)
