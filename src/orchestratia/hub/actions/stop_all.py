"""Stop all agents (the kill switch) of a project or of the whole tenant, and resume.

Every live session is sent Ctrl-C through its daemon, the way a person at the terminal would;
whatever still runs after ``stop_all_grace`` seconds has its process tree killed
(``session_kill``). The sessions end as their daemons report it, and their tasks follow the
project's lost-session policy. Auto-assignment stays paused until an owner resumes it.

Sessions on servers not connected to this hub cannot be reached: they are counted and named in
the answer; if their daemon comes back while the project is still paused and reports them
alive, they are killed then (``kill_on_reconnect``), else the lost-session sweep ends them.
The stop runs as a task of its own so a caller hanging up mid-grace cannot leave it half done."""

from __future__ import annotations

import asyncio
from base64 import b64encode
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run, run_detached
from orchestratia.hub.db.models import Project, TerminalSession
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import LIVE_SESSION
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import assignment_pause as pauses
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.daemon_routing import send_to_daemon
from orchestratia.protocol.sessions import SessionInputFrame, SessionKillFrame
from orchestratia.protocol.stop_all import AssignmentPause, ResumeResult, StopAllResult

CTRL_C = b64encode(b"\x03").decode()
POLL = 0.2  # how often the grace looks for sessions that ended
KILL_SETTLE = 3.0  # how long the stop waits for killed sessions to be reported ended


@dataclass(frozen=True)
class _Target:
    session_id: str
    server_id: str
    project_id: str


async def stop(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str | None,
    reason: str | None,
    actor: audit.Actor,
) -> StopAllResult:
    """Pause the project(s), Ctrl-C their live sessions, kill what outlives the grace."""

    async def begin(outbox: Outbox) -> tuple[list[AssignmentPause], list[_Target]]:
        projects = await pauses.targets(db, principal, project_id)
        paused = await pauses.pause(db, principal, projects, reason, actor, outbox)
        live = await pauses.live_sessions(db, projects)
        return paused, [_Target(s.id, s.server_id, s.project_id) for s in live]

    paused, live = await run(db, hub, begin)
    already = [t for t in live if t.session_id in hub.stopping]
    signalled: list[_Target] = []
    not_reached: list[_Target] = []
    for target in live:
        if target in already:
            continue
        frame = SessionInputFrame(session_id=target.session_id, data=CTRL_C)
        if await send_to_daemon(hub, target.server_id, frame):
            signalled.append(target)
        else:
            not_reached.append(target)
    hub.stopping.update(t.session_id for t in signalled)
    grace = hub.settings.stop_all_grace
    job = asyncio.create_task(_finish(hub, signalled, grace, actor))
    hub.stops.add(job)
    job.add_done_callback(hub.stops.discard)
    killed, lost_meanwhile = await asyncio.shield(job)
    unreached = [t.session_id for t in not_reached] + lost_meanwhile
    result = StopAllResult(
        projects=paused,
        sessions=len(live),
        stopped=len(signalled) - killed - len(lost_meanwhile),
        killed=killed,
        not_reached=len(unreached),
        already_stopping=len(already),
        grace_seconds=grace,
        not_reached_ids=unreached,
    )
    await _audit_outcome(hub, principal, project_id, reason, result, actor)
    return result


async def _live(hub: HubState, ids: list[str]) -> list[TerminalSession]:
    async with hub.sessionmaker() as db:
        return [
            s
            for sid in ids
            if (s := await db.get(TerminalSession, sid)) is not None and s.status in LIVE_SESSION
        ]


async def _wait_ended(hub: HubState, ids: list[str], seconds: float) -> list[TerminalSession]:
    """The sessions of ``ids`` still live once they all ended or ``seconds`` passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    live = await _live(hub, ids)
    while live and loop.time() < deadline:
        await asyncio.sleep(POLL)
        live = await _live(hub, [s.id for s in live])
    return live


async def _finish(
    hub: HubState,
    signalled: list[_Target],
    grace: float,
    actor: audit.Actor,
) -> tuple[int, list[str]]:
    """After the grace, kill the process tree of every signalled session still running;
    returns how many were killed and the ids of those whose daemon went away meanwhile."""
    ids = [t.session_id for t in signalled]
    try:
        survivors = await _wait_ended(hub, ids, grace)
        killed: list[TerminalSession] = []
        gone: list[TerminalSession] = []
        for s in survivors:
            sent = await send_to_daemon(hub, s.server_id, SessionKillFrame(session_id=s.id))
            (killed if sent else gone).append(s)

        if killed:
            details = {"by": "stop-all", "after_grace_seconds": grace}
            await _record_kills(hub, killed, actor, details)
            await _wait_ended(hub, [s.id for s in killed], KILL_SETTLE)
        return len(killed), [s.id for s in gone]
    finally:
        hub.stopping.difference_update(ids)


async def _record_kills(
    hub: HubState, killed: list[TerminalSession], actor: audit.Actor, details: dict[str, object]
) -> None:
    async def work(db: AsyncSession, _: Outbox) -> None:
        for s in killed:
            await audit.record(
                db,
                actor,
                "session.killed",
                tenant_id=s.tenant_id,
                project_id=s.project_id,
                target_type="session",
                target_id=s.id,
                details=details,
            )

    await run_detached(hub, work)


async def kill_on_reconnect(hub: HubState, stopped: list[TerminalSession]) -> None:
    """Kill sessions a stop-all could not reach, now that their daemon is back (see
    ``assignment_pause.outlived_a_stop``)."""
    killed = [
        s
        for s in stopped
        if await send_to_daemon(hub, s.server_id, SessionKillFrame(session_id=s.id))
    ]
    if killed:
        actor = audit.Actor("system", "stop-all")
        await _record_kills(hub, killed, actor, {"by": "stop-all", "on_reconnect": True})


async def _audit_outcome(
    hub: HubState,
    principal: Principal,
    project_id: str | None,
    reason: str | None,
    result: StopAllResult,
    actor: audit.Actor,
) -> None:
    """One ``agents.stopped`` row (on the project, or on the tenant for a tenant-wide stop):
    who, why, and the counts before and after."""

    async def work(db: AsyncSession, _: Outbox) -> None:
        projects = [p for p in [await db.get(Project, x.project_id) for x in result.projects] if p]
        await audit.record(
            db,
            actor,
            "agents.stopped",
            tenant_id=principal.tenant_id,
            project_id=project_id,
            target_type="project" if project_id else "tenant",
            target_id=project_id or principal.tenant_id,
            details={
                "by": principal.email,
                "reason": reason,
                "projects": len(projects),
                "live_before": result.sessions,
                "stopped": result.stopped,
                "killed": result.killed,
                "not_reached": result.not_reached,
                "already_stopping": result.already_stopping,
                "live_after": len(await pauses.live_sessions(db, projects)),
            },
        )

    await run_detached(hub, work)


async def resume(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str | None,
    actor: audit.Actor,
) -> ResumeResult:
    async def work(outbox: Outbox) -> list[AssignmentPause]:
        projects = await pauses.targets(db, principal, project_id)
        return await pauses.resume(db, principal, projects, actor, outbox)

    return ResumeResult(projects=await run(db, hub, work))
