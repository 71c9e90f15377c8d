"""Shipping the permission spool to the hub (spool format and locking: ``permission_spool``).

Every ~2 s the daemon rotates the spool, posts its entries in batches of at most 200 to ``POST
/api/v1/server/permissions/log`` and deletes the rotated file only after every batch got a 201.
On failure the unsent entries stay in the ``.sending`` file and are retried with backoff, so
nothing is lost while the hub is down; a batch resent after a lost reply is stored once,
because the hub dedupes by entry id. A batch the hub refuses for good (a 4xx naming one entry,
say a session it no longer knows) has that entry parked in ``permissions-rejected.jsonl``
and the rest sent again.

Before shipping, secrets in the tool input are masked (``redaction``) and it is clipped
(``clip_tool_input``): the hook's fast path cannot afford to load those, and the spool itself
is private (0600 in a 0700 directory).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from orchestratia.agent.approvals.permission_spool import (
    OPEN_APPEND,
    REJECTED_FILE,
    SENDING_GLOB,
    rotate,
)
from orchestratia.agent.files import write_private_file
from orchestratia.agent.link.backoff import Backoff
from orchestratia.agent.redaction import Redactor
from orchestratia.protocol.approvals import PermissionDecisionEntry, clip_tool_input

log = logging.getLogger(__name__)

LOG_PATH = "permissions/log"  # under /api/v1/server/
BATCH = 200
MAX_REASON = 2_000
_RETRYABLE = frozenset({401, 403, 408, 409, 425, 429})  # plus every 5xx
_NAMED_ENTRY = re.compile(r"entries\[(\d+)\]")


def redact_value(value: Any, patterns: Sequence[str]) -> Any:
    """``value`` with secrets masked in every string, keys included."""

    def text(raw: str) -> str:
        redactor = Redactor(patterns)
        data = raw.encode("utf-8", "surrogatepass")
        return (redactor.feed(data) + redactor.flush()).decode("utf-8", "surrogatepass")

    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {text(str(k)): redact_value(v, patterns) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, patterns) for v in value]
    return value


def prepare(raw: Any, patterns: Sequence[str]) -> PermissionDecisionEntry | None:
    """A spool line's object as a valid entry (redacted, clipped), or None if it is not one."""
    if not isinstance(raw, dict):
        return None
    tool_input = raw.get("tool_input")
    tool_input = tool_input if isinstance(tool_input, dict) else {}
    reason = raw.get("reason")
    cleaned = {
        **raw,
        "tool_input": clip_tool_input(redact_value(tool_input, patterns)),
        "reason": reason[:MAX_REASON] if isinstance(reason, str) else "",
    }
    try:
        return PermissionDecisionEntry.model_validate(cleaned)
    except ValidationError as exc:
        log.warning("dropping an invalid permission-log entry %s: %s", raw.get("id"), exc)
        return None


def read_entries(path: Path, patterns: Sequence[str]) -> list[PermissionDecisionEntry]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines[-1]:  # no final newline: a hook died mid-write; its line is not whole
        log.warning("dropping a torn last line in %s", path)
    entries = []
    for line in lines[:-1]:
        try:
            raw = json.loads(line)
        except ValueError:
            log.warning("dropping a permission-log line that is not JSON in %s", path)
            continue
        entry = prepare(raw, patterns)
        if entry is not None:
            entries.append(entry)
    return entries


def _lines(entries: Sequence[PermissionDecisionEntry]) -> bytes:
    return b"".join(e.model_dump_json().encode("utf-8") + b"\n" for e in entries)


class SpoolShipper:
    """Ships the spool in ``directory`` to the hub until cancelled (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        client: Callable[[], httpx.AsyncClient],
        *,
        redact_patterns: Sequence[str] = (),
        interval: float = 2.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.directory = directory
        self._client = client
        self._patterns = list(redact_patterns)
        self.interval = interval
        self._backoff = backoff or Backoff(interval, 60.0)
        self.shipped = 0  # entries the hub acknowledged, for tests and status

    async def run(self) -> None:
        while True:
            try:
                done = await self.ship_once()
            except Exception:
                log.exception("shipping the permission log failed")
                done = False
            if done:
                self._backoff.reset()
                await asyncio.sleep(self.interval)
            else:
                await asyncio.sleep(max(self.interval, self._backoff.next_delay()))

    async def ship_once(self) -> bool:
        """Ship what is pending; False if the hub did not take everything (retry later)."""
        pending = sorted(self.directory.glob(SENDING_GLOB))
        if not pending:
            rotated = await asyncio.to_thread(rotate, self.directory)
            pending = [Path(rotated)] if rotated is not None else []
        for path in pending:
            if not await self._ship_file(path):
                return False
        return True

    async def _ship_file(self, path: Path) -> bool:
        queue = await asyncio.to_thread(read_entries, path, self._patterns)
        while queue:
            batch = queue[:BATCH]
            outcome, bad = await self._post(batch)
            if outcome == "retry":
                # Keep only what the hub has not stored; ids make a resend harmless anyway.
                await asyncio.to_thread(write_private_file, path, _lines(queue), durable=True)
                return False
            if outcome == "rejected" and bad is not None and 0 <= bad < len(batch):
                # The hub refuses a whole batch for one bad entry (a session it no longer
                # knows): park that one and send the rest again.
                await asyncio.to_thread(self._keep_rejected, [batch[bad]])
                queue = batch[:bad] + queue[bad + 1 :]
                continue
            if outcome == "rejected":
                await asyncio.to_thread(self._keep_rejected, batch)
            else:
                self.shipped += len(batch)
            queue = queue[BATCH:]
        await asyncio.to_thread(path.unlink, missing_ok=True)
        return True

    async def _post(self, batch: Sequence[PermissionDecisionEntry]) -> tuple[str, int | None]:
        """``stored``, ``retry`` or ``rejected`` (with the index of the entry the hub named)."""
        body = {"entries": [e.model_dump(mode="json") for e in batch]}
        # Loud once per outage (the first failure after a success), quiet on the retries.
        level = logging.WARNING if self._backoff.attempt == 0 else logging.DEBUG
        try:
            response = await self._client().post(LOG_PATH, json=body)
        except httpx.HTTPError as exc:
            log.log(level, "cannot ship %d permission-log entries: %s", len(batch), exc)
            return "retry", None
        if response.status_code in (200, 201):
            return "stored", None
        detail = response.text[:300]
        if response.status_code >= 500 or response.status_code in _RETRYABLE:
            status = response.status_code
            log.log(level, "hub refused the permission log for now: %d %s", status, detail)
            return "retry", None
        # A 4xx the hub will repeat forever: park the entry (or batch) rather than block the log.
        log.error("hub rejected permission-log entries: %d %s; kept in %s",
                  response.status_code, detail, REJECTED_FILE)  # fmt: skip
        named = _NAMED_ENTRY.search(detail)
        return "rejected", int(named.group(1)) if named else None

    def _keep_rejected(self, batch: Sequence[PermissionDecisionEntry]) -> None:
        fd = os.open(self.directory / REJECTED_FILE, OPEN_APPEND, 0o600)
        try:
            os.write(fd, _lines(batch))
        finally:
            os.close(fd)
