"""The binary output frame (protocol 3): round trip, and a precise error for every malformed one."""

from __future__ import annotations

import json
import struct

import pytest

from orchestratia.protocol.numbers import OFFSET_MAX
from orchestratia.protocol.output_frames import (
    HEADER,
    KIND_OUTPUT,
    MAX_META,
    MAX_SESSION_ID,
    OutputFrameError,
    pack_session_output,
    unpack_session_output,
)


def raw_frame(
    sid: bytes = b"s1",
    meta: bytes = b"",
    data: bytes = b"out",
    *,
    kind: int = KIND_OUTPUT,
    offset: int = 0,
    id_len: int | None = None,
    meta_len: int | None = None,
) -> bytes:
    """A frame built by hand, so each header field can be made wrong on its own."""
    sid_len = len(sid) if id_len is None else id_len
    header = HEADER.pack(kind, sid_len, len(meta) if meta_len is None else meta_len, offset)
    return header + sid + meta + data


@pytest.mark.parametrize(
    ("session_id", "offset", "data", "redactions"),
    [
        ("s1", 0, b"", None),
        ("x" * MAX_SESSION_ID, OFFSET_MAX, bytes(range(256)) * 64, None),
        ("sess-é", 12345, b"\x1b[31mred\x1b[0m\r\n", {"github_token": 2, "custom": 1}),
    ],
)
def test_round_trip(
    session_id: str, offset: int, data: bytes, redactions: dict[str, int] | None
) -> None:
    message = pack_session_output(session_id, offset, data, redactions)
    frame = unpack_session_output(message)
    assert (frame.session_id, frame.offset, bytes(frame.data)) == (session_id, offset, data)
    assert frame.redactions == redactions
    assert frame.data.obj is message, "the data is a view into the message, not a copy"


def test_layout_is_the_documented_one() -> None:
    message = pack_session_output("ab", 7, b"xyz", {"k": 1})
    meta = b'{"redactions":{"k":1}}'
    assert message == struct.pack(">BBHQ", 1, 2, len(meta), 7) + b"ab" + meta + b"xyz"


def test_empty_redactions_send_no_meta() -> None:
    assert pack_session_output("s1", 0, b"x", {}) == raw_frame(data=b"x")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"", "binary frame shorter than its 12-byte header"),
        (raw_frame()[:11], "binary frame shorter than its 12-byte header"),
        (raw_frame(kind=2), "unknown binary frame kind 2"),
        (raw_frame(kind=0), "unknown binary frame kind 0"),
        (raw_frame(sid=b"", id_len=0), "session id length 0 not in 1..64"),
        (raw_frame(sid=b"x" * 65), "session id length 65 not in 1..64"),
        (raw_frame(meta_len=MAX_META + 1), f"meta length {MAX_META + 1} over {MAX_META}"),
        (raw_frame(offset=OFFSET_MAX + 1), f"offset {OFFSET_MAX + 1} over {OFFSET_MAX}"),
        (raw_frame(offset=2**64 - 1), f"offset {2**64 - 1} over {OFFSET_MAX}"),
        (raw_frame(data=b"", id_len=10), "binary frame shorter than its header says"),
        (raw_frame(meta=b"{}", data=b"", meta_len=40), "binary frame shorter than its header says"),
        (raw_frame(sid=b"\xff\xfe"), "session id is not UTF-8"),
        (raw_frame(meta=b"{not json"), "bad meta: Invalid JSON"),
        (raw_frame(meta=b'{"redactions": {"k": 1}, "extra": 1}'), "bad meta: extra: Extra inputs"),
        (raw_frame(meta=b'{"redactions": {"k": -1}}'), "bad meta: redactions.k: Input should be"),
        (raw_frame(meta=b'{"redactions": {"k": "x"}}'), "bad meta: redactions.k: Input should be"),
        (raw_frame(meta=b"[]"), "bad meta: Input should be an object"),
    ],
)
def test_malformed_frames_get_a_precise_error(message: bytes, error: str) -> None:
    with pytest.raises(OutputFrameError) as caught:
        unpack_session_output(message)
    assert str(caught.value).startswith(error)


def test_a_frame_that_is_only_a_header_and_id_has_no_data() -> None:
    frame = unpack_session_output(raw_frame(data=b""))
    assert frame.session_id == "s1" and bytes(frame.data) == b"" and frame.redactions is None


@pytest.mark.parametrize(
    ("session_id", "offset", "redactions", "error"),
    [
        ("", 0, None, "session id length 0 not in 1..64"),
        ("x" * 65, 0, None, "session id length 65 not in 1..64"),
        ("é" * 33, 0, None, "session id length 66 not in 1..64"),
        ("s1", -1, None, f"offset -1 not in 0..{OFFSET_MAX}"),
        ("s1", OFFSET_MAX + 1, None, f"offset {OFFSET_MAX + 1} not in 0..{OFFSET_MAX}"),
        ("s1", 0, {"k": -1}, "bad meta: redactions.k: Input should be greater than or equal"),
        ("s1", 0, {f"k{i}": 1 for i in range(65)}, "bad meta: redactions: Dictionary should"),
        ("s1", 0, {"k" * 4100: 1}, "meta length 4121 over 4096"),
    ],
)
def test_packing_refuses_what_unpacking_would(
    session_id: str, offset: int, redactions: dict[str, int] | None, error: str
) -> None:
    with pytest.raises(OutputFrameError) as caught:
        pack_session_output(session_id, offset, b"", redactions)
    assert str(caught.value).startswith(error)


def test_meta_at_its_limits_packs() -> None:
    many = {f"kind{i:04d}": 1 for i in range(64)}
    assert unpack_session_output(pack_session_output("s1", 0, b"", many)).redactions == many
    name = "k" * (MAX_META - len(json.dumps({"redactions": {"": 1}}, separators=(",", ":"))))
    frame = unpack_session_output(pack_session_output("s1", 0, b"x", {name: 1}))
    assert frame.redactions == {name: 1} and bytes(frame.data) == b"x"
