"""Frame I/O shared by the WebSocket channels: size limits, binary refusal, error frames, and
closing a socket over a hub error."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from starlette.websockets import WebSocket

from orchestratia.hub.errors import HubError
from orchestratia.protocol.frames import ErrorFrame, dump

# A close frame's reason is at most 123 bytes.
MAX_CLOSE_REASON = 120
UNSUPPORTED_FRAME = "unsupported_frame"


class ChannelClosed(Exception):
    """The peer went away or sent something we close for."""


def describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "frame"
    return f"{where}: {first.get('msg', 'invalid')}"


async def receive_message(ws: WebSocket, max_bytes: int, timeout: float | None) -> str | bytes:
    """Next text or binary frame; oversize frames are answered with an error and skipped."""
    while True:
        async with asyncio.timeout(timeout):
            message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise ChannelClosed
        text = message.get("text")
        if text is None:
            data: bytes = message.get("bytes") or b""
            if len(data) <= max_bytes:
                return data
        # Cheap character bound first; encode only when the text could be over the byte limit.
        elif len(text) * 4 <= max_bytes or len(text.encode()) <= max_bytes:
            return str(text)
        await send_error(ws, "frame_too_large", "frame exceeds the size limit")


async def receive_text(ws: WebSocket, max_bytes: int, timeout: float | None) -> str:
    """Next text frame; binary or oversize frames are answered with an error and skipped."""
    while True:
        message = await receive_message(ws, max_bytes, timeout)
        if isinstance(message, str):
            return message
        await send_error(ws, UNSUPPORTED_FRAME, "binary frames are not negotiated")


async def send_error(ws: WebSocket, code: str, message: str, fatal: bool = False) -> None:
    await ws.send_text(dump(ErrorFrame(code=code, message=message, fatal=fatal)))


async def close_for(ws: WebSocket, error: HubError) -> None:
    """Close ``ws`` because of ``error``: with its close code, and its detail as the reason."""
    await ws.close(code=error.close_code, reason=error.detail[:MAX_CLOSE_REASON])
