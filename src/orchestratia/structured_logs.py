"""Log lines for machines and the secrets kept out of every log line, hub and daemon alike.

``ORCHESTRATIA_LOG_FORMAT=json`` makes both processes write one JSON object per line (``ts``,
``level``, ``logger``, ``msg``, ``request_id``, and ``exc`` when there is a traceback); the hub's
access log gains ``client``, ``method``, ``path`` and ``status``. Whatever the format, the text
goes through ``mask_secrets`` first: hub tokens, webhook signing secrets, Telegram bot tokens
(httpx prints Bot API URLs), credentials in headers, query strings and ``key=value`` pairs.

Standard library only (plus the token list), so the daemon loads none of the hub to use it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from orchestratia.protocol.tokens import MASK, mask_tokens

LOG_FORMAT_ENV = "ORCHESTRATIA_LOG_FORMAT"
LogFormat = Literal["text", "json"]

# The id of the HTTP request (or WebSocket) being handled, set by the hub's request-id
# middleware; every record logged meanwhile carries it.
request_id_var: ContextVar[str | None] = ContextVar("orchestratia_request_id", default=None)

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Standard Webhooks signing secrets.
    (re.compile(r"whsec_[A-Za-z0-9+/=_\-]+"), "whsec_" + MASK),
    # Telegram bot tokens: <bot id>:<35 characters>, e.g. in https://api.telegram.org/bot<token>/.
    (re.compile(r"(?<!\d)\d{5,16}:[A-Za-z0-9_\-]{30,}"), MASK),
    # Credentials in headers, however they were printed (``Authorization: Bearer x``,
    # ``'cookie': 'a=b'``, ``x-api-key=…``).
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key)"
            r"(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n]+"
        ),
        r"\1\2" + MASK,
    ),
    # Secrets in query strings and key=value text; a hub token masked already keeps its prefix
    # (``share=orcsh_***`` still says a share link was used).
    (
        re.compile(
            r"(?i)\b(token|share|secret|password|passwd|api_key|apikey|key|code|signature|sig)"
            r"(=|['\"]\s*:\s*['\"]?)(?![a-z]{2,8}_\*\*\*(?:[\s&'\",;}]|$))[^\s&'\",;}]+"
        ),
        r"\1\2" + MASK,
    ),
)


def mask_secrets(text: str) -> str:
    """``text`` with every secret this project knows how to spot replaced by ``***``."""
    text = mask_tokens(text)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def log_format_from_env() -> LogFormat:
    """``json`` when ``ORCHESTRATIA_LOG_FORMAT`` says so, else ``text``."""
    return "json" if os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json" else "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, every string masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_secrets(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            entry.update(_access_fields(record.args))
        if record.exc_info:
            entry["exc"] = mask_secrets(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = mask_secrets(record.exc_text)
        if record.stack_info:
            entry["stack"] = mask_secrets(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _access_fields(args: tuple[Any, ...]) -> dict[str, Any]:
    # uvicorn's access record: (client address, method, path with query, HTTP version, status).
    if len(args) != 5:
        return {}
    client, method, path, _version, status = args
    return {"client": client, "method": method, "path": mask_secrets(str(path)), "status": status}


class MaskingTextFormatter(logging.Formatter):
    """The plain-text format, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


# Libraries that print secrets at INFO: httpx logs every request URL (a Telegram token is part
# of each Bot API URL); their warnings and errors still come through, masked.
CHATTY_LOGGERS = ("httpx", "httpcore", "hpack", "aiosmtplib", "mail.log")


def configure(log_format: LogFormat | None = None, level: int = logging.INFO) -> None:
    """Root logging for a process that is not the hub (the daemon, CLI commands)."""
    handler = logging.StreamHandler(sys.stderr)
    if (log_format or log_format_from_env()) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            MaskingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
