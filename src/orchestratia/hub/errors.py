"""Typed domain errors. Each type carries the HTTP status (applied by ``app.py``) and the
WebSocket close code (applied by ``ws/io.close_for``) it maps to, so both mappings live here."""

from __future__ import annotations

from typing import ClassVar

from orchestratia.protocol.codes import CloseCode


class HubError(Exception):
    status_code: ClassVar[int] = 400
    # A socket closed over an error the peer can't fix by retrying as is.
    close_code: ClassVar[CloseCode] = CloseCode.PROTOCOL_ERROR

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(HubError):
    status_code = 404


class Unauthorized(HubError):
    status_code = 401
    close_code = CloseCode.UNAUTHORIZED


class Forbidden(HubError):
    status_code = 403
    close_code = CloseCode.FORBIDDEN


class Conflict(HubError):
    status_code = 409
    close_code = CloseCode.REPLACED


class Gone(HubError):
    """Something that existed and no longer works: a used, revoked or expired link."""

    status_code = 410


class LimitExceeded(HubError):
    """A plan limit; names the limit in its detail."""

    status_code = 402


class TooManyRequests(HubError):
    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StaleEpoch(Conflict):
    """A write from a session that no longer holds the task, or that names an old epoch."""


class Unavailable(HubError):
    """A passing failure on our side (the database); the peer should retry."""

    status_code = 503
    close_code = CloseCode.TRY_AGAIN


class Invalid(HubError):
    """Input that passed the schema but not a rule that needs more context (a 422)."""

    status_code = 422
