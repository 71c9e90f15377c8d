"""Terminal output into the hub (issue 17): binary frames on protocol 3, what a connection may
write to, and group commit: acks follow the commit, lifecycle frames follow the output."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from orchestratia.hub.db.models import OutputChunk, TerminalSession
from orchestratia.hub.services.fleet import recording as stored
from orchestratia.protocol.output_frames import (
    BINARY_OUTPUT,
    HEADER,
    OutputFrameError,
    pack_session_output,
    unpack_session_output,
)
from tests.integration.helpers import (
    FakeDaemon,
    ViewerClient,
    audit_rows,
    login_cookie,
    recording,
    start_session,
)
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.integration.viewer_support import ALICE
from tests.support import wait_until

BINARY = (BINARY_OUTPUT,)


def binary_daemon(hub: RunningHub, api_key: str) -> AbstractAsyncContextManager[FakeDaemon]:
    """A daemon that negotiated binary output frames, as ours does."""
    return FakeDaemon.connect(hub, api_key, protocol=3, capabilities=BINARY)


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60}  # fake daemons are quiet


async def _held(hub: RunningHub, sid: str) -> tuple[int, int, int]:
    """A fresh read of what the database holds: the session's end, its stored bytes, its rows."""
    async with hub.state.sessionmaker() as db:
        end = await db.scalar(
            select(TerminalSession.output_offset).where(TerminalSession.id == sid)
        )
        size, rows = (
            await db.execute(
                select(func.coalesce(func.sum(func.length(OutputChunk.data)), 0), func.count())
                .select_from(OutputChunk)
                .where(OutputChunk.session_id == sid)
            )
        ).one()
    assert end is not None
    return end, int(size), int(rows)


async def _redactions(hub: RunningHub, sid: str) -> int:
    async with hub.state.sessionmaker() as db:
        count = await db.scalar(select(TerminalSession.redactions).where(TerminalSession.id == sid))
    assert count is not None
    return count


def _commits(hub: RunningHub) -> float:
    value = hub.state.metrics.registry.get_sample_value(
        "orchestratia_recording_write_seconds_count"
    )
    return value or 0.0


async def test_binary_output_is_stored_and_acked_byte_identically(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with binary_daemon(hub, server["api_key"]) as daemon:
        assert daemon.protocol == 3
        sid = (await start_session(admin, daemon))["id"]
        # Every byte value, and frames that end inside a UTF-8 character: nothing is decoded.
        data = bytes(range(256)) * 40 + "ünïcødé ✓\r\n".encode() * 50
        for offset in range(0, len(data), 997):
            marks = {"github": 2} if offset == 0 else None
            await daemon.output_binary(sid, data[offset : offset + 997], offset, marks)
        await daemon.wait_acked(sid, len(data))
        assert await recording(admin, sid) == data
        assert (await _held(hub, sid))[:2] == (len(data), len(data))
        assert await _redactions(hub, sid) == 2

        # A resend of what is held (a reconnecting daemon's overlap) stores nothing and is
        # answered with what is stored.
        await daemon.output_binary(sid, data[:500], 0)
        ack = await daemon.expect("session_output_ack")
        assert ack["offset"] == len(data)
        await daemon.output_binary(sid, data[-100:] + b"tail", len(data) - 100)
        await daemon.wait_acked(sid, len(data) + 4)
        assert await recording(admin, sid) == data + b"tail"


MALFORMED: list[tuple[str, bytes, str]] = [
    ("short", b"\x01\x05", "shorter than its 12-byte header"),
    ("kind", HEADER.pack(2, 4, 0, 0) + b"abcd", "unknown binary frame kind 2"),
    ("no-id", HEADER.pack(1, 0, 0, 0), "session id length 0"),
    ("truncated", HEADER.pack(1, 40, 0, 0) + b"x", "shorter than its header says"),
    ("id-utf8", HEADER.pack(1, 2, 0, 0) + b"\xff\xfe", "not UTF-8"),
    ("meta", HEADER.pack(1, 1, 5, 0) + b"s{bad}", "bad meta"),
    ("offset", HEADER.pack(1, 1, 0, 2**63) + b"s", "offset"),
]


async def test_malformed_binary_frames_get_bad_frame_and_socket_survives(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with binary_daemon(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        for name, message, says in MALFORMED:
            with pytest.raises(OutputFrameError) as parsed:
                unpack_session_output(message)
            await daemon.ws.send(message)
            error = await daemon.expect("error")
            assert error["code"] == "bad_frame" and error["fatal"] is False, (name, error)
            assert error["message"] == str(parsed.value) and says in error["message"], name
            await daemon.barrier()
        await daemon.output_binary(sid, b"still here", 0)
        await daemon.wait_acked(sid, 10)
        assert await recording(admin, sid) == b"still here"


@pytest.mark.parametrize(
    ("protocol", "capabilities"), [(2, BINARY), (3, ()), (3, ("binary",))], ids=str
)
async def test_binary_frames_need_protocol_3_and_the_capability(
    hub: RunningHub,
    admin: httpx.AsyncClient,
    server: dict[str, Any],
    protocol: int,
    capabilities: tuple[str, ...],
) -> None:
    async with FakeDaemon.connect(
        hub, server["api_key"], protocol=protocol, capabilities=capabilities
    ) as daemon:
        assert daemon.protocol == protocol
        sid = (await start_session(admin, daemon))["id"]
        await daemon.ws.send(pack_session_output(sid, 0, b"not negotiated"))
        error = await daemon.expect("error")
        assert (error["code"], error["message"]) == (
            "unsupported_frame",
            "binary frames are not negotiated",
        )
        await daemon.stream(sid, b"json still works")  # the connection lives on, as protocol 2
        assert await recording(admin, sid) == b"json still works"


async def test_a_newer_protocol_is_answered_with_ours(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(
        hub, server["api_key"], protocol=9, capabilities=BINARY
    ) as daemon:
        assert daemon.protocol == 3
        sid = (await start_session(admin, daemon))["id"]
        await daemon.output_binary(sid, b"binary", 0)
        await daemon.wait_acked(sid, 6)


async def test_output_for_another_servers_session_is_refused(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any], project_id: str
) -> None:
    other = await register_server(admin, project_id, machine_id="intruder")
    async with FakeDaemon.connect(hub, server["api_key"]) as owner:
        sid = (await start_session(admin, owner))["id"]
        await owner.stream(sid, b"mine")
        async with binary_daemon(hub, other["api_key"]) as intruder:
            await intruder.output_binary(sid, b"theirs", 4)
            await intruder.output(sid, b"theirs", 4)
            for _ in range(2):
                error = await intruder.expect("error")
                assert (error["code"], error["message"]) == ("unknown_session", f"no session {sid}")
            await intruder.barrier()
            assert intruder.received("session_output_ack") == []
        assert await recording(admin, sid) == b"mine"
        assert (await _held(hub, sid))[:2] == (4, 4)


@pytest.mark.parametrize("hub_overrides", [{"heartbeat_timeout": 60, "output_batch_seconds": 0.05}])
async def test_many_small_frames_make_few_commits_and_acks_trail_the_database(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    frames, size = 2000, 64
    data = bytes(i % 251 for i in range(frames * size))
    async with binary_daemon(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        commits_before = _commits(hub)
        checked: list[int] = []

        async def check_acks() -> None:
            # Every ack seen is at most what a read of the database, made after it, holds (the
            # end is read before the chunks: a commit may land between the two reads).
            while daemon.acks.get(sid, 0) < len(data):
                acked = daemon.acks.get(sid, 0)
                end, held, _ = await _held(hub, sid)
                assert acked <= end <= held, (acked, end, held)
                checked.append(acked)
                await asyncio.sleep(0.002)

        checker = asyncio.create_task(check_acks())
        for offset in range(0, len(data), size):
            await daemon.output_binary(sid, data[offset : offset + size], offset)
            if offset % (100 * size) == 0:
                await asyncio.sleep(0.02)  # in bursts, so acks arrive while it streams
        await daemon.wait_acked(sid, len(data), timeout=30)
        await checker
        end, held, rows = await _held(hub, sid)
        commits = _commits(hub) - commits_before
    assert await recording(admin, sid) == data
    assert end == held == len(data)
    # One row per commit (one session), and far fewer of them than frames.
    assert rows == commits and rows <= frames // 20, (rows, commits)
    assert len(set(checked)) > 1, "the checker never saw the stream between acks"


@pytest.mark.parametrize("hub_overrides", [{"heartbeat_timeout": 60, "output_batch_seconds": 1.0}])
async def test_gap_and_close_are_recorded_after_the_output_before_them(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with binary_daemon(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        await daemon.output_binary(sid, b"before the gap ", 0)
        asked = time.monotonic()
        await daemon.send({"type": "session_gap", "session_id": sid, "offset": 15, "reason": "x"})
        await daemon.barrier()
        # The batch would wait a second; the gap asked for it now, and it came first.
        assert time.monotonic() - asked < 1.0
        [gap] = await audit_rows(hub, "session.output_gap")
        assert gap.details["offset"] == 15
        assert (await _held(hub, sid))[:2] == (15, 15)

        await daemon.output_binary(sid, b"and the last words", 15)
        await daemon.send(
            {"type": "session_closed", "session_id": sid, "exit_code": 0, "final_offset": 33}
        )
        await daemon.barrier()
        row = (await admin.get(f"/api/v1/sessions/{sid}")).json()
        assert (row["status"], row["output_offset"]) == ("exited", 33)
        assert daemon.acks[sid] == 33  # acked before the pong: frames are answered in order
    assert await recording(admin, sid) == b"before the gap and the last words"


async def test_a_stale_writer_cannot_append_twice(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        session = await start_session(admin, daemon)
    sid = session["id"]
    async with hub.state.sessionmaker() as db:
        row = await db.get(TerminalSession, sid)
        assert row is not None
        tenant_id = row.tenant_id
    async with hub.state.engine.begin() as conn:
        first = stored.Append(sid, tenant_id, 0, b"first writer", 1)
        assert await stored.append(conn, [first]) == set()
    async with hub.state.engine.begin() as conn:
        # A second writer still believing the recording ends at 0 (an old connection, another
        # replica) is refused whole: no chunk, no move of the end, no redaction count.
        stale = stored.Append(sid, tenant_id, 0, b"second writer!", 5)
        assert await stored.append(conn, [stale]) == {sid}
    assert await _held(hub, sid) == (12, 12, 1)
    assert await _redactions(hub, sid) == 1
    assert await recording(admin, sid) == b"first writer"


FAIL_SQLITE = """CREATE TRIGGER refuse_output BEFORE INSERT ON session_output
BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"""
FAIL_POSTGRES = [
    """CREATE FUNCTION refuse_output() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER refuse_output BEFORE INSERT ON session_output
    FOR EACH ROW EXECUTE FUNCTION refuse_output()""",
]


async def _refuse_output(hub: RunningHub, refuse: bool) -> None:
    sqlite = hub.settings.database_url.startswith("sqlite")
    if refuse:
        statements = [FAIL_SQLITE] if sqlite else FAIL_POSTGRES
    else:
        statements = ["DROP TRIGGER refuse_output"]
        if not sqlite:
            statements = [
                "DROP TRIGGER refuse_output ON session_output",
                "DROP FUNCTION refuse_output",
            ]
    async with hub.state.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_a_failed_commit_acks_nothing_and_the_daemon_resyncs(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with binary_daemon(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        await daemon.output_binary(sid, b"stored ", 0)
        await daemon.wait_acked(sid, 7)
        await _refuse_output(hub, True)
        try:
            await daemon.output_binary(sid, b"lost in the fire", 7)
            await asyncio.wait_for(daemon.ws.wait_closed(), 10)
        finally:
            await _refuse_output(hub, False)
        assert daemon.ws.close_code == 1013
        assert daemon.acks[sid] == 7
    assert await _held(hub, sid) == (7, 7, 1)
    # The daemon comes back, learns what is stored, and resends the rest.
    hello = [{"session_id": sid, "offset": 23, "pid": 4242}]
    async with FakeDaemon.connect(
        hub, server["api_key"], protocol=3, capabilities=BINARY, sessions=hello
    ) as daemon:
        ack = await daemon.expect("session_output_ack")
        assert ack["offset"] == 7
        await daemon.output_binary(sid, b"lost in the fire", 7)
        await daemon.wait_acked(sid, 23)
    assert await recording(admin, sid) == b"stored lost in the fire"


async def test_a_daemon_whose_socket_does_not_drain_holds_up_no_one_else(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any], project_id: str
) -> None:
    other = await register_server(admin, project_id, machine_id="machine-2")
    async with (
        binary_daemon(hub, server["api_key"]) as stuck,
        binary_daemon(hub, other["api_key"]) as fine,
    ):
        stuck_sid = (await start_session(admin, stuck))["id"]
        fine_sid = (await start_session(admin, fine, name="other"))["id"]
        conn = hub.state.registry.get(stuck.server_id)
        assert conn is not None
        # Held as by a send into a socket whose peer stopped reading: every send to that
        # daemon waits. Both sessions' output then lands in the same group commits.
        async with conn.send_lock:
            for offset in range(0, 4000, 400):
                await stuck.output_binary(stuck_sid, b"s" * 400, offset)
                await fine.output_binary(fine_sid, b"f" * 400, offset)
            await fine.wait_acked(fine_sid, 4000, timeout=10)
            assert (await _held(hub, stuck_sid))[:2] == (4000, 4000)
            assert stuck.acks.get(stuck_sid, 0) < 4000
        await stuck.wait_acked(stuck_sid, 4000)  # its acks follow once its socket drains


@pytest.mark.parametrize("hub_overrides", [{"heartbeat_timeout": 60, "output_batch_seconds": 1.0}])
async def test_a_viewer_resuming_before_output_is_stored_gets_it_once_it_is(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    data = bytes(i % 199 for i in range(300_000))
    cookie = await login_cookie(hub, ALICE)
    async with binary_daemon(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        conn = hub.state.registry.get(daemon.server_id)
        assert conn is not None
        for offset in range(0, len(data), 100_000):
            await daemon.output_binary(sid, data[offset : offset + 100_000], offset)

        def taken_in() -> bool:
            owned = conn.owned.get(sid)
            return owned is not None and owned.accepted == len(data)

        await wait_until(taken_in, 5, "output taken in")
        assert (await _held(hub, sid))[0] == 0  # waiting for the commit
        # The viewer's relay starts at what was taken in: the bytes before it are in no ring and
        # not stored yet, and no more output comes to wake the viewer.
        async with ViewerClient.open(hub, sid, cookie=cookie, resume=0) as viewer:
            await viewer.read_to(len(data), timeout=10)
        assert viewer.segments[-1].data == data
