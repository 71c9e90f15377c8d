"""Streaming redaction: secrets masked whatever the read boundaries, plain text untouched."""

from __future__ import annotations

import random

import pytest

from orchestratia.agent.redaction import Redactor, SecretPattern

B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
PEM_BODY = b"\r\n".join(bytes(random.Random(7).choices(B64, k=64)) for _ in range(20))

# (kind, head shown in the output, secret part that must never appear)
SECRETS: list[tuple[str, bytes, bytes]] = [
    ("aws_access_key", b"AKIA", b"IOSFODNN7EXAMPLE"),
    ("github_token", b"ghp_", b"x1Y2z3" * 6 + b"Q9"),
    ("github_pat", b"github_pat_", b"11ABCDEFG0_" + b"k" * 30),
    ("anthropic_key", b"sk-ant-", b"api03-" + b"Zz_-9" * 8),
    ("openai_key", b"sk-", b"proj-" + b"A1b2C3" * 5),
    ("slack_token", b"xoxb-", b"123456789012-abcDEF"),
    ("google_api_key", b"AIza", b"SyD" + b"q" * 32),
    ("orchestratia_key", b"orcs_", b"Kq3_x-" * 7),
    ("orchestratia_key", b"orcreg_", b"aHR0cDovL2h1Yg.s3cr3t" + b"v" * 20),
    (
        "jwt",
        b"eyJ",
        b"hbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "private_key",
        b"-----BEGIN OPENSSH PRIVATE KEY-----",
        b"\r\n" + PEM_BODY + b"\r\n-----END OPENSSH PRIVATE KEY-----",
    ),
]
IDS = [f"{kind}-{head.decode()[:8]}" for kind, head, _ in SECRETS]


def run(redactor: Redactor, *pieces: bytes) -> bytes:
    return b"".join(redactor.feed(p) for p in pieces) + redactor.flush()


def framed(head: bytes, secret: bytes) -> bytes:
    # Colour codes right before the token and a prompt after it, as a terminal shows them;
    # the last byte is half a UTF-8 character, which must not upset anything.
    return b"export X=1\r\n\x1b[1;31m" + head + secret + b"\x1b[0m\r\n$ ls \xc3"


@pytest.mark.parametrize(("kind", "head", "secret"), SECRETS, ids=IDS)
def test_default_patterns_mask_the_secret_and_keep_the_head(
    kind: str, head: bytes, secret: bytes
) -> None:
    redactor = Redactor()
    out = run(redactor, framed(head, secret))
    assert out == framed(head, f"[REDACTED:{kind}]".encode())
    assert redactor.counts == {kind: 1}


@pytest.mark.parametrize(("kind", "head", "secret"), SECRETS, ids=IDS)
def test_secret_split_at_every_byte_boundary_is_still_masked(
    kind: str, head: bytes, secret: bytes
) -> None:
    text = framed(head, secret)
    expected = framed(head, f"[REDACTED:{kind}]".encode())
    for cut in range(len(text) + 1):
        redactor = Redactor()
        out = run(redactor, text[:cut], text[cut:])
        assert out == expected, f"split at {cut}"
        assert redactor.counts[kind] == 1


def test_byte_by_byte_and_random_splits_give_the_same_output() -> None:
    rng = random.Random(42)
    stream = b"".join(framed(head, secret) for _, head, secret in SECRETS) * 3
    expected = run(Redactor(), stream)
    assert run(Redactor(), *(stream[i : i + 1] for i in range(len(stream)))) == expected
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 12))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert run(Redactor(), *pieces) == expected
    assert all(secret not in expected for _, _, secret in SECRETS)


def test_plain_text_passes_through_unchanged_and_without_delay() -> None:
    # Includes partial heads at the end of reads ("s", "gh", "AKI", "-----BEG"): they are
    # emitted at once; only a complete head is worth waiting for.
    redactor = Redactor()
    pieces = [
        b"$ sudo apt install ",
        b"s",
        b"k8s\r\ntask-runner-implements-the-login-flow ok\r\n",
        b"gh",
        b" repo view\r\n\x1b[32m\xe2\x9c\x93\x1b[0m done AKI",
        b"A\r\n-----BEG",
        b"IN nothing here\r\n\xf0\x9f",
        b"\x99\x82 caf\xc3",
        b"\xa9",
    ]
    for piece in pieces:
        assert redactor.feed(piece) == piece
        assert redactor.pending == 0
    assert redactor.flush() == b""
    assert redactor.counts == {}


def test_a_complete_head_is_held_until_the_secret_is_decided() -> None:
    redactor = Redactor()
    assert redactor.feed(b"key: sk-") == b"key: "
    assert redactor.pending == 3
    assert redactor.feed(b"abc") == b""
    assert redactor.feed(b" is short") == b"sk-abc is short"
    assert redactor.pending == 0


def test_word_glued_heads_are_not_secrets_but_heads_after_escapes_are() -> None:
    body = b"A1b2C3d4E5f6G7h8I9j0"
    assert run(Redactor(), b"task-" + body + b"\n") == b"task-" + body + b"\n"
    assert run(Redactor(), b"\x1b[Ksk-" + body + b"\n") == b"\x1b[Ksk-[REDACTED:openai_key]\n"


def test_pem_block_without_end_is_capped_masked_and_its_body_dropped() -> None:
    redactor = Redactor(max_secret_len=4096)
    out = redactor.feed(b"$ cat key\r\n-----BEGIN RSA PRIVATE KEY-----\r\n")
    for _ in range(200):  # 13 KB of base64 lines, no END
        out += redactor.feed(PEM_BODY[:64] + b"\r\n")
        assert redactor.pending <= 4096
    out += redactor.feed(b"$ echo next\r\n") + redactor.flush()
    assert out == (
        b"$ cat key\r\n-----BEGIN RSA PRIVATE KEY-----[REDACTED:private_key]$ echo next\r\n"
    )
    assert redactor.counts == {"private_key": 1}


def test_truncated_pem_is_masked_but_prose_mentioning_one_is_not() -> None:
    cut = b"-----BEGIN PRIVATE KEY-----\r\n" + PEM_BODY[:130] + b"\r\n$ "
    assert run(Redactor(), cut) == b"-----BEGIN PRIVATE KEY-----[REDACTED:private_key]\r\n$ "
    prose = b"A key starts with -----BEGIN PRIVATE KEY----- and then base64.\r\n"
    assert run(Redactor(), prose) == prose


def test_pending_stays_bounded_on_an_endless_token() -> None:
    redactor = Redactor(max_secret_len=1000)
    out = redactor.feed(b"sk-")
    for _ in range(100):
        out += redactor.feed(b"a" * 1000)
        assert redactor.pending <= 1000
    out += redactor.feed(b" end") + redactor.flush()
    assert out == b"sk-[REDACTED:openai_key] end"


def test_flush_on_idle_then_more_of_the_secret_masks_the_rest() -> None:
    redactor = Redactor()
    assert redactor.feed(b"sk-abc") == b""
    assert redactor.flush() == b"sk-abc"  # too short to be a secret yet: released as is
    assert redactor.feed(b"defghijklmnopqrstuvwxyz \n") == b"[REDACTED:openai_key] \n"


def test_positions_track_raw_and_redacted_offsets() -> None:
    redactor = Redactor()
    secret = b"ghp_" + b"a" * 36
    emitted = redactor.feed(b"hello " + secret[:10])
    assert (redactor.output_position, redactor.raw_position) == (6, 6)
    emitted += redactor.feed(secret[10:] + b" bye")
    assert emitted == b"hello ghp_[REDACTED:github_token] bye"
    assert redactor.output_position == len(emitted)
    assert redactor.raw_position == len(b"hello ") + len(secret) + len(b" bye")


def test_a_primed_redactor_resumes_a_stream_exactly() -> None:
    # A restarted daemon resumes at the raw offset of its last ack with a fresh redactor.
    stream = b"".join(framed(head, secret) for _, head, secret in SECRETS)
    expected = run(Redactor(), stream)
    for cut in range(0, len(stream), 37):
        first = Redactor()
        out = first.feed(stream[:cut])
        out_pos, raw_pos = first.output_position, first.raw_position
        assert out_pos == len(out)
        resumed = Redactor()
        resumed.prime(stream[:raw_pos])
        assert out + run(resumed, stream[raw_pos:]) == expected, f"cut at {cut}"


def test_custom_patterns_add_to_or_replace_the_defaults() -> None:
    redactor = Redactor([r"password=\S+", SecretPattern("acme", "acme_", "0123456789")])
    out = run(redactor, b"password=hunter2 acme_1234567890123456789 ghp_" + b"a" * 36 + b"\n")
    assert out == b"[REDACTED:custom] acme_[REDACTED:acme] ghp_[REDACTED:github_token]\n"
    assert redactor.counts == {"custom": 1, "acme": 1, "github_token": 1}
    only = Redactor([r"password=\S+"], defaults=False)
    assert run(only, b"password=x ghp_" + b"a" * 36) == b"[REDACTED:custom] ghp_" + b"a" * 36


def test_custom_pattern_split_after_it_can_match_is_masked() -> None:
    redactor = Redactor([r"password=\S+"], defaults=False)
    assert redactor.feed(b"login password=") == b"login password="
    assert redactor.feed(b"hun") == b""  # matches up to the end: may still grow
    assert redactor.feed(b"ter2\n") == b"[REDACTED:custom]\n"
