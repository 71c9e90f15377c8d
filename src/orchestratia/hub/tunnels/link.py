"""One SSH tunnel kept up by the replica that holds it: dial the server's sshd with the
tunnel's key, trust only the pinned host key, forward the server's loopback port back to this
hub, and on any loss dial again after a jittered, growing delay.

A host key other than the pinned one ends the attempt for good (``host_key_mismatch``, with the
presented key's fingerprint for the owner to judge); nothing is authenticated to that server.
A tunnel whose host key nobody confirmed yet is only asked for its key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from orchestratia.hub.actions.transaction import run_detached
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.fleet import ssh_keys, tunnel_leases
from orchestratia.hub.services.fleet.ssh_keys import asyncssh
from orchestratia.hub.services.fleet.tunnel_leases import Target
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MISMATCH = "the server presented a host key other than the pinned one; not connected"


class Backoff:
    """Full jitter: the n-th delay is uniform in [0, min(cap, base · 2^n)]."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap, self.attempt = base, max(cap, base), 0
        self._rng = random.Random()  # noqa: S311 - spreads reconnects, not a secret

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self.attempt, 62))
        self.attempt += 1
        return self._rng.uniform(0, ceiling)


def describe(exc: BaseException) -> str:
    """One line for the owner; never key material (asyncssh messages hold none)."""
    if isinstance(exc, asyncssh.PermissionDenied):
        return "the server refused the key (is its public key in ~/.ssh/authorized_keys?)"
    if isinstance(exc, asyncssh.ChannelListenError):
        return "the server refused to listen on the forwarded port (in use, or forwarding off)"
    if isinstance(exc, TimeoutError):
        return "no answer from the server in time"
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


async def _report(hub: HubState, tunnel_id: str, **values: Any) -> bool:
    values.setdefault("updated_at", utcnow())
    return await run_detached(
        hub,
        lambda db, outbox: tunnel_leases.report(db, tunnel_id, hub.replica_id, outbox, **values),
    )


async def _target(hub: HubState, tunnel_id: str) -> Target | None:
    async with hub.sessionmaker() as db:
        return await tunnel_leases.target(db, hub.keyring, tunnel_id, hub.replica_id)


async def _offer(hub: HubState, target: Target, timeout: float) -> ssh_keys.HostKey | None:
    """The key the server presents now, or None when that cannot be learnt."""
    try:
        return await ssh_keys.fetch_host_key(target.host, target.port, timeout)
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        log.info("tunnel %s: no host key from %s: %s", target.id, target.host, describe(exc))
        return None


async def _connect(hub: HubState, target: Target, pinned: str) -> asyncssh.SSHClientConnection:
    settings = hub.settings
    return await asyncssh.connect(
        target.host,
        target.port,
        username=target.username,
        client_keys=[ssh_keys.load_private(target.private_key)],
        known_hosts=([ssh_keys.load_public(pinned)], [], []),
        # Nothing of the hub machine's own SSH set-up takes part: no config, agent or keys.
        config=None,
        agent_path=None,
        password=None,
        kbdint_auth=False,
        keepalive_interval=settings.tunnel_keepalive_interval,
        keepalive_count_max=settings.tunnel_keepalive_count_max,
        connect_timeout=settings.tunnel_connect_timeout,
        login_timeout=settings.tunnel_connect_timeout,
    )


async def _carry(hub: HubState, target: Target, conn: asyncssh.SSHClientConnection) -> None:
    """Forward the server's loopback port to this hub and hold it until the connection ends."""
    dest_host, dest_port = hub.settings.listen_address()
    async with conn:
        await conn.forward_remote_port(LOOPBACK, target.remote_port, dest_host, dest_port)
        await _report(hub, target.id, status="up", connected_at=utcnow(), last_error=None)
        log.info("tunnel %s up: %s:%d", target.id, target.host, target.remote_port)
        await conn.wait_closed()


async def serve(hub: HubState, tunnel_id: str) -> None:
    """Keep the tunnel up while this replica holds it; returns when there is nothing to do
    (host key fetched for confirmation, mismatch, released). Cancelled to stop."""
    settings = hub.settings
    backoff = Backoff(settings.tunnel_backoff_base, settings.tunnel_backoff_cap)
    while True:
        target = await _target(hub, tunnel_id)
        if target is None:
            return
        if target.host_key is None:
            offered = await _offer(hub, target, settings.tunnel_connect_timeout)
            if offered is not None:
                await _report(
                    hub,
                    tunnel_id,
                    offered_host_key=offered.line,
                    offered_fingerprint=offered.fingerprint,
                    last_error=None,
                )
                return
            await _report(hub, tunnel_id, last_error=f"cannot reach {target.host}:{target.port}")
            await asyncio.sleep(backoff.next_delay())
            continue
        await _report(hub, tunnel_id, status="connecting")
        try:
            # asyncssh's own timeouts cover the dial and the handshake; this one the whole.
            async with asyncio.timeout(2 * settings.tunnel_connect_timeout):
                conn = await _connect(hub, target, target.host_key)
        except asyncssh.HostKeyNotVerifiable:
            offered = await _offer(hub, target, settings.tunnel_connect_timeout)
            await _report(
                hub,
                tunnel_id,
                status="host_key_mismatch",
                offered_host_key=offered.line if offered else None,
                offered_fingerprint=offered.fingerprint if offered else None,
                last_error=MISMATCH,
            )
            log.warning("tunnel %s: %s (%s)", tunnel_id, MISMATCH, target.host)
            return
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            await _report(hub, tunnel_id, status="down", last_error=describe(exc))
            await asyncio.sleep(backoff.next_delay())
            continue
        try:
            await _carry(hub, target, conn)
            lost = "the SSH connection was lost"
        except (OSError, asyncssh.Error) as exc:
            lost = describe(exc)
        else:
            backoff.attempt = 0  # it was up: the next loss starts the delays over
        with contextlib.suppress(Exception):
            conn.abort()
        await _report(hub, tunnel_id, status="down", last_error=lost)
        log.info("tunnel %s down: %s", tunnel_id, lost)
        await asyncio.sleep(backoff.next_delay())
