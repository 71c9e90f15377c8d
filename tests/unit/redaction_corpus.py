"""A fixed corpus of redactor runs, and their recorded traces (``redaction_expected.json``).

Each case is a ``Redactor`` configuration, optionally a ``prime``, and a list of operations
(feed some bytes, or flush); its trace is what the redactor returned and reported after every
one of them: the output bytes, ``output_position``, ``raw_position``, ``pending`` and
``counts``. The inputs are the redaction tests' own plus a seeded mix of secrets of every kind,
escapes inside them, PEM blocks, custom patterns, ``in_place`` masks and candidates longer than
``max_secret_len``, each cut into reads several ways. The expected digests were recorded from
the regex-per-rule redactor that the single-scan one replaced; rerun ``write_expected()`` only
when redaction is meant to change.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestratia.agent.redaction import Redactor, SecretPattern
from orchestratia.protocol.tokens import TokenKind, encode_registration_token, with_checksum

EXPECTED = Path(__file__).with_name("redaction_expected.json")
FLUSH = None  # an operation: flush instead of feed

B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ALNUM = B64[:62]
PEM_LINES = b"\r\n".join(bytes(random.Random(7).choices(B64, k=64)) for _ in range(20))
HUB_BODY = b"Kq3_x-Lg1n" * 4 + b"u8Q"
GHP_BODY = b"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
HUB_TOKENS = [
    with_checksum(kind + "Tq9_Zk-3" * 5 + "aB1").encode()
    for kind in TokenKind
    if kind is not TokenKind.REGISTRATION
] + [encode_registration_token("https://hub.example:8443", "s3cr3t-" * 6).encode()]
# (head, secret part) of every kind the defaults know, as the redaction tests write them.
SECRETS: list[tuple[bytes, bytes]] = [
    (b"AKIA", b"IOSFODNN7EXAMPLE"),
    (b"ASIA", b"J2K3L4M5N6P7Q2R3S"),
    (b"ghp_", b"x1Y2z3" * 6 + b"Q9"),
    (b"gho_", GHP_BODY),
    (b"github_pat_", b"11ABCDEFG0_" + b"k" * 30),
    (b"sk-ant-", b"api03-" + b"Zz_-9" * 8),
    (b"sk-", b"proj-" + b"A1b2C3" * 5),
    (b"xoxb-", b"123456789012-abcDEF"),
    (b"AIza", b"SyD" + b"q" * 32),
    (b"orcs_", b"Kq3_x-" * 7),
    (b"orcreg_", b"aHR0cDovL2h1Yg.s3cr3t" + b"v" * 20),
    (b"eyJ", b"hbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU"),
    (
        b"-----BEGIN OPENSSH PRIVATE KEY-----",
        b"\r\n" + PEM_LINES + b"\r\n-----END OPENSSH PRIVATE KEY-----",
    ),
]
CUSTOM: list[str | SecretPattern] = [
    r"password=\S+",
    SecretPattern("acme", "acme_", "0123456789"),
    SecretPattern("glued", r"(?:zz|yy)[0-9]_", "abcdef", min_len=8, boundary=False),
    SecretPattern("unanchored", r"\bq+v_", "0123456789", min_len=6),
    r"(?<=token: )[a-z]{6,}",
    # A head longer than most, ending in a byte its body cannot hold.
    SecretPattern("long_head", "LONG" + "_head" * 9 + "!", "0123456789", min_len=8),
]
# Heads of the custom patterns above, with what their secrets are made of.
CUSTOM_HEADS = [
    (b"password=", ALNUM + b"!#%"),
    (b"token: ", b"abcdefghijklmnopqrstuvwxyz"),
    (b"acme_", b"0123456789"),
    (b"zz7_", b"abcdef"),
    (b"yy0_", b"abcdefx"),
    (b"qqv_", b"0123456789"),
    (b"xqv_", b"0123456789"),
    (b"LONG" + b"_head" * 9 + b"!", b"0123456789"),
]
COLOURED = [
    b"\x1b[31mghp_\x1b[0m" + GHP_BODY + b"\r\n",
    b"x.env:\x1b[01;31m\x1b[Kghp_\x1b[m\x1b[K" + GHP_BODY + b"\r\n",
    b"ghp_"
    + GHP_BODY[:10]
    + b"\x1b[01;31m\x1b[K"
    + GHP_BODY[10:20]
    + b"\x1b[m\x1b[K"
    + GHP_BODY[20:]
    + b" ok\r\n",
    b"AK\x1b(B\x1b[mIA\x1b[1mIOSFODNN7EXAMPLE\x1b[0m\r\n",
    b"word\x1b[32msk-proj-" + b"A1b2C3" * 5 + b"\x1b[0m $\r\n",
]
WORDS = (
    b"MALAYSIAN EURASIA_REGION FANTASIA2024 ASIAPAC_SALES ASIAN_MARKETS_2024_Q1 theasiadesk Akiak"
    b" AKIAK highs_and_lows enoughs_said xoxo-gossip task-runner-implements-the-login-flow"
    b" desk-ant-colony-simulation-runner forc_something_long_enough corcs_another_identifier"
    b" orchestra_tion xorcs_an_identifier_shorter_than_a_token\r\n"
)
ESCAPES = [
    b"\x1b[0m",
    b"\x1b[01;31m",
    b"\x1b[K",
    b"\x1b[m",
    b"\x1b(B",
    b"\x1b[2J",
    b"\x1b[?25h",
    b"\x1b[10;20H",
    b"\x1b]8;;https://x.example/?k=ghp_\x1b\\",
    b"\x1b7",
    b"\x1b[",
    b"\x1b",
]


@dataclass
class Case:
    name: str
    ops: list[bytes | None]
    patterns: list[str | SecretPattern] = field(default_factory=list)
    defaults: bool = True
    max_secret_len: int = 16 * 1024
    context_len: int = 512
    in_place: bool = False
    prime: bytes | None = None

    def redactor(self) -> Redactor:
        redactor = Redactor(
            self.patterns,
            defaults=self.defaults,
            max_secret_len=self.max_secret_len,
            context_len=self.context_len,
            in_place=self.in_place,
        )
        if self.prime is not None:
            redactor.prime(self.prime)
        return redactor


def trace(case: Case) -> str:
    """A digest of everything the redactor returned and reported after each operation."""
    redactor = case.redactor()
    steps = []
    for op in case.ops:
        out = redactor.flush() if op is FLUSH else redactor.feed(op)
        counts = sorted(redactor.counts.items())
        steps.append(
            [out.hex(), redactor.output_position, redactor.raw_position, redactor.pending, counts]
        )
    return hashlib.sha256(json.dumps(steps).encode()).hexdigest()


def _token(rng: random.Random, alphabet: bytes, size: int) -> bytes:
    return bytes(rng.choices(alphabet, k=size))


def _escaped(rng: random.Random, text: bytes, count: int) -> bytes:
    for _ in range(count):
        cut = rng.randrange(len(text) + 1)
        text = text[:cut] + rng.choice(ESCAPES[:7]) + text[cut:]
    return text


def _piece(rng: random.Random, custom: bool) -> bytes:
    # One stretch of terminal output: ordinary text, escapes, a secret dressed up some way.
    kind = 6 if custom and rng.random() < 0.3 else rng.randrange(12)
    if kind == 0:
        return rng.choice([WORDS, b"$ ls -la\r\n", b"caf\xc3\xa9 \xf0\x9f\x99\x82 ok\r\n"])
    if kind == 1:
        return rng.choice(ESCAPES) + _token(rng, ALNUM + b" -_.", rng.randrange(1, 40))
    if kind == 2:
        return bytes(rng.choices(range(256), k=rng.randrange(1, 30)))
    if kind == 3:
        return rng.choice(COLOURED)
    if kind == 4:
        return b"$ echo " + rng.choice(HUB_TOKENS) + rng.choice([b"\r\n", b"", b"%2F", b"x"])
    if kind == 5:  # a PEM block: whole, cut short, or prose that mentions one
        head, body = SECRETS[-1]
        return rng.choice([head + body, head + body[: rng.randrange(len(body))], b"see " + head])
    if kind == 6:
        head, alphabet = rng.choice(CUSTOM_HEADS)
        return head + _token(rng, alphabet, rng.randrange(0, 30))
    head, body = rng.choice(SECRETS[:-1])
    body = body[: rng.randrange(len(body) // 2, len(body) + 1)]  # sometimes too short
    if kind == 7:
        body += _token(rng, ALNUM + b"_-", rng.randrange(0, 300))  # sometimes very long
    glue = rng.choice([b"", b" ", b"x", b"7", b"task-", b"\x1b[1m", b"\r\n", b"=", b"\\n"])
    secret = head + body
    if kind in (8, 9):
        secret = _escaped(rng, secret, rng.randrange(1, 4))
    return glue + secret + rng.choice([b"", b" ", b"\r\n", b"\x1b[0m", b".", b"_", b"\xc3"])


def _splits(
    rng: random.Random, data: bytes, short: bool
) -> Iterator[tuple[str, list[bytes | None]]]:
    yield "whole", [data, FLUSH]
    for size in (1, 7, 61, 1000):
        if size > 1 or short:
            pieces: list[bytes | None] = [data[i : i + size] for i in range(0, len(data), size)]
            yield f"every{size}", [*pieces, FLUSH]
    for seed in range(3):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 12)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        if seed == 2:  # flushes on idle between reads
            pieces = [
                p for piece in pieces for p in ([piece, FLUSH] if rng.random() < 0.3 else [piece])
            ]
        yield f"random{seed}", [*pieces, FLUSH]


def _test_inputs() -> Iterator[tuple[str, bytes]]:
    # The inputs of test_agent_redaction.py, each as one stream.
    for index, (head, secret) in enumerate(SECRETS):
        yield (
            f"framed{index}",
            b"export X=1\r\n\x1b[1;31m" + head + secret + b"\x1b[0m\r\n$ ls \xc3",
        )
    for index, text in enumerate(COLOURED):
        yield f"coloured{index}", text
    yield "words", WORDS
    for index, token in enumerate(HUB_TOKENS):
        yield f"hub{index}", b"$ echo x" + token + b"\r\n$ echo " + token + b"\r\n"
    yield (
        "glued",
        (
            b"xxxAKIAIOSFODNN7EXAMPLE\r\nid=7ASIAJ2K3L4M5N6P7Q2R3S\r\ntokenghp_"
            + GHP_BODY
            + b"\r\nSLACKxoxb-123456789012-abcDEF\r\nGET /x?next=%2Fshare%2Forcsh_"
            + HUB_BODY
            + b'%2Fview\r\n{"text": "key:\\norcs_'
            + HUB_BODY
            + b'"}\r\nxxxorcu_'
            + HUB_BODY
        ),
    )
    yield (
        "plain",
        (
            b"$ sudo apt install sk8s\r\ntask-runner-implements-the-login-flow ok\r\n"
            b"gh repo view\r\n\x1b[32m\xe2\x9c\x93\x1b[0m done AKIA\r\n"
            b"-----BEGIN nothing here\r\n\xf0\x9f\x99\x82 caf\xc3\xa9"
        ),
    )
    yield "held", b"key: sk-abc is short\r\nsk-abc" + b"defghijklmnopqrstuvwxyz \n"
    yield "escape-head", b"\x1b[Ksk-A1b2C3d4E5f6G7h8I9j0\ntask-A1b2C3d4E5f6G7h8I9j0\n"
    yield "pem-cut", b"-----BEGIN PRIVATE KEY-----\r\n" + PEM_LINES[:130] + b"\r\n$ "
    yield "pem-prose", b"A key starts with -----BEGIN PRIVATE KEY----- and then base64.\r\n"


# Unfinished escapes, then skipped ones, then a letter right before a head: the text joins them
# into a CSI that ends in the letter, so the head counts as at a boundary.
JOINED_CSI = [
    b"\x1b[1\x1b[mx" + b"".join(SECRETS[6]) + b" \r\n",
    b"\x1b[0\x1b(Bz" + b"".join(SECRETS[11]) + b" \r\n",
    b"\x1b[0/\x1b[mxeyJp_",
    b"\x1b[7\x1b[task-\x1b[01;31m" + SECRETS[6][1] + b"\x1b(B.\r\n",
    b"\x1b\x1b[?25\x1b[0mh" + b"".join(SECRETS[5]) + b".\x1b[",
]


def cases() -> Iterator[Case]:
    rng = random.Random(20261207)
    for name, data in _test_inputs():
        for split, ops in _splits(rng, data, short=len(data) < 700):
            yield Case(f"{name}/{split}", ops)
    yield Case("endless-token", [b"sk-", *[b"a" * 1000] * 40, b" end", FLUSH], max_secret_len=1000)
    yield Case(
        "endless-pem",
        [
            b"$ cat key\r\n-----BEGIN RSA PRIVATE KEY-----\r\n",
            *[PEM_LINES[:64] + b"\r\n"] * 80,
            b"$ echo next\r\n",
            FLUSH,
        ],
        max_secret_len=4096,
    )
    configs: list[dict[str, object]] = [
        {},
        {"in_place": True},
        {"max_secret_len": 64},
        {"max_secret_len": 300, "context_len": 0},
        {"patterns": CUSTOM},
        {"patterns": CUSTOM, "in_place": True, "max_secret_len": 200},
        {"patterns": CUSTOM[:1] + CUSTOM[4:], "defaults": False},
        {"patterns": [r"x*"], "max_secret_len": 100},  # empty matches everywhere: kept short
    ]
    for index in range(48):
        config = configs[index % len(configs)]
        pieces = rng.randrange(2, 6) if "x*" in config.get("patterns", ()) else rng.randrange(4, 40)  # type: ignore[operator]
        data = b"".join(_piece(rng, "patterns" in config) for _ in range(pieces))
        for split, ops in _splits(rng, data, short=len(data) < 700):
            yield Case(f"mix{index}/{split}", ops, **config)  # type: ignore[arg-type]
        # Resumed at some offset: a fresh redactor primed with (some of) the bytes before it.
        cut = rng.randrange(len(data))
        prime = data[max(0, cut - rng.choice([0, 40, 600])) : cut]
        yield Case(f"mix{index}/resumed", [data[cut:], FLUSH], prime=prime, **config)  # type: ignore[arg-type]
    joined_rng = random.Random(7)  # its own, so the cases above keep their cuts
    for index, data in enumerate(JOINED_CSI):
        for split, ops in _splits(joined_rng, data, short=True):
            yield Case(f"joined-csi{index}/{split}", ops)


def write_expected() -> None:
    EXPECTED.write_text(json.dumps({case.name: trace(case) for case in cases()}, indent=0) + "\n")


if __name__ == "__main__":
    write_expected()
