"""Access revocations one hub replica tells every replica (itself included), so that the browser
sockets bound to a login, a membership or a share link are closed or downgraded at once.

They are plain frames so a bus between replicas can carry them as JSON."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from orchestratia.protocol.base import Frame
from orchestratia.protocol.rest import Role

Id = Annotated[str, Field(min_length=1, max_length=64)]


class LoginsRevoked(Frame):
    """These logins (``AuthSession`` ids) ended: their sockets close with 4401."""

    type: Literal["logins_revoked"] = "logins_revoked"
    auth_session_ids: list[Id] = Field(min_length=1)
    reason: Literal["logout", "password_changed"]


class AccessChanged(Frame):
    """A user's role on a project changed: ``role`` is the one they act with now (None: no access
    left, sockets close with 4403; ``viewer``: terminals turn watch-only)."""

    type: Literal["access_changed"] = "access_changed"
    project_id: Id
    user_id: Id
    role: Role | None


class ShareLinkRevoked(Frame):
    """A share link was revoked: the viewers that came in with it close with 4401."""

    type: Literal["share_link_revoked"] = "share_link_revoked"
    token_hash: Annotated[str, Field(min_length=64, max_length=64)]


Revocation = Annotated[
    LoginsRevoked | AccessChanged | ShareLinkRevoked, Field(discriminator="type")
]
