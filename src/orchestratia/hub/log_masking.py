"""The hub process's logging: uvicorn's own set-up, with every hub token masked on its way out.

Masking the formatted text (not the record's arguments) covers the access log's request line,
WebSocket handshake lines, our own messages and tracebacks alike.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter, DefaultFormatter

from orchestratia.protocol.tokens import mask_tokens


class _Masking(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_tokens(super().format(record))


class MaskingFormatter(_Masking, DefaultFormatter):
    """uvicorn's default formatter, tokens masked."""


class MaskingAccessFormatter(_Masking, AccessFormatter):
    """uvicorn's access-log formatter, tokens masked (share links travel in paths and queries)."""


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


def hub_log_config() -> dict[str, Any]:
    """uvicorn's ``LOGGING_CONFIG`` with masking formatters; our own ``orchestratia.*`` loggers
    write through the same (masking) handler instead of Python's bare last-resort one."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    formatters = config["formatters"]
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
    config["loggers"]["httpx"] = {"level": "WARNING"}
    config["loggers"]["httpcore"] = {"level": "WARNING"}
    return config
