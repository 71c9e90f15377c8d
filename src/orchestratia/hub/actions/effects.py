"""The after-commit step: every side effect of a committed change leaves the hub here, and only
here — deliveries to daemons, rule pushes, dashboard events on the bus, socket revocations,
daemon hang-ups — followed by the auto-assignment passes the change made due."""

from __future__ import annotations

import logging

from orchestratia.hub.services.fleet import servers, sessions
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import assignment
from orchestratia.hub.services.tasks import views as task_views
from orchestratia.hub.services.tasks.context import event_public
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import task_delivery
from orchestratia.protocol.cluster import DisconnectDaemon, RulesChanged, SessionViewChanged
from orchestratia.protocol.dashboard_events import TaskEvent, TaskUpdate, TimelineEntry

log = logging.getLogger(__name__)
MAX_ROUNDS = 5  # auto-assignment can trigger more auto-assignment; bound the chain


async def after_commit(hub: HubState, outbox: Outbox) -> None:
    """Carry out ``outbox``; call once the transaction that filled it committed."""
    me = hub.bus.replica_id
    for _ in range(MAX_ROUNDS):
        hub.metrics.transitions_committed(outbox.transitions)
        await task_delivery.send(hub, outbox.deliveries)
        # Every replica pushes rules to, and hangs up on, the daemons it holds.
        for tenant_id, version in outbox.rule_versions:
            await hub.bus.broadcast(RulesChanged(origin=me, tenant_id=tenant_id, version=version))
        if outbox.rules_sync:
            await hub.bus.broadcast(RulesChanged(origin=me))
        await _publish(hub, outbox)
        for revocation in outbox.revocations:
            await hub.bus.publish_revocation(revocation)
        for server_id in outbox.keys_revoked:
            reason = "server key revoked"
            await hub.bus.broadcast(DisconnectDaemon(origin=me, server_id=server_id, reason=reason))
        if not outbox.auto_assign:
            return
        outbox = await assignment_pass(hub, outbox.auto_assign)


async def _publish(hub: HubState, outbox: Outbox) -> None:
    """The outbox's dashboard events, built from the rows as committed."""
    for event in outbox.events:
        entry = TimelineEntry.model_validate(event_public(event))
        await hub.bus.publish(event.project_id, TaskEvent(event=entry))
    if outbox.tasks:
        async with hub.sessionmaker() as db:
            for task in await task_views.render_ids(db, outbox.tasks):
                await hub.bus.publish(task.project_id, TaskUpdate(task=task))
    for server in outbox.servers:
        await hub.bus.publish(server.project_id, servers.server_event(server))
    for session in outbox.sessions:
        await hub.bus.publish(session.project_id, sessions.session_event(session))
        view = SessionViewChanged(
            origin=hub.bus.replica_id,
            session_id=session.id,
            status=session.status,
            exit_code=session.exit_code,
            cols=session.cols,
            rows=session.rows,
        )
        await hub.bus.broadcast(view)  # the session's viewers, on every replica
    for project_id, notice in outbox.notices:
        await hub.bus.publish(project_id, notice)


async def assignment_pass(
    hub: HubState, project_ids: set[str], task_id: str | None = None
) -> Outbox:
    """Place waiting tasks of these projects (or only ``task_id``), one transaction each; the
    returned outbox holds what the placements must make happen."""
    outbox = Outbox()
    connected = await hub.bus.connected_ids()
    for project_id in sorted(project_ids):
        async with hub.sessionmaker() as db:
            try:
                await assignment.run(db, project_id, connected, outbox, task_id=task_id)
                await db.commit()
            except Exception:
                log.exception("auto-assignment failed for project %s", project_id)
                await db.rollback()
    return outbox
