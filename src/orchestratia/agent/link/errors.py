"""What the hub's replies mean for the link: the one place close codes and error frames become
typed errors, and where each error's retry policy is decided (by its type)."""

from __future__ import annotations

import json
import logging
from typing import Any

from websockets.exceptions import ConnectionClosed

from orchestratia.protocol.codes import CloseCode
from orchestratia.protocol.frames import ErrorFrame

log = logging.getLogger(__name__)

UNAUTHORIZED_ERROR_CODE = "unauthorized"


class LinkError(Exception):
    """The current connection failed; retry with the normal backoff."""


class KeyRejected(LinkError):
    """The hub refused our server key. Retrying soon cannot help, so retries go slow."""


class Replaced(LinkError):
    """Another process connected with this server's key and the hub dropped us for it.

    Retried slowly too: two daemons sharing a key would otherwise evict each other forever.
    """


class NotConnected(Exception):
    """A frame was sent while there is no authenticated connection."""


def parse_frame(raw: str | bytes) -> dict[str, Any] | None:
    """The frame as a JSON object, or None (logged) when the hub sent something else."""
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        log.warning("hub sent a frame that is not JSON (%d bytes); ignored", len(raw))
        return None
    if not isinstance(frame, dict):
        log.warning("hub sent a JSON frame that is not an object; ignored")
        return None
    return frame


def raise_for_handshake_error(error: ErrorFrame) -> None:
    """Raise the LinkError an ``error`` frame before ``auth_ok`` stands for; non-fatal ones log.

    Only ``unauthorized`` means the key is bad. Other fatal errors (``auth_timeout``,
    ``auth_required``) are our bug or a slow link, and deserve the normal backoff.
    """
    if error.code == UNAUTHORIZED_ERROR_CODE:
        raise KeyRejected(key_rejected_message(error.message))
    if error.fatal:
        raise LinkError(f"hub refused the handshake: {error.code}: {error.message}")
    log.warning("hub reported %s during handshake: %s", error.code, error.message)


def closed_error(exc: ConnectionClosed) -> LinkError:
    """The LinkError a closed socket stands for, judged by the close code the hub sent."""
    close = exc.rcvd
    if close is None:
        return LinkError("connection to the hub was lost")
    reason = f": {close.reason}" if close.reason else ""
    if close.code == CloseCode.UNAUTHORIZED:
        return KeyRejected(key_rejected_message(close.reason or f"close code {close.code}"))
    if close.code == CloseCode.REPLACED:
        return Replaced(
            "another daemon connected with this server's key and replaced this one"
            f" (close code {close.code}{reason}); is the agent running twice?"
        )
    return LinkError(f"hub closed the connection (code {close.code}{reason})")


def key_rejected_message(detail: str) -> str:
    return (
        f"key rejected by the hub ({detail}); the server may have been deleted or its key "
        "rotated. Re-register with `orchestratia agent register TOKEN`"
    )
