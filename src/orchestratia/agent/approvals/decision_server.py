"""The daemon's side of the decision socket (protocol and why: ``decision_socket``).

``DecisionServer`` listens on ``<policy dir>/decide.sock`` (0600, in the 0700 policy directory)
and answers each request with ``decide(request)``, the ``RuleCache``'s verdict. Tool input is
only parsed as JSON and handed to the matcher as data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestratia.agent.approvals.decision_socket import socket_path, usable_path

log = logging.getLogger(__name__)

MAX_REQUEST = 1_200_000  # a hook input is at most 1 MB (hook_formats.MAX_HOOK_INPUT), plus framing
READ_TIMEOUT = 5.0  # a client that connects and then says nothing is dropped after this

Decide = Callable[[Mapping[str, Any]], dict[str, Any]]


class DecisionServer:
    """Serves ``decide`` on ``<policy_dir>/decide.sock`` until ``stop()``."""

    def __init__(self, policy_dir: Path, decide: Decide) -> None:
        self.path = Path(socket_path(policy_dir))
        self._decide = decide
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> bool:
        """Listen; False (and hooks fall back to the cache file) if the path is unusable."""
        if not usable_path(str(self.path)):
            log.warning("policy socket path %s is too long; hooks will read the cache", self.path)
            return False
        # A socket left by a daemon that died would make bind fail; nobody else creates it.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)  # the socket exists 0600 from the first instant
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST
            )
        except OSError as exc:
            log.warning("cannot listen on policy socket %s: %s", self.path, exc)
            return False
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        return True

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                line = await reader.readline()
            reply = self._answer(line)
            writer.write(json.dumps(reply).encode("utf-8") + b"\n")
            async with asyncio.timeout(READ_TIMEOUT):
                await writer.drain()
        except (TimeoutError, ValueError, OSError) as exc:  # ValueError: line over the limit
            log.debug("policy socket client dropped: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return {"error": "request is not JSON"}
        if not isinstance(request, dict) or not isinstance(request.get("tool_input"), dict):
            return {"error": "request must be an object with a tool_input object"}
        try:
            return self._decide(request)
        except Exception as exc:  # a bug must cost one fallback, not the server
            log.exception("policy decision failed")
            return {"error": f"{type(exc).__name__}: {exc}"}
