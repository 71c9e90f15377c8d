"""A stand-in Telegram Bot API server for tests: a real HTTP server on 127.0.0.1 that answers
``POST /bot<token>/<method>`` with the payload shapes recorded from the Bot API docs
(``tests/fixtures/telegram``), keeps the updates a test pushes for ``getUpdates`` (long poll,
offsets confirm), and records every call so the test can read what the hub sent."""

from __future__ import annotations

import contextlib
import copy
import html
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
TOKEN = "123456789:AAHtestTOKENsecretPart_abcdefghijkl"
LONG_POLL_CAP = 5.0  # seconds; a test's hub asks for less


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float


class BotApiStandIn:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.failures: dict[str, list[dict[str, Any]]] = {}
        # Messages as Telegram returned them (text without markup), by message_id.
        self.messages: dict[int, dict[str, Any]] = {}
        self._next_update = 100
        self._next_message = 500
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- what a test does ------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue ``update`` (its ``update_id`` is assigned here) for the next getUpdates."""
        with self._lock:
            self._next_update += 1
            update = {**update, "update_id": self._next_update}
            self.updates.append(update)
            self._lock.notify_all()
            return self._next_update

    def fail_next(self, method: str, envelope: dict[str, Any]) -> None:
        """The next call of ``method`` gets ``envelope`` (an error) instead of its answer."""
        with self._lock:
            self.failures.setdefault(method, []).append(envelope)

    def sent(self, method: str, chat_id: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                c.params
                for c in self.calls
                if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
            ]

    def message(self, text: str, chat: int, user: int) -> dict[str, Any]:
        update = copy.deepcopy(fixture("update_message"))
        msg = update["message"]
        msg["text"], msg["chat"]["id"], msg["from"]["id"] = text, chat, user
        msg["message_id"] = self._message_id()
        msg.pop("entities", None)
        return update

    def reply(self, text: str, chat: int, user: int, to_message: int) -> dict[str, Any]:
        update = copy.deepcopy(fixture("update_reply"))
        msg = update["message"]
        msg["text"], msg["chat"]["id"], msg["from"]["id"] = text, chat, user
        msg["message_id"] = self._message_id()
        msg["reply_to_message"]["message_id"] = to_message
        msg["reply_to_message"]["chat"]["id"] = chat
        return update

    def tap(self, data: str, chat: int, user: int, message_id: int) -> dict[str, Any]:
        """A tap on a button of message ``message_id`` (as sent; a made-up one if unknown)."""
        update = copy.deepcopy(fixture("update_callback_query"))
        query = update["callback_query"]
        query["id"] = f"cb{self._message_id()}"
        query["data"], query["from"]["id"] = data, user
        with self._lock:
            sent = self.messages.get(message_id, {"message_id": message_id, "text": "?"})
        query["message"].update(copy.deepcopy(sent))
        query["message"]["chat"]["id"] = chat
        return update

    def _message_id(self) -> int:
        with self._lock:
            self._next_message += 1
            return self._next_message

    # --- serving ---------------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic()))
            queued = self.failures.get(method)
            if queued:
                return queued.pop(0)
        if method == "getMe":
            return fixture("get_me")
        if method == "getUpdates":
            return {"ok": True, "result": self._updates(params)}
        if method in ("sendMessage", "editMessageText"):
            envelope = fixture("message_result")
            result = envelope["result"]
            result["message_id"] = params.get("message_id") or self._message_id()
            result["chat"]["id"] = params.get("chat_id")
            # Telegram answers the text as shown: markup parsed into entities, not tags.
            result["text"] = html.unescape(re.sub(r"<[^>]+>", "", str(params.get("text", ""))))
            if params.get("reply_markup"):
                result["reply_markup"] = params["reply_markup"]
            params["message_id"] = result["message_id"]  # recorded for the test
            with self._lock:
                self.messages[result["message_id"]] = result
            return envelope
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return fixture("true_result")
        if method == "editMessageReplyMarkup":
            return fixture("true_result")
        return {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), LONG_POLL_CAP)
        with self._lock:
            # An offset confirms every update before it: Telegram forgets them.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            return list(self.updates)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                _, _, rest = self.path.partition("/bot")
                token, _, method = rest.partition("/")
                if token != standin.token:
                    envelope, status = fixture("error_401"), 401
                else:
                    envelope = standin._answer(method, body)
                    status = 200 if envelope.get("ok") else int(envelope["error_code"])
                raw = json.dumps(envelope).encode()
                # A hub shutting down hangs up on its long poll: nobody is left to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args  # quiet: the test reads the recorded calls instead

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def bot_api_standin() -> Iterator[BotApiStandIn]:
    standin = BotApiStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def first(found: Callable[[], list[dict[str, Any]]]) -> Callable[[], dict[str, Any] | None]:
    """For polling helpers: the first of what ``found`` lists, or None while it lists nothing."""

    def probe() -> dict[str, Any] | None:
        items = found()
        return items[0] if items else None

    return probe
