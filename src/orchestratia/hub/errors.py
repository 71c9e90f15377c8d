"""Typed domain errors. ``app.py`` maps them to HTTP statuses in one place."""

from __future__ import annotations


class HubError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(HubError):
    status_code = 404


class Unauthorized(HubError):
    status_code = 401


class Forbidden(HubError):
    status_code = 403


class Conflict(HubError):
    status_code = 409


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


class Invalid(HubError):
    """Input that passed the schema but not a rule that needs more context (a 422)."""

    status_code = 422
