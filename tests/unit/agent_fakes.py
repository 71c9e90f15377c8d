"""An in-process stand-in for the hub's ``/ws/server`` channel, for agent daemon tests."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from orchestratia.agent.config import AgentConfig


class FakeHub:
    """Speaks auth → auth_ok → heartbeat_ack like the hub; knobs make it misbehave on purpose.

    ``reject_close``: close with this code right after the auth frame.
    ``reject_error``: send this fatal error frame (code) before closing with 4401.
    ``no_auth_ok``: never answer the auth frame. ``ack=False``: never answer heartbeats, so
    after auth_ok the link goes silent like a half-open TCP connection.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 0.2,
        reject_close: int | None = None,
        reject_error: str | None = None,
        no_auth_ok: bool = False,
        ack: bool = True,
        after_auth: list[str] | None = None,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.reject_close = reject_close
        self.reject_error = reject_error
        self.no_auth_ok = no_auth_ok
        self.ack = ack
        self.after_auth = after_auth or []
        self.auths: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self.client_close_codes: list[int | None] = []
        self.live: set[ServerConnection] = set()
        self.connections = 0
        self._server: Server | None = None
        self.url = ""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame.get("type") == kind]

    def config(self, **overrides: Any) -> AgentConfig:
        values: dict[str, Any] = {
            "hub_url": self.url,
            "api_key": "orc_test_key",
            "server_id": "srv_from_config",
            "name": "test-box",
            "repos": {"app": "/srv/app"},
            "heartbeat_interval": self.heartbeat_interval,
        }
        values.update(overrides)
        return AgentConfig(**values)

    async def drop_all(self, code: int = 1012) -> None:
        for ws in list(self.live):
            await ws.close(code, "restarting")

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.live.add(ws)
        try:
            self.auths.append(json.loads(await ws.recv()))
            if self.reject_error is not None:
                error = {"type": "error", "code": self.reject_error, "message": "bad key"}
                await ws.send(json.dumps({**error, "fatal": True}))
                await ws.close(4401, "bad key")
                return
            if self.reject_close is not None:
                await ws.close(self.reject_close, "unknown server key")
                return
            if self.no_auth_ok:
                await ws.wait_closed()
                return
            auth_ok = {
                "type": "auth_ok",
                "server_id": "srv_from_hub",
                "protocol": 2,
                "heartbeat_interval": self.heartbeat_interval,
            }
            await ws.send(json.dumps(auth_ok))
            for raw in self.after_auth:
                await ws.send(raw)
            while True:
                frame = json.loads(await ws.recv())
                self.frames.append(frame)
                if frame.get("type") == "heartbeat" and self.ack:
                    await ws.send(json.dumps({"type": "heartbeat_ack"}))
        except ConnectionClosed as exc:
            self.client_close_codes.append(exc.rcvd.code if exc.rcvd else None)
        finally:
            self.live.discard(ws)

    async def __aenter__(self) -> FakeHub:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
