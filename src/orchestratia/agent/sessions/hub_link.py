"""The sessions' end of the hub link: what streams and replies send through, and what they count.

Output goes as binary frames (``protocol.output_frames``) on a connection whose ``auth_ok``
allowed them, else as ``session_output`` JSON; the choice is made per frame from the link's
current connection, so a reconnect to an older hub switches back at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel

from orchestratia.agent.link.errors import NotConnected
from orchestratia.agent.metrics import AgentMetrics
from orchestratia.protocol.base import b64encode
from orchestratia.protocol.output_frames import pack_session_output
from orchestratia.protocol.sessions import SessionOutputFrame


class Link(Protocol):
    """What the sessions need of the hub link (``HubConnection``); every send raises
    ``NotConnected`` when there is no connection to send on."""

    @property
    def binary_output(self) -> bool: ...

    async def send(self, frame: BaseModel) -> None: ...

    async def send_binary(self, message: bytes) -> None: ...


class Outlet(Protocol):
    """Where a stream sends (``HubLink``)."""

    async def send(self, frame: BaseModel) -> None: ...

    async def send_output(
        self, session_id: str, offset: int, data: bytes, redactions: Mapping[str, int] | None
    ) -> None: ...


class HubLink:
    """Sends through the attached ``Link`` (``NotConnected`` until one is), counting each frame
    it delivered in ``metrics``."""

    def __init__(self, metrics: AgentMetrics) -> None:
        self.target: Link | None = None
        self._metrics = metrics

    async def send(self, frame: BaseModel) -> None:
        await self._attached().send(frame)
        status = getattr(frame, "status", None)
        self._metrics.frame_sent(str(getattr(frame, "type", "?")), status if status else None)

    async def send_output(
        self, session_id: str, offset: int, data: bytes, redactions: Mapping[str, int] | None
    ) -> None:
        """``data`` at stream ``offset``, in the format the current connection negotiated.

        The hot path: no base64 and no model validation on binary links; on older ones the JSON
        is built without validating what we just encoded (the same bytes as a validated frame).
        """
        link = self._attached()
        if link.binary_output:
            # No await between the check and the send: the connection cannot change in between.
            await link.send_binary(pack_session_output(session_id, offset, data, redactions))
        else:
            frame = SessionOutputFrame.model_construct(
                type="session_output",
                session_id=session_id,
                data=b64encode(data),
                offset=offset,
                redactions=dict(redactions) if redactions else None,
            )
            await link.send(frame)
        self._metrics.frame_sent("session_output")

    def _attached(self) -> Link:
        if self.target is None:
            raise NotConnected("no hub connection attached")
        return self.target
