"""The link's own hub frames after the handshake; the rest go to the daemon's routes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from orchestratia.agent.link.routing import route
from orchestratia.protocol.frames import AuthOkFrame, ErrorFrame, HeartbeatAckFrame, PongFrame

log = logging.getLogger(__name__)


async def _ignore(_frame: object, _exc: object = None) -> None:
    """Liveness replies count by arriving (``_last_rx``); a late ``auth_ok`` says nothing new."""


async def _hub_error(error: ErrorFrame) -> None:
    # A fatal error is followed by the hub's close, whose code ends the connection.
    fatal = " (fatal)" if error.fatal else ""
    log.warning("hub reported %s: %s%s", error.code, error.message, fatal)


async def _malformed_error(raw: Mapping[str, Any], _exc: ValidationError) -> None:
    log.warning("hub sent a malformed error frame: %.200s", raw)


LINK_ROUTES = (
    route(AuthOkFrame, _ignore, _ignore),
    route(HeartbeatAckFrame, _ignore, _ignore),
    route(PongFrame, _ignore, _ignore),
    route(ErrorFrame, _hub_error, _malformed_error),
)
