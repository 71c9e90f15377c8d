"""What a linked chat can ask the bot: ``/status`` (the project's running tasks and live
sessions) and ``/screen <session>`` (a session's current screen as text). Answers are Telegram
HTML; everything taken from the hub is escaped."""

from __future__ import annotations

import asyncio

import pyte
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Task
from orchestratia.hub.services.access.plans import LIVE_SESSION
from orchestratia.hub.services.fleet import recording
from orchestratia.hub.services.integrations.telegram.bot_api import MAX_TEXT
from orchestratia.hub.services.integrations.telegram.render import escape

# Tasks someone is (or should be) working on.
ACTIVE_TASKS = ("assigned", "planning", "plan_review", "running", "needs_human")
# Enough recording for a few full redraws of a screen; an older start only scrolls away.
SCREEN_TAIL = 64 * 1024
LISTED = 20

HELP = (
    "Commands:\n"
    "/status: running tasks and live sessions\n"
    "/screen &lt;session&gt;: a session's screen\n"
    "Reply to a question to answer it; tap the buttons to decide."
)


async def status(db: AsyncSession, project_id: str, project_name: str) -> str:
    tasks = list(
        await db.scalars(
            select(Task)
            .where(Task.project_id == project_id, Task.status.in_(ACTIVE_TASKS))
            .order_by(Task.updated_at.desc())
            .limit(LISTED)
        )
    )
    sessions = await db.execute(
        select(TerminalSession, Server.name)
        .join(Server, Server.id == TerminalSession.server_id)
        .where(TerminalSession.project_id == project_id, TerminalSession.status.in_(LIVE_SESSION))
        .order_by(TerminalSession.name)
        .limit(LISTED)
    )
    lines = [f"<b>{escape(project_name)}</b>", "", "<b>Tasks</b>"]
    lines += [f"• [{escape(t.status)}] {escape(t.title)}" for t in tasks] or ["none running"]
    lines += ["", "<b>Sessions</b>"]
    shown = [
        f"• {escape(s.name)} ({escape(s.status)}) on {escape(server)}" for s, server in sessions
    ]
    lines += shown or ["none live"]
    return "\n".join(lines)


async def find_session(db: AsyncSession, project_id: str, wanted: str) -> TerminalSession | None:
    """A live session of the project by name, id, or the start of its id; the newest wins."""
    named = [TerminalSession.name == wanted, TerminalSession.id == wanted]
    if len(wanted) >= 6:  # a short id prefix as the dashboard shows it
        named.append(TerminalSession.id.startswith(wanted, autoescape=True))
    found: TerminalSession | None = await db.scalar(
        select(TerminalSession)
        .where(
            TerminalSession.project_id == project_id,
            TerminalSession.status.in_(LIVE_SESSION),
            or_(*named),
        )
        .order_by(TerminalSession.created_at.desc())
        .limit(1)
    )
    return found


def _text_screen(tail: bytes, cols: int, rows: int, from_start: bool) -> list[str]:
    if not from_start:
        # The tail may begin inside an escape sequence: start at a line instead.
        cut = tail.find(b"\n")
        tail = tail[cut + 1 :] if cut >= 0 else tail
    screen = pyte.Screen(max(cols, 2), max(rows, 1))
    pyte.ByteStream(screen).feed(tail)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


async def screen(db: AsyncSession, project_id: str, wanted: str) -> str:
    if not wanted:
        return "Which session? /screen &lt;session name or id&gt;"
    session = await find_session(db, project_id, wanted)
    if session is None:
        return f"No live session {escape(wanted)!s} in this project."
    start = max(0, session.output_offset - SCREEN_TAIL)
    begin, tail = await recording.read(db, session.id, start, SCREEN_TAIL)
    # pyte is CPU-bound: off the event loop.
    lines = await asyncio.to_thread(_text_screen, tail, session.cols, session.rows, begin == 0)
    head = f"<b>{escape(session.name)}</b>\n"
    body = "\n".join(lines) or "(blank screen)"
    room = MAX_TEXT - len(head) - len("<pre></pre>")
    # Clip the text before escaping grows it, keeping the bottom of the screen (the prompt).
    while len(escape(body)) > room:
        body = body[len(escape(body)) - room :]
    return f"{head}<pre>{escape(body)}</pre>"
