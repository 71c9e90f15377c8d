"""JSON log lines and the secrets kept out of every log line (``orchestratia.structured_logs``),
and the request ids the hub hands out (``hub.middleware.request_id_for``)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from orchestratia.hub.log_masking import hub_log_config
from orchestratia.hub.middleware import request_id_for
from orchestratia.structured_logs import JsonFormatter, mask_secrets, request_id_var

TELEGRAM = "123456789:AAHk3vQx9dJw8fG2LmNpQrStUvWxYz01234"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /s/orcsh_abcdefghijklmnopqrstuvwxyz0123456789 200", "abcdefghijklmnop"),
        ("signing with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjU"),
        (f"HTTP Request: POST https://api.telegram.org/bot{TELEGRAM}/getUpdates", TELEGRAM[10:]),
        ("headers {'Authorization': 'Bearer hunter2-long-value'}", "hunter2-long-value"),
        ("Cookie: orc_session=opaque-cookie-value", "opaque-cookie-value"),
        ("GET /cb?token=q1w2e3r4t5&x=1", "q1w2e3r4t5"),
        ("smtp login {'password': 'correct horse'}", "correct"),
        ("password=p4ssw0rd-in-text", "p4ssw0rd-in-text"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = mask_secrets(text)
    assert secret not in masked
    assert "***" in masked


def test_ordinary_text_is_left_alone() -> None:
    text = "session s1 exited with code: 0 after 3.2s (status_code=200, key rotation done)"
    assert mask_secrets(text) == text


def _record(name: str, msg: str, args: tuple[object, ...] = ()) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_json_lines_carry_the_request_id_and_masked_text() -> None:
    formatter = JsonFormatter()
    token = request_id_var.set("req-42")
    try:
        line = formatter.format(_record("orchestratia.x", "key %s", ("orck_" + "a" * 40,)))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "INFO" and entry["logger"] == "orchestratia.x"
    assert entry["msg"] == "key orck_***"
    assert entry["ts"].endswith("+00:00")


def test_access_lines_have_fields_and_tracebacks_are_kept_masked() -> None:
    formatter = JsonFormatter()
    args = ("127.0.0.1:5000", "GET", "/invite/orcinv_" + "b" * 40, "1.1", 200)
    entry = json.loads(formatter.format(_record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', args)))
    assert entry["path"] == "/invite/orcinv_***" and entry["status"] == 200
    assert "b" * 40 not in json.dumps(entry)
    try:
        raise RuntimeError("boom with whsec_abcdefghijklmnopqrstuvwxyz")
    except RuntimeError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    entry = json.loads(formatter.format(failed))
    assert "RuntimeError" in entry["exc"] and "abcdefghijkl" not in entry["exc"]
    assert entry["request_id"] is None


def test_request_ids_from_callers_are_kept_only_when_sane() -> None:
    def rid(value: bytes) -> str:
        return request_id_for({"type": "http", "headers": [(b"x-request-id", value)]})

    assert rid(b"abc-123_X.y") == "abc-123_X.y"
    for bad in (b"a" * 65, b"has space", b"", b'quo"te', b"new\nline"):
        generated = rid(bad)
        assert generated != bad.decode(errors="replace") and len(generated) == 32


def test_hub_log_config_json_and_quiet_http_libraries() -> None:
    config = hub_log_config("json")
    assert config["formatters"]["access"]["()"].endswith("JsonFormatter")
    assert config["loggers"]["httpx"]["level"] == "WARNING"
    assert hub_log_config()["formatters"]["default"]["()"].endswith("MaskingFormatter")


def test_a_masked_hub_token_keeps_its_prefix_and_nothing_rides_behind_it() -> None:
    secret = "orcsh_" + "s3cr3t" * 6
    line = mask_secrets(f"GET /ws/sessions/1/view?share={secret}&x=1 token=ab_***SMUGGLED")
    assert line == "GET /ws/sessions/1/view?share=orcsh_***&x=1 token=***"
