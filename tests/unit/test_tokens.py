from __future__ import annotations

import pytest

from orchestratia.hub.security import new_secret
from orchestratia.protocol.tokens import (
    MalformedToken,
    TokenKind,
    checksum_ok,
    decode_hub_url,
    encode_registration_token,
    mask_tokens,
    websocket_url,
    with_checksum,
)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "https://hub.example.com/base", "https://h.example:1"]
)
def test_round_trip_without_padding(url: str) -> None:
    token = encode_registration_token(url + "/", "s3cret")
    assert token.startswith("orcreg_") and "=" not in token.split(".")[0]
    assert decode_hub_url(token) == url


@pytest.mark.parametrize(
    "token",
    ["", "orc_abc", "orcreg_", "orcreg_.secret", "orcreg_!!!.secret", "orcreg_Zm9v.secret", "x.y"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(MalformedToken):
        decode_hub_url(token)


def test_websocket_url_follows_scheme() -> None:
    assert websocket_url("https://h.example/", "/ws/server") == "wss://h.example/ws/server"
    assert websocket_url("http://127.0.0.1:1", "/ws/server") == "ws://127.0.0.1:1/ws/server"


def test_mask_tokens_hides_every_hub_token_and_keeps_its_kind() -> None:
    registration = encode_registration_token("http://hub:8765", "s3cr3t-Body_x")
    line = (
        f'"GET /share/orcsh_Ab-c_9?x=1 HTTP/1.1" {registration} orcu_U1 orcs_S1, orc_K1. '
        "orchestra orc-ok"
    )
    assert mask_tokens(line) == (
        '"GET /share/orcsh_***?x=1 HTTP/1.1" orcreg_*** orcu_*** orcs_***, orc_*** orchestra orc-ok'
    )


def test_api_keys_carry_a_checksum_that_catches_typos_and_fakes() -> None:
    key = with_checksum(new_secret(TokenKind.API_KEY))
    assert key.startswith("orck_") and checksum_ok(key)
    assert mask_tokens(f"key={key} ok") == "key=orck_*** ok"
    flipped = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    assert not checksum_ok(flipped)
    assert not checksum_ok(key[:-1])
    assert not checksum_ok("orck_")
    assert not checksum_ok("")
