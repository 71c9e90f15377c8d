"""A tiny threaded HTTP stand-in for the hub's approval endpoints (docs/approvals.md).

``POST /api/v1/server/approvals`` records the request and answers 201 pending; ``GET
/api/v1/server/approvals/{id}?wait=s`` long-polls until the test calls ``decide`` (or the wait
ends). Real sockets, so the hook under test can be a real subprocess.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v1/server/approvals"


class ApprovalStub:
    def __init__(self, *, decide_on_create: dict[str, Any] | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.polls = 0
        self.decide_on_create = decide_on_create  # decide every approval as soon as it exists
        self._states: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ApprovalStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def decide(self, approval_id: str, status: str, reason: str, who: str = "ana@example") -> None:
        with self._changed:
            self._states[approval_id].update(status=status, reason=reason, decided_by=who)
            self._changed.notify_all()

    def _create(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        with self._changed:
            approval_id = f"appr-{len(self.created) + 1}"
            self.created.append(body)
            self.headers.append(headers)
            state = {"id": approval_id, "status": "pending", "reason": body.get("reason")}
            state.update(decided_by=None, expires_at="2030-01-01T00:00:00Z", decided_at=None)
            self._states[approval_id] = state
            if self.decide_on_create is not None:
                state.update(self.decide_on_create)
            self._changed.notify_all()
            return {"id": approval_id, "status": "pending", "expires_at": state["expires_at"]}

    def _wait(self, approval_id: str, seconds: float) -> dict[str, Any] | None:
        with self._changed:
            self.polls += 1
            state = self._states.get(approval_id)
            if state is None:
                return None
            self._changed.wait_for(lambda: state["status"] != "pending", timeout=seconds)
            return dict(state)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path != PREFIX:
                    self._reply(404, {"detail": "not found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                self._reply(201, stub._create(body, dict(self.headers.items())))

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if not url.path.startswith(PREFIX + "/"):
                    self._reply(404, {"detail": "not found"})
                    return
                wait = float(parse_qs(url.query).get("wait", ["0"])[0])
                if wait > 30:
                    self._reply(422, {"detail": "wait: at most 30"})
                    return
                state = stub._wait(url.path.rsplit("/", 1)[1], wait)
                if state is None:
                    self._reply(404, {"detail": "no such approval"})
                else:
                    self._reply(200, state)

        return Handler
