"""Session output recording from a fake daemon: offsets, acks, idempotent resends, reconnects,
legacy agents, and sessions a daemon must not touch."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from orchestratia.hub.db.models import OutputChunk
from tests.integration.helpers import FakeDaemon, recording, start_session
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.support import wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60}  # fake daemons don't heartbeat


async def _status(client: httpx.AsyncClient, session_id: str) -> str:
    res = await client.get(f"/api/v1/sessions/{session_id}")
    assert res.status_code == 200, res.text
    status: str = res.json()["status"]
    return status


async def _chunks(hub: RunningHub, session_id: str) -> list[tuple[int, int]]:
    """(offset, length) of every stored chunk: overlaps would show here even if reads hid them."""
    async with hub.state.sessionmaker() as db:
        rows = await db.execute(
            select(OutputChunk.offset, func.length(OutputChunk.data))
            .where(OutputChunk.session_id == session_id)
            .order_by(OutputChunk.offset)
        )
        return [(int(o), int(n)) for o, n in rows]


def _contiguous(chunks: list[tuple[int, int]]) -> int:
    end = 0
    for offset, length in chunks:
        assert offset == end, f"chunk at {offset}, recording ends at {end}: {chunks}"
        end += length
    return end


async def test_acks_at_the_contiguous_end_and_resends_never_duplicate(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    data = bytes(random.Random(1).randbytes(300))
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]

        async def send(offset: int, end: int, acked: int) -> None:
            await daemon.output(sid, data[offset:end], offset)
            ack = await daemon.expect("session_output_ack")
            assert ack == {"type": "session_output_ack", "session_id": sid, "offset": acked}

        await send(0, 100, acked=100)
        await send(0, 100, acked=100)  # the same frame again
        await send(20, 60, acked=100)  # inside what is held
        await send(50, 150, acked=150)  # straddles the end: only 100..150 is new
        await send(200, 300, acked=150)  # beyond the end: a hole, refused
        await send(150, 200, acked=200)  # the hole filled
        await send(150, 300, acked=300)  # then the refused range, resent with overlap

        assert await recording(admin, sid) == data
        assert _contiguous(await _chunks(hub, sid)) == 300
        res = await admin.get(f"/api/v1/sessions/{sid}")
        assert res.json()["output_offset"] == 300

        for offset in (0, 1, 99, 100, 150, 299):
            res = await admin.get(f"/api/v1/sessions/{sid}/output", params={"offset": offset})
            assert res.status_code == 200
            assert res.headers["content-type"] == "application/octet-stream"
            assert res.headers["x-orchestratia-offset"] == str(offset)
            assert res.content == data[offset:], offset
        res = await admin.get(f"/api/v1/sessions/{sid}/output", params={"offset": 120, "limit": 50})
        assert res.content == data[120:170]
        res = await admin.get(f"/api/v1/sessions/{sid}/output", params={"offset": 300})
        assert res.status_code == 200 and res.content == b""
        assert res.headers["x-orchestratia-offset"] == "300"
        res = await admin.get(f"/api/v1/sessions/{sid}/output", params={"offset": -1})
        assert res.status_code == 422


async def test_a_megabyte_in_64k_frames_round_trips_exactly(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    data = random.Random(2).randbytes(1024 * 1024 + 12345)
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        await daemon.stream(sid, data, frame_bytes=64 * 1024)
    stored = await recording(admin, sid)
    assert len(stored) == len(data)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    assert await recording(admin, sid, offset=700_001) == data[700_001:]
    assert _contiguous(await _chunks(hub, sid)) == len(data)


async def test_reconnecting_daemon_resends_from_the_hubs_offset(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    data = random.Random(3).randbytes(600_000)
    async with FakeDaemon.connect(hub, server["api_key"]) as first:
        sid = (await start_session(admin, first))["id"]
        await first.stream(sid, data[:250_000], frame_bytes=50_000)
        # Written to the daemon's log but lost in flight: the hub sees a hole and keeps its end.
        await first.output(sid, data[400_000:450_000], 400_000)
        await first.barrier()
        assert first.acks[sid] == 250_000
    await wait_until(lambda: hub.state.registry.get(server["id"]) is None)

    live = [{"session_id": sid, "offset": 450_000, "pid": 4242, "tmux_name": "t", "alive": True}]
    async with FakeDaemon.connect(hub, server["api_key"], sessions=live) as second:
        ack = await second.expect("session_output_ack", session_id=sid)
        assert ack["offset"] == 250_000
        await second.stream(sid, data[250_000:], start=250_000, frame_bytes=64 * 1024)
        assert await _status(admin, sid) == "running"
    assert await recording(admin, sid) == data
    assert _contiguous(await _chunks(hub, sid)) == len(data)


async def test_replaced_connection_hands_over_without_loss(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    """A daemon reconnecting while its old socket is still open (half-open link)."""
    data = random.Random(4).randbytes(200_000)
    async with FakeDaemon.connect(hub, server["api_key"]) as old:
        sid = (await start_session(admin, old))["id"]
        await old.stream(sid, data[:80_000], frame_bytes=20_000)
        live = [{"session_id": sid, "offset": 80_000}]
        async with FakeDaemon.connect(hub, server["api_key"], sessions=live) as new:
            ack = await new.expect("session_output_ack", session_id=sid)
            assert ack["offset"] == 80_000
            await new.stream(sid, data[80_000:], start=80_000, frame_bytes=30_000)
    assert await recording(admin, sid) == data


async def test_legacy_agent_output_is_appended_without_acks(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    parts = [b"$ ls\r\n", "caf\u00e9 \U0001f680\r\n".encode(), b"\x1b[32mok\x1b[0m\r\n"]
    async with FakeDaemon.connect(hub, server["api_key"], protocol=None) as daemon:
        res = await admin.post(
            "/api/v1/sessions",
            json={"server_id": server["id"], "name": "legacy", "working_directory": "/"},
        )
        assert res.status_code == 201, res.text
        sid = res.json()["id"]
        await daemon.expect("session_start", session_id=sid)
        await daemon.started(sid, tmux_name=f"orc-{sid[:12]}")
        for part in parts:
            await daemon.output(sid, part, offset=None)
        await daemon.barrier()
        assert daemon.received("session_output_ack") == []
        assert await _status(admin, sid) == "running"
    assert await recording(admin, sid) == b"".join(parts)


async def test_daemon_cannot_touch_another_servers_session(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, server: dict[str, Any]
) -> None:
    intruder = await register_server(admin, project_id, machine_id="machine-2")
    async with FakeDaemon.connect(hub, server["api_key"]) as owner:
        sid = (await start_session(admin, owner))["id"]
        async with FakeDaemon.connect(hub, intruder["api_key"]) as other:
            for frame in (
                {"type": "session_output", "session_id": sid, "data": "aGk=", "offset": 0},
                {"type": "session_output", "session_id": sid, "data": "aGk="},
                {"type": "session_closed", "session_id": sid, "exit_code": 0},
                {"type": "session_started", "session_id": sid, "pid": 1},
                {"type": "session_output", "session_id": "no-such-session", "data": "aGk="},
            ):
                await other.send(frame)
                error = await other.expect("error")
                assert error["code"] == "unknown_session", (frame, error)
                assert error["fatal"] is False
            await other.barrier()
            assert other.received("session_output_ack") == []
            # A hello claiming the session is no claim either.
            await other.hello([{"session_id": sid, "offset": 0}])
            assert other.received("session_output_ack") == []
        assert await recording(admin, sid) == b""
        assert await _chunks(hub, sid) == []
        res = await admin.get(f"/api/v1/sessions/{sid}")
        assert res.json()["status"] == "running" and res.json()["pid"] == 4242
        # The owner is unaffected.
        await owner.stream(sid, b"mine", frame_bytes=4)
    assert await recording(admin, sid) == b"mine"


async def test_hello_without_a_running_session_marks_it_lost(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        gone = (await start_session(admin, daemon, "gone"))["id"]
        kept = (await start_session(admin, daemon, "kept"))["id"]
        await daemon.stream(kept, b"x" * 10, frame_bytes=10)
    live = [{"session_id": kept, "offset": 10, "pid": 4242}]
    async with FakeDaemon.connect(hub, server["api_key"], sessions=live) as daemon:
        assert (await daemon.expect("session_output_ack", session_id=kept))["offset"] == 10
        assert daemon.received("session_output_ack", session_id=gone) == []
        assert await _status(admin, gone) == "lost"
        assert await _status(admin, kept) == "running"
        res = await admin.get(f"/api/v1/sessions/{gone}")
        assert res.json()["ended_at"] is not None

    # It turns up after all (say a slower rediscovery): running again.
    live.append({"session_id": gone, "offset": 0, "pid": 777, "alive": True})
    async with FakeDaemon.connect(hub, server["api_key"], sessions=live):
        res = await admin.get(f"/api/v1/sessions/{gone}")
        assert res.json()["status"] == "running" and res.json()["pid"] == 777
        assert res.json()["ended_at"] is None


async def test_legacy_recovery_maps_tmux_name_to_session(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"], protocol=None) as daemon:
        res = await admin.post(
            "/api/v1/sessions",
            json={"server_id": server["id"], "name": "legacy", "working_directory": "/"},
        )
        sid = res.json()["id"]
        await daemon.expect("session_start", session_id=sid)
        # The public agent crashed before reporting its tmux name: only the prefix rule maps it.
        await daemon.send({"type": "session_started", "session_id": sid, "pid": 100})
        await daemon.barrier()

    tmux_name = f"orc-{sid[:12]}"
    async with FakeDaemon.connect(hub, server["api_key"], protocol=None) as daemon:
        for unknown in ("orc-zzzzzzzzzzzz", "orc-%", "orc-_", "someone-elses"):
            await daemon.send({"type": "session_recovered", "tmux_name": unknown, "pid": 1})
        await daemon.send(
            {"type": "session_recovered", "tmux_name": tmux_name, "pid": 200, "working_dir": "/"}
        )
        ack = await daemon.expect("session_recovered_ack")
        assert ack == {"type": "session_recovered_ack", "tmux_name": tmux_name, "session_id": sid}
        await daemon.barrier()
        assert daemon.received("session_recovered_ack") == []
        res = await admin.get(f"/api/v1/sessions/{sid}")
        assert res.json()["status"] == "running"
        assert (res.json()["pid"], res.json()["tmux_name"]) == (200, tmux_name)
        await daemon.output(sid, b"after recovery", offset=None)
        await daemon.barrier()
    assert await recording(admin, sid) == b"after recovery"
