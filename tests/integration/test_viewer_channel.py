"""``/ws/sessions/{id}/view`` against a fake daemon: join and resume, exact offsets through the
ring and the recording, drops, the driver lock, byte-exact input, share links, slow viewers."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
from collections.abc import Callable
from typing import Any

import pytest

from orchestratia.hub.ws import terminal_relay, viewer_queue
from tests.integration.helpers import (
    FakeDaemon,
    ViewerClient,
    close_code,
    recording,
    start_session,
    viewer_refusal,
)
from tests.integration.running_hub import RunningHub
from tests.integration.viewer_support import Live
from tests.support import wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60}  # fake daemons don't heartbeat


def _stream(seed: int, size: int) -> bytes:
    """Terminal-like output: colours, cursor moves, alternate screen, UTF-8, raw bytes."""
    rng = random.Random(seed)
    pieces = [
        "\x1b[31mred\x1b[0m ",
        "caf\u00e9 \u65e5\u672c\u8a9e \U0001f680 ",
        "\x1b[10;5H",
        "\x1b[?1049h\x1b[Halt screen\x1b[?1049l",
        "\r\n",
        "\x1b[38;2;255;128;0mtruecolor\x1b[m",
    ]
    out = bytearray()
    while len(out) < size:
        if rng.random() < 0.2:
            out += rng.randbytes(rng.randint(1, 64))
        else:
            out += rng.choice(pieces).encode()
    return bytes(out[:size])


async def _send_chunks(daemon: FakeDaemon, sid: str, data: bytes, start: int, seed: int) -> None:
    """Output in random frame sizes (so UTF-8 and escapes split across frames), acked at the end."""
    rng = random.Random(seed)
    i = 0
    while i < len(data):
        n = rng.randint(1, 20_000)
        await daemon.output(sid, data[i : i + n], start + i)
        i += n
    await daemon.wait_acked(sid, start + len(data))


async def test_first_frame_must_be_join(live: Live) -> None:
    for first in (
        json.dumps({"type": "input", "data": "ls\r"}),
        json.dumps({"type": "join", "resume_offset": -1}),
        json.dumps({"type": "join", "resume_offset": 2**63 - 1}),
        json.dumps({"type": "join", "surprise": 1}),
        "not json",
    ):
        async with live.viewer(join=False) as viewer:
            await viewer.ws.send(first)
            error = await viewer.expect("error")
            assert error["code"] == "join_required" and error["fatal"] is True, (first, error)
            assert await close_code(viewer.ws) == 4002
    await live.daemon.barrier()
    assert live.daemon.received("session_input") == []


async def test_join_gets_status_control_viewers_snapshot_then_tail(live: Live) -> None:
    sid, daemon = live.session_id, live.daemon
    data = _stream(1, 30_000)
    await daemon.stream(sid, data[:10_000], frame_bytes=1000)
    async with live.viewer() as viewer:
        request = await daemon.expect("snapshot_request", session_id=sid)
        assert request["request_id"]
        await daemon.snapshot(request, offset=4000)  # the screen as of byte 4000
        snapshot = await viewer.expect("snapshot")
        assert [f["type"] for f in viewer.frames] == [
            "status",
            "control",
            "viewers",
            "reset",
            "snapshot",
        ]
        status, control, count, _reset, _ = viewer.frames
        assert status == {
            "type": "status",
            "status": "running",
            "exit_code": None,
            "cols": 120,
            "rows": 40,
        }
        assert control["you"] is True and control["driver"] == control["viewer_id"]
        assert control["read_only"] is False
        assert count == {"type": "viewers", "count": 1}
        assert snapshot == {
            "type": "snapshot",
            "offset": 4000,
            "screen": base64.b64encode(daemon.snapshot_screen).decode(),
            "cursor_x": 3,
            "cursor_y": 1,
            "cols": 120,
            "rows": 40,
            "alternate_screen": False,
            "cursor_visible": True,
        }
        await viewer.read_to(10_000)
        await _send_chunks(daemon, sid, data[10_000:], 10_000, seed=2)
        await viewer.read_to(30_000)
        [segment] = viewer.segments
        assert segment.start == 4000 and bytes(segment.data) == data[4000:]

        await daemon.closed(sid, exit_code=0)
        status = await viewer.expect("status")
        while status["status"] != "exited":
            status = await viewer.expect("status")
        assert status["exit_code"] == 0
    assert await recording(live.admin, sid) == data


async def test_resume_streams_from_the_offset_without_reset(live: Live) -> None:
    sid, daemon = live.session_id, live.daemon
    data = _stream(3, 20_000)
    await daemon.stream(sid, data[:12_000], frame_bytes=3000)
    async with live.viewer(resume=3000) as viewer:
        await viewer.read_to(12_000)
        await _send_chunks(daemon, sid, data[12_000:], 12_000, seed=4)
        await viewer.read_to(20_000)
        assert [s.start for s in viewer.segments] == [3000]
        assert bytes(viewer.segments[0].data) == data[3000:]
        assert "reset" not in [f["type"] for f in viewer.frames]
        assert daemon.received("snapshot_request") == []

    # A viewer claiming bytes the hub never had cannot resume: it is reset from a snapshot.
    daemon.auto_snapshot = True
    async with live.viewer(resume=10**9) as viewer:
        reset = await viewer.expect("reset")
        snapshot = await viewer.expect("snapshot")
        assert reset["type"] == "reset" and snapshot["offset"] == 20_000


async def test_resume_reaches_back_past_the_ring_into_the_recording(live: Live) -> None:
    sid, daemon = live.session_id, live.daemon
    size = terminal_relay.RING_BYTES + 700_000
    data = _stream(5, size)
    async with live.viewer(resume=0) as watching:
        await daemon.stream(sid, data, frame_bytes=64 * 1024)
        await watching.read_to(size, timeout=20)
        assert bytes(watching.segments[0].data) == data
    relay = live.hub.state.relays.get(sid)
    assert relay is not None and relay.ring_start > 0, "the ring never rolled"

    for resume in (0, 1, relay.ring_start - 1, relay.ring_start, size - 1):
        async with live.viewer(resume=resume) as late:
            await late.read_to(size, timeout=20)
            assert bytes(late.segments[0].data) == data[resume:], resume


async def test_viewer_dropped_20_times_holds_the_exact_stream(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small ring and small sends: resumes come from the recording while new output is queued
    # for the same viewer, the overlap the relay must trim exactly.
    monkeypatch.setattr(terminal_relay, "RING_BYTES", 16 * 1024)
    monkeypatch.setattr(terminal_relay, "SEND_CHUNK", 4096)
    sid, daemon = live.session_id, live.daemon
    daemon.auto_snapshot = True
    rng = random.Random(6)
    produced = bytearray()
    stop = asyncio.Event()

    async def produce() -> None:
        chunks = random.Random(7)
        while not stop.is_set() or len(produced) < 200_000:
            for _ in range(8):  # a few frames in flight, then let the hub catch up
                chunk = _stream(chunks.randint(0, 10**6), chunks.randint(1, 6000))
                offset = len(produced)
                produced.extend(chunk)
                await daemon.output(sid, chunk, offset)
            await daemon.wait_acked(sid, len(produced))

    producer = asyncio.create_task(produce())
    try:
        # First join: snapshot at whatever the daemon has written by then.
        async with live.viewer() as viewer:
            await viewer.expect("snapshot")
            first = viewer.segments[0].start
            for _ in range(rng.randint(0, 3)):
                await viewer.recv()
            await viewer.drop()
        held = bytearray(viewer.segments[-1].data)
        for _ in range(20):
            resume = first + len(held)
            # Away long enough that the ring no longer holds what it missed.
            await wait_until(_longer_than(produced, resume + 48 * 1024), interval=0.005)
            async with live.viewer(resume=resume) as viewer:
                # Drop at a random moment: right after joining, or after some output.
                for _ in range(rng.randint(0, 30)):
                    await viewer.recv()
                await viewer.drop()
            assert [s.start for s in viewer.segments] == [resume]
            assert "reset" not in [f["type"] for f in viewer.frames]
            held += viewer.segments[0].data
    finally:
        stop.set()
        await asyncio.wait_for(producer, 20)
    end = len(produced)
    async with live.viewer(resume=first + len(held)) as viewer:
        await viewer.read_to(end)
        held += viewer.segments[0].data
    stored = await recording(live.admin, sid)
    assert stored == bytes(produced)
    assert bytes(held) == stored[first:]


def _longer_than(buffer: bytearray, size: int) -> Callable[[], bool]:
    return lambda: len(buffer) > size


async def test_driver_lock_and_byte_exact_input(live: Live) -> None:
    sid, daemon = live.session_id, live.daemon
    async with live.viewer(resume=0) as one, live.viewer(resume=0) as two:
        await _until_viewers(one, 2)
        await _until_viewers(two, 2)
        c1, c2 = _last(one, "control"), _last(two, "control")
        assert c1["you"] is True and c2["you"] is False
        assert c1["driver"] == c2["driver"] == c1["viewer_id"] != c2["viewer_id"]

        # The observer types: refused, and nothing reaches the daemon.
        await two.send({"type": "input", "data": "rm -rf /\r"})
        assert (await two.expect("error"))["code"] == "not_driver"
        await two.send({"type": "resize", "cols": 80, "rows": 24})
        assert (await two.expect("error"))["code"] == "not_driver"
        await one.send({"type": "input", "data": "marker"})
        first = await daemon.expect("session_input")
        assert base64.b64decode(first["data"]) == b"marker"
        assert daemon.received("session_input") == daemon.received("session_resize") == []

        keys = (
            "ls -la\r"
            "\x03\x04\x1a\x1b\x7f\t\x00"  # Ctrl-C, Ctrl-D, Ctrl-Z, Esc, Backspace, Tab, Ctrl-@
            "\x1b[A\x1b[1;5C\x1bOP\x1b[3~"  # arrows, Ctrl-Right, F1, Delete
            "\x1b[200~pasted\nlines\twith tabs\x1b[201~"  # bracketed paste
            "caf\u00e9 \u65e5\u672c \U0001f680\U0001f469\u200d\U0001f4bb\r"  # UTF-8, ZWJ emoji
        )
        await one.send({"type": "input", "data": keys})
        typed = await daemon.expect("session_input")
        assert typed == {"type": "session_input", "session_id": sid, "data": typed["data"]}
        assert base64.b64decode(typed["data"]) == keys.encode("utf-8")

        await one.send({"type": "resize", "cols": 100, "rows": 30})
        assert await daemon.expect("session_resize") == {
            "type": "session_resize",
            "session_id": sid,
            "cols": 100,
            "rows": 30,
        }
        for viewer in (one, two):
            status = await viewer.expect("status")
            while (status["cols"], status["rows"]) != (100, 30):
                status = await viewer.expect("status")

        # Explicit take-over: both hear about it; the old driver is an observer now.
        await two.send({"type": "take_control"})
        await _until_control(one, lambda c: c["you"] is False and c["driver"] == c2["viewer_id"])
        await _until_control(two, lambda c: c["you"] is True)
        await one.send({"type": "resize", "cols": 50, "rows": 10})
        assert (await one.expect("error"))["code"] == "not_driver"
        await two.send({"type": "input", "data": "\x1b:wq\r"})
        typed = await daemon.expect("session_input")
        assert base64.b64decode(typed["data"]) == b"\x1b:wq\r"
        assert daemon.received("session_resize") == []

        # A malformed frame is an error frame, not a dropped socket.
        await two.send({"type": "input"})
        assert (await two.expect("error"))["code"] == "bad_frame"
        await two.send({"type": "join"})
        assert (await two.expect("error"))["code"] == "already_joined"

        await two.send({"type": "release_control"})
        await _until_control(one, lambda c: c["driver"] is None)
        await one.send({"type": "input", "data": "x"})
        assert (await one.expect("error"))["code"] == "not_driver"
        await one.send({"type": "take_control"})
        await _until_control(one, lambda c: c["you"] is True)
        await one.send({"type": "input", "data": "y"})
        assert base64.b64decode((await daemon.expect("session_input"))["data"]) == b"y"
        assert daemon.received("session_input") == []


async def _until_viewers(viewer: ViewerClient, count: int) -> None:
    while (await viewer.expect("viewers"))["count"] != count:
        pass


def _last(viewer: ViewerClient, type_: str) -> dict[str, Any]:
    return [f for f in viewer.frames if f["type"] == type_][-1]


async def _until_control(viewer: ViewerClient, wanted: Any) -> dict[str, Any]:
    while True:
        control = await viewer.expect("control")
        if wanted(control):
            return control


async def test_share_link_is_read_only_and_revocable(live: Live) -> None:
    sid, daemon, admin = live.session_id, live.daemon, live.admin
    await daemon.stream(sid, b"shared output\r\n", frame_bytes=100)
    res = await admin.post(f"/api/v1/sessions/{sid}/share", json={"expires_in_hours": 2})
    assert res.status_code == 201, res.text
    link = res.json()
    token = link["token"]
    assert token.startswith("orcsh_") and link["url"].endswith(f"/share/{token}")
    assert link["session_id"] == sid and link["mode"] == "read"

    async with (
        live.viewer(resume=0) as driver,
        live.viewer(resume=0, cookie=None, share=token) as guest,
    ):
        await guest.read_to(15)
        assert bytes(guest.segments[0].data) == b"shared output\r\n"
        control = await guest.expect("control")
        assert control["read_only"] is True and control["you"] is False
        await guest.send({"type": "take_control"})
        assert (await guest.expect("error"))["code"] == "read_only"
        await guest.send({"type": "input", "data": "whoami\r"})
        assert (await guest.expect("error"))["code"] == "not_driver"
        await guest.send({"type": "resize", "cols": 20, "rows": 5})
        assert (await guest.expect("error"))["code"] == "not_driver"
        await driver.send({"type": "input", "data": "marker"})
        assert base64.b64decode((await daemon.expect("session_input"))["data"]) == b"marker"
        assert daemon.received("session_input") == daemon.received("session_resize") == []

        # Revoking the link cuts off the guest already watching, and every later attempt.
        res = await admin.delete(f"/api/v1/share-links/{link['id']}")
        assert res.status_code == 204, res.text
        assert await close_code(guest.ws) == 4401
        await driver.send({"type": "input", "data": "still here"})
        assert base64.b64decode((await daemon.expect("session_input"))["data"]) == b"still here"
    assert await viewer_refusal(live.hub, sid, share=token) == 4401


async def test_share_link_opens_only_its_own_session(live: Live) -> None:
    other = await start_session(live.admin, live.daemon, "other")
    res = await live.admin.post(f"/api/v1/sessions/{live.session_id}/share", json={})
    token = res.json()["token"]
    assert await viewer_refusal(live.hub, other["id"], share=token) == 4401
    for forged in ("orcsh_forged", token[:-2] + "xx"):
        assert await viewer_refusal(live.hub, live.session_id, share=forged) == 4401
    # Without cookie or share token, or from another origin, nobody watches.
    assert await viewer_refusal(live.hub, live.session_id) == 4401
    evil = "https://evil.example"
    assert await viewer_refusal(live.hub, live.session_id, live.cookie, origin=evil) == 4401
    async with live.viewer(resume=0, share=token, cookie=None) as guest:
        assert (await guest.expect("control"))["read_only"] is True


async def _read_forever(viewer: ViewerClient) -> None:
    while True:
        await viewer.recv(timeout=60)


def _small_socket(hub: RunningHub) -> socket.socket:
    """A client socket with a small, fixed receive buffer: without it the kernel's autotuning
    would soak up megabytes on loopback before the hub ever saw a slow reader."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    host, port = hub.url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def test_slow_viewer_resyncs_and_never_holds_up_the_session(live: Live) -> None:
    sid, daemon = live.session_id, live.daemon
    daemon.auto_snapshot = True
    rng = random.Random(8)
    data = bytearray()
    frame = 64 * 1024

    async def stream(size: int) -> None:
        chunk = rng.randbytes(size)
        start = len(data)
        data.extend(chunk)
        await daemon.stream(sid, chunk, start=start, frame_bytes=frame)

    # The slow browser: no compression (that would shrink what the pipe holds), a small receive
    # buffer and a one-frame client queue.
    slow_socket = {"compression": None, "max_queue": 1, "sock": _small_socket(live.hub)}
    async with live.viewer(resume=0, **slow_socket) as slow, live.viewer(resume=0) as fast:
        await _until_viewers(fast, 2)
        slow_id = _last(fast, "control")["driver"]
        relay = live.hub.state.relays.get(sid)
        assert relay is not None
        reading = asyncio.create_task(_read_forever(fast))
        began = asyncio.get_running_loop().time()
        # Stream until the pipe to the slow viewer is full and output queues up for it.
        while relay.viewers[slow_id].queued_bytes < 1024 * 1024:
            assert len(data) < 16 * 1024 * 1024, "the slow viewer never fell behind"
            await stream(frame)
        behind_at = len(data)
        # It loses the driver lock while behind: this must still reach it.
        await fast.send({"type": "take_control"})
        # Every frame is acked although one viewer reads nothing at all; the other gets it all.
        await stream(viewer_queue.VIEWER_QUEUE_BYTES + 1024 * 1024)
        await wait_until(lambda: reading.done() or fast.position == len(data), timeout=10)
        assert not reading.done(), reading.exception()
        reading.cancel()
        assert asyncio.get_running_loop().time() - began < 20
        assert bytes(fast.segments[0].data) == data
        assert "reset" not in [f["type"] for f in fast.frames]

        # The slow one finally reads: what it got first is contiguous, then it resyncs, having
        # skipped the backlog instead of being fed it.
        reset = await slow.expect("reset", timeout=10)
        assert reset["reason"] == "resync"
        before = slow.segments[0]
        assert before.start == 0 and before.data == data[: before.end]
        assert before.end <= behind_at, f"fed {before.end} bytes, fell behind at {behind_at}"
        assert _last(slow, "control")["you"] is False
        snapshot = await slow.expect("snapshot")
        await stream(50_000)
        await slow.read_to(len(data), timeout=10)
        after = slow.segments[-1]
        assert after.start == snapshot["offset"] >= before.end
        assert bytes(after.data) == data[after.start :]
        await fast.read_to(len(data))
