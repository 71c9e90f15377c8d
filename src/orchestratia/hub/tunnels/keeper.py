"""The tunnel keeper, one per hub replica: it takes and renews leases on SSH tunnels
(``tunnel_leases.claim``) and runs one ``link.serve`` task for each tunnel it holds; a tunnel
whose lease it lost (another replica took over), that was disabled or removed, has its task
cancelled, which closes its SSH connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from orchestratia.hub.actions.transaction import run_detached
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.fleet import tunnel_leases
from orchestratia.hub.state import HubState
from orchestratia.hub.tunnels import link

log = logging.getLogger(__name__)


class TunnelKeeper:
    def __init__(self, hub: HubState) -> None:
        self.hub = hub
        self.running: dict[str, asyncio.Task[None]] = {}
        self.renewed_at = time.monotonic()

    async def look(self) -> None:
        """One pass: renew leases, start tunnels newly held, stop those no longer ours."""
        hub = self.hub
        lease = timedelta(seconds=hub.settings.tunnel_lease_seconds)
        started = time.monotonic()
        async with hub.sessionmaker() as db:
            held = await tunnel_leases.claim(db, hub.replica_id, utcnow(), lease)
        self.renewed_at = started
        for tunnel_id, task in list(self.running.items()):
            if tunnel_id not in held:
                task.cancel()
            if task.done() or tunnel_id not in held:
                del self.running[tunnel_id]
        for tunnel_id in held - self.running.keys():
            self.running[tunnel_id] = asyncio.create_task(
                self._serve(tunnel_id), name=f"tunnel {tunnel_id}"
            )

    def drop_if_lapsed(self) -> None:
        """Without the database the leases cannot be renewed: once they have lapsed another
        replica may hold the tunnels, so this one closes its connections."""
        if time.monotonic() - self.renewed_at < self.hub.settings.tunnel_lease_seconds:
            return
        for task in self.running.values():
            task.cancel()
        self.running.clear()

    async def _serve(self, tunnel_id: str) -> None:
        try:
            await link.serve(self.hub, tunnel_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug or an unopenable key: logged, and the next look starts it again.
            log.exception("tunnel %s failed", tunnel_id)

    async def stop(self) -> None:
        """Close every tunnel and give up their leases, so another replica takes them now."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.running.clear()
        hub = self.hub
        await run_detached(
            hub, lambda db, outbox: tunnel_leases.release(db, hub.replica_id, outbox)
        )


async def keep(hub: HubState, stop: asyncio.Event) -> None:
    """Look at the tunnels every third of the lease (sooner when ``hub.tunnels_due`` is set)
    until ``stop``."""
    keeper = TunnelKeeper(hub)
    interval = hub.settings.tunnel_lease_seconds / 3
    try:
        while not stop.is_set():
            hub.tunnels_due.clear()
            try:
                await keeper.look()
            except Exception:
                log.exception("the tunnel keeper's look failed; retrying")
                keeper.drop_if_lapsed()
            waits = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(hub.tunnels_due.wait()),
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED), interval
                )
            for waiting in waits:
                waiting.cancel()
    finally:
        try:
            await keeper.stop()
        except Exception:
            log.exception("releasing the tunnels failed; their leases lapse instead")
