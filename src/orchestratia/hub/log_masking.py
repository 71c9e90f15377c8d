"""The hub process's logging: uvicorn's own set-up, with every secret masked on its way out.

Masking the formatted text (not the record's arguments) covers the access log's request line,
WebSocket handshake lines, our own messages and tracebacks alike. ``log_format="json"`` swaps
both formatters for ``structured_logs.JsonFormatter`` (one JSON object per line, request ids).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter, DefaultFormatter

from orchestratia.structured_logs import CHATTY_LOGGERS, JsonFormatter, LogFormat, mask_secrets


class _Masking(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


class MaskingFormatter(_Masking, DefaultFormatter):
    """uvicorn's default formatter, secrets masked."""


class MaskingAccessFormatter(_Masking, AccessFormatter):
    """uvicorn's access-log formatter, secrets masked (share links travel in paths and queries)."""


# Probes poll these every few seconds; their successes would drown the access log.
PROBE_PATHS = frozenset(("/healthz", "/readyz"))


class QuietProbes(logging.Filter):
    """Drops access-log lines of successful ``/healthz`` and ``/readyz`` calls (a failing
    ``/readyz`` is news, so it stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) == 5:
            path, status = str(args[2]).split("?", 1)[0], args[4]
            return not (path in PROBE_PATHS and isinstance(status, int) and status < 400)
        return True


def hub_log_config(log_format: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's ``LOGGING_CONFIG`` with masking formatters; our own ``orchestratia.*`` loggers
    write through the same (masking) handler instead of Python's bare last-resort one, and so do
    the HTTP and mail libraries, at WARNING (httpx prints request URLs, tokens and all, at INFO)."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    formatters = config["formatters"]
    if log_format == "json":
        json_formatter = {"()": f"{JsonFormatter.__module__}.{JsonFormatter.__name__}"}
        formatters["default"] = dict(json_formatter)
        formatters["access"] = dict(json_formatter)
    else:
        formatters["default"]["()"] = f"{__name__}.{MaskingFormatter.__name__}"
        formatters["access"]["()"] = f"{__name__}.{MaskingAccessFormatter.__name__}"
    config["filters"] = {"quiet_probes": {"()": f"{__name__}.{QuietProbes.__name__}"}}
    config["handlers"]["access"]["filters"] = ["quiet_probes"]
    config["loggers"]["orchestratia"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    # httpx logs each request's URL at INFO, and a Telegram Bot API URL holds the bot's token.
    for name in CHATTY_LOGGERS:
        config["loggers"][name] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
