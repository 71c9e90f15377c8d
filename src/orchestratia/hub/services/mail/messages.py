"""The mails the hub sends, as plain text and simple HTML (every value escaped in the HTML)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from orchestratia.hub.services.mail.smtp import Message


def _paragraphs(texts: list[str]) -> str:
    return "".join(f"<p>{escape(t)}</p>" for t in texts)


def _html(before: list[str], link: str | None = None, after: tuple[str, ...] = ()) -> str:
    body = _paragraphs(before)
    if link is not None:
        safe = escape(link, quote=True)
        body += f'<p><a href="{safe}">{safe}</a></p>'
    body += _paragraphs(list(after))
    return f"<!doctype html><html><body>{body}</body></html>"


def invite(
    to: str, link: str, project: str, role: str, invited_by: str | None, expires_at: datetime
) -> Message:
    who = invited_by or "An administrator"
    expiry = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    lead = f"{who} invited you to the project {project} on Orchestratia, as {role}."
    steps = "Open this link to join (it works once):"
    tail = f"The link expires {expiry}. If you did not expect this invite, ignore this mail."
    return Message(
        to=to,
        subject=f"Invite to {project} on Orchestratia",
        text=f"{lead}\n\n{steps}\n{link}\n\n{tail}\n",
        html=_html([lead, steps], link, (tail,)),
    )


def test(to: str, sent_by: str) -> Message:
    text = f"This is a test mail from Orchestratia, sent by {sent_by}. Mail settings work."
    return Message(to=to, subject="Orchestratia test mail", text=text + "\n", html=_html([text]))


def notification(to: str, subject: str, lines: list[str], link: str) -> Message:
    """A notification: what happened in a few lines, then where to act on it."""
    tail = "You get this because of your notification settings on your Orchestratia account page."
    text = "\n\n".join(lines) + f"\n\n{link}\n\n{tail}\n"
    return Message(to=to, subject=subject, text=text, html=_html(lines, link, (tail,)))
