"""Streaming redaction: secrets masked whatever the read boundaries, plain text untouched."""

from __future__ import annotations

import random

import pytest

from orchestratia.agent.redaction import Redactor, SecretPattern
from orchestratia.agent.sessions.views import redact_rows
from orchestratia.agent.terminal.snapshot import wrapped_rows
from orchestratia.hub.security import new_secret
from orchestratia.protocol.tokens import TokenKind, encode_registration_token, with_checksum

B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# A user API key as the hub makes them: prefix, 43 random characters, 6 of checksum.
API_KEY = with_checksum(TokenKind.API_KEY + "Tq9_Zk-3" * 5 + "aB1").encode()
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
    ("orchestratia_key", b"orcu_", b"Lg1n_" + b"u8-Q" * 9),
    ("orchestratia_key", b"orcsh_", b"Sh4r3-" + b"w_7K" * 9),
    ("orchestratia_key", b"orck_", API_KEY[len(TokenKind.API_KEY) :]),
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


@pytest.mark.parametrize("kind", list(TokenKind))
def test_every_token_the_hub_issues_is_masked(kind: TokenKind) -> None:
    # Made the way the hub makes them, so a new kind of token is covered the day it is added.
    token = new_secret(kind)
    if kind is TokenKind.REGISTRATION:
        token = encode_registration_token("https://hub.example:8443", new_secret())
    out = run(Redactor(), b"$ echo " + token.encode() + b"\r\n")
    assert out == b"$ echo " + kind.encode() + b"[REDACTED:orchestratia_key]\r\n"
    glued = run(Redactor(), b"$ echo x" + token.encode() + b"\r\n")
    assert glued == b"$ echo x" + kind.encode() + b"[REDACTED:orchestratia_key]\r\n"


GHP = b"ghp_"
HUB_BODY = b"Kq3_x-Lg1n" * 4 + b"u8Q"  # 43 characters, as long as every secret the hub makes
GHP_BODY = b"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
# (what the terminal receives, what must leave): escapes stay where they were, so colours
# still render, and the secret's characters are masked wherever the escapes cut them.
COLOURED: list[tuple[bytes, bytes]] = [
    (  # printf '\e[31mghp_\e[0m<body>'
        b"\x1b[31mghp_\x1b[0m" + GHP_BODY + b"\r\n",
        b"\x1b[31mghp_\x1b[0m[REDACTED:github_token]\r\n",
    ),
    (  # grep --color=always ghp_: the match is highlighted, the rest of the token is not
        b"x.env:\x1b[01;31m\x1b[Kghp_\x1b[m\x1b[K" + GHP_BODY + b"\r\n",
        b"x.env:\x1b[01;31m\x1b[Kghp_\x1b[m\x1b[K[REDACTED:github_token]\r\n",
    ),
    (  # grep --color=always for a piece in the middle of the token
        b"ghp_"
        + GHP_BODY[:10]
        + b"\x1b[01;31m\x1b[K"
        + GHP_BODY[10:20]
        + b"\x1b[m\x1b[K"
        + GHP_BODY[20:]
        + b" ok\r\n",
        b"ghp_[REDACTED:github_token]\x1b[01;31m\x1b[K\x1b[m\x1b[K ok\r\n",
    ),
    (  # tput setaf 1; tput sgr0 (a charset designation before the SGR) inside the head
        b"AK\x1b(B\x1b[mIA\x1b[1mIOSFODNN7EXAMPLE\x1b[0m\r\n",
        b"AK\x1b(B\x1b[mIA\x1b[1m[REDACTED:aws_access_key]\x1b[0m\r\n",
    ),
    (  # a colour right after the head of a word-glued-looking but escape-separated token
        b"word\x1b[32msk-proj-" + b"A1b2C3" * 5 + b"\x1b[0m $\r\n",
        b"word\x1b[32msk-[REDACTED:openai_key]\x1b[0m $\r\n",
    ),
]


@pytest.mark.parametrize(("text", "expected"), COLOURED)
def test_escapes_inside_a_secret_do_not_hide_it_at_any_split(text: bytes, expected: bytes) -> None:
    assert run(Redactor(), text) == expected
    for cut in range(len(text) + 1):  # including inside every escape sequence
        redactor = Redactor()
        out = run(redactor, text[:cut], text[cut:])
        assert out == expected, f"split at {cut}"
        assert sum(redactor.counts.values()) == 1
    # Byte by byte: every offset the stream reports matches the bytes it has emitted.
    redactor, out = Redactor(), b""
    for i in range(len(text)):
        out += redactor.feed(text[i : i + 1])
        assert redactor.output_position == len(out)
    assert out + redactor.flush() == expected


def test_escapes_without_a_secret_pass_through_at_once() -> None:
    redactor = Redactor()
    for piece in [b"\x1b[01;34msrc\x1b[0m  ", b"\x1b[", b"32mrun.sh\x1b[0m\r\n", b"gh\x1b[0"]:
        assert redactor.feed(piece) == piece
    assert redactor.feed(b"m\r\n") == b"m\r\n" and redactor.pending == 0


def test_coloured_secrets_resume_exactly_from_any_checkpoint() -> None:
    stream = b"".join(text for text, _ in COLOURED) * 2
    expected = b"".join(want for _, want in COLOURED) * 2
    for cut in range(len(stream) + 1):
        first = Redactor()
        out = first.feed(stream[:cut])
        resumed = Redactor()
        resumed.prime(stream[: first.raw_position])
        assert out + run(resumed, stream[first.raw_position :]) == expected, f"cut at {cut}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"xxxAKIAIOSFODNN7EXAMPLE\r\n", b"xxxAKIA[REDACTED:aws_access_key]\r\n"),
        (b"id=7ASIAJ2K3L4M5N6P7Q2R3S\r\n", b"id=7ASIA[REDACTED:aws_access_key]\r\n"),
        (b"tokenghp_" + GHP_BODY + b"\r\n", b"tokenghp_[REDACTED:github_token]\r\n"),
        (b"PATgithub_pat_11ABC_" + b"k" * 30, b"PATgithub_pat_[REDACTED:github_pat]"),
        (b"SLACKxoxb-123456789012-abcDEF\r\n", b"SLACKxoxb-[REDACTED:slack_token]\r\n"),
        # Hub tokens (bodies as long as the hub makes them): a URL-encoded share link, a token
        # after a JSON-escaped newline (a literal backslash-n), one glued to letters.
        (
            b"GET /x?next=%2Fshare%2Forcsh_" + HUB_BODY + b"%2Fview\r\n",
            b"GET /x?next=%2Fshare%2Forcsh_[REDACTED:orchestratia_key]%2Fview\r\n",
        ),
        (
            b'{"text": "key:\\norcs_' + HUB_BODY + b'"}\r\n',
            b'{"text": "key:\\norcs_[REDACTED:orchestratia_key]"}\r\n',
        ),
        (b"xxxorcu_" + HUB_BODY, b"xxxorcu_[REDACTED:orchestratia_key]"),
    ],
)
def test_keys_glued_to_letters_are_masked(text: bytes, expected: bytes) -> None:
    assert run(Redactor(), text) == expected
    for cut in range(len(text) + 1):
        assert run(Redactor(), text[:cut], text[cut:]) == expected, f"split at {cut}"


def test_ordinary_words_containing_a_head_stay_readable() -> None:
    text = (
        b"MALAYSIAN EURASIA_REGION FANTASIA2024 ASIAPAC_SALES ASIAN_MARKETS_2024_Q1 "
        b"theasiadesk Akiak AKIAK highs_and_lows enoughs_said xoxo-gossip "
        b"task-runner-implements-the-login-flow desk-ant-colony-simulation-runner "
        b"forc_something_long_enough corcs_another_identifier orchestra_tion "
        b"xorcs_an_identifier_shorter_than_a_token\r\n"
    )
    redactor = Redactor()
    assert run(redactor, text) == text
    assert redactor.counts == {}


def test_screen_rows_are_masked_across_wraps_cell_for_cell() -> None:
    rows = [
        "$ echo \x1b[31mghp_A1b2",
        "C3d4E5f6G7h8I9j0K1l2M3n4",
        "O5p6Q7r8\x1b[0m",
        "AKIA",
        "IOSFODNN7EXAMPLE",
    ]
    masked = redact_rows(rows, [True, True, False, False, False], [])
    assert masked == [
        "$ echo \x1b[31mghp_[RED",
        "ACTED:github_token]*****",
        "********\x1b[0m",
        "AKIA",  # not wrapped: another line, no secret
        "IOSFODNN7EXAMPLE",
    ]
    assert [len(row) for row in masked] == [len(row) for row in rows]


def test_rows_that_do_not_line_up_with_the_joined_capture_count_as_wrapped() -> None:
    rows = ["key=ghp_A1b2C3d4", "E5f6G7h8", "next"]
    assert wrapped_rows(rows, ["key=ghp_A1b2C3d4E5f6G7h8", "next"]) == (True, False, False)
    assert wrapped_rows(rows, ["something else", "next"]) == (True, True, False)
    assert wrapped_rows(["\x1b[1mbold\x1b[0m", ""], ["bold", ""]) == (False, False)
