"""A small client of the Telegram Bot API (https://core.telegram.org/bots/api).

Every method is ``POST <base>/bot<token>/<method>`` with a JSON body, answered with the
envelope ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``. The token is part of every URL, so nothing here lets a URL
reach a message: errors are rebuilt from the envelope or the exception's type, and any text
that still carries the token has it replaced."""

from __future__ import annotations

from typing import Any

import httpx

# Telegram's own cap on a message's text (after entities are parsed).
MAX_TEXT = 4096
# Seconds added to a long poll's own timeout before the request counts as hung.
_SLACK = 10.0
_TIMEOUT = 15.0


class TelegramError(Exception):
    """A failed call: Telegram's ``error_code`` (0 when no answer came) and ``description``;
    ``retry_after`` seconds when Telegram asked to slow down (429)."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{code or 'no answer'}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again later: no answer, rate limited, or Telegram's own trouble."""
        return self.code == 0 or self.code == 429 or self.code >= 500


class BotApi:
    """One bot's calls. Use as an async context manager (one connection pool per use)."""

    def __init__(self, base: str, token: str) -> None:
        self._base = base.rstrip("/")
        self._token = token
        self._client = httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False)

    async def __aenter__(self) -> BotApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    async def call(
        self, method: str, params: dict[str, Any] | None = None, wait: float = _TIMEOUT
    ) -> Any:
        """The ``result`` of ``method`` (``params`` left out when None); raises
        ``TelegramError``. ``wait``: seconds before the request counts as unanswered."""
        body = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self._base}/bot{self._token}/{method}"
        try:
            res = await self._client.post(url, json=body, timeout=wait)
            envelope = res.json()
        except httpx.HTTPError as exc:
            raise TelegramError(0, self._scrub(f"{type(exc).__name__}: {exc}")) from None
        except ValueError:
            raise TelegramError(
                res.status_code, "the Bot API answered something not JSON"
            ) from None
        if not isinstance(envelope, dict):
            raise TelegramError(res.status_code, "the Bot API answered an unexpected shape")
        if envelope.get("ok") is True:
            return envelope.get("result")
        parameters = envelope.get("parameters") or {}
        retry = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise TelegramError(
            int(envelope.get("error_code") or res.status_code),
            self._scrub(str(envelope.get("description") or "request failed"))[:500],
            int(retry) if isinstance(retry, int | float) else None,
        )

    async def set_webhook(self, url: str, secret: str) -> None:
        params = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": ["message", "callback_query"],
        }
        await self.call("setWebhook", params)

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_me(self) -> dict[str, Any]:
        return dict(await self.call("getMe"))

    async def get_updates(self, offset: int, timeout: int) -> list[dict[str, Any]]:
        params = {
            "offset": offset,
            "timeout": timeout,
            "allowed_updates": ["message", "callback_query"],
        }
        found = await self.call("getUpdates", params, wait=timeout + _SLACK)
        return [u for u in found or [] if isinstance(u, dict)]

    async def send_message(
        self,
        chat_id: int,
        text: str,
        markup: dict[str, Any] | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        params = {
            "chat_id": chat_id,
            "text": clip(text),
            "parse_mode": "HTML",
            "reply_markup": markup,
            "reply_parameters": {"message_id": reply_to} if reply_to else None,
            "link_preview_options": {"is_disabled": True},
        }
        sent = await self.call("sendMessage", params)
        return dict(sent)

    async def edit_text(self, chat_id: int, message_id: int, text: str) -> None:
        """Replace the text; the inline keyboard goes (it is not passed again)."""
        params = {"chat_id": chat_id, "message_id": message_id, "text": clip(text)}
        await self.call("editMessageText", params | {"parse_mode": "HTML"})

    async def answer_callback(self, callback_id: str, text: str) -> None:
        await self.call(
            "answerCallbackQuery", {"callback_query_id": callback_id, "text": text[:200]}
        )


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
