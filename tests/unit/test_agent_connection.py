"""HubConnection against an in-process fake hub: handshake, heartbeats, reconnects, rejections."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest

from orchestratia import __version__
from orchestratia.agent.link.backoff import Backoff
from orchestratia.agent.link.connection import HubConnection
from orchestratia.agent.link.errors import NotConnected
from orchestratia.protocol.output_frames import pack_session_output
from orchestratia.protocol.sessions import LiveSession
from tests.support import wait_until
from tests.unit.agent_fakes import FakeHub


class RecordingBackoff(Backoff):
    """Fast delays, and a record of which kind of delay each retry asked for."""

    def __init__(self) -> None:
        super().__init__(base=0.01, cap=0.05, rng=random.Random(7))
        self.kinds: list[str] = []

    def next_delay(self) -> float:
        self.kinds.append("normal")
        return super().next_delay()

    def slow_delay(self) -> float:
        self.kinds.append("slow")
        return super().slow_delay()


@asynccontextmanager
async def running(
    hub: FakeHub, **kwargs: Any
) -> AsyncIterator[tuple[HubConnection, RecordingBackoff]]:
    backoff = RecordingBackoff()
    kwargs.setdefault("capabilities", ["claude", "codex"])
    conn = HubConnection(
        hub.config(), backoff=backoff, open_timeout=2, close_timeout=1, auth_timeout=1, **kwargs
    )
    task = asyncio.create_task(conn.run())
    try:
        yield conn, backoff
    finally:
        await conn.stop()
        await asyncio.wait_for(task, 5)
        assert conn.state == "stopped"


def connected(conn: HubConnection) -> Callable[[], bool]:
    return lambda: conn.state == "connected"


async def test_auth_frame_then_hello_then_clean_stop() -> None:
    async with FakeHub() as hub:
        async with running(hub) as (conn, _):
            await wait_until(connected(conn), message="connected")
            await wait_until(lambda: hub.of_type("hello"), message="hello")
            assert hub.auths == [
                {
                    "type": "auth",
                    "api_key": "orc_test_key",
                    "protocol": 3,
                    "capabilities": ["hello", "heartbeat", "session_offsets", "binary_output"],
                }
            ]
            hello = hub.frames[0]
            assert hello["type"] == "hello"
            assert hello["version"] == __version__
            assert hello["capabilities"] == ["claude", "codex"]
            assert hello["repos"] == {"app": "/srv/app"}
            assert hello["sessions"] == []
            assert "memory_total" in hello["system_info"]
            assert conn.server_id == "srv_from_hub"
            assert conn.last_connected_at is not None
            assert conn.last_error is None
        await wait_until(lambda: hub.client_close_codes, message="close seen by hub")
        assert hub.client_close_codes == [1001]


async def test_heartbeats_carry_system_info() -> None:
    async with FakeHub(heartbeat_interval=0.1) as hub, running(hub) as (conn, _):
        await wait_until(lambda: len(hub.of_type("heartbeat")) >= 3, message="three heartbeats")
        beats = hub.of_type("heartbeat")
        assert {"cpu_percent", "memory_percent", "disk_percent"} <= beats[0]["system_info"].keys()
        assert conn.state == "connected"


async def test_reconnects_after_hub_drops_the_socket() -> None:
    states: list[str] = []
    async with (
        FakeHub() as hub,
        running(hub, on_state_change=lambda c: states.append(c.state)) as (conn, backoff),
    ):
        await wait_until(connected(conn), message="first connection")
        first = conn.last_connected_at
        await hub.drop_all(1012)
        await wait_until(lambda: hub.connections >= 2 and conn.state == "connected")
        assert conn.last_connected_at is not None and first is not None
        assert conn.last_connected_at > first
        assert backoff.kinds == ["normal"]
        assert states[:4] == ["connecting", "connected", "backoff", "connecting"]
        assert len(hub.auths) == 2


async def test_4401_close_is_reported_as_key_rejected_and_retried_slowly() -> None:
    async with FakeHub(reject_close=4401) as hub, running(hub) as (conn, backoff):
        await wait_until(lambda: hub.connections >= 2, message="a retry")
        assert conn.last_error is not None
        assert "key rejected" in conn.last_error
        assert "unknown server key" in conn.last_error
        assert conn.last_connected_at is None
        assert set(backoff.kinds) == {"slow"}


async def test_fatal_unauthorized_error_frame_is_key_rejected() -> None:
    async with FakeHub(reject_error="unauthorized") as hub, running(hub) as (conn, backoff):
        await wait_until(lambda: conn.last_error, message="an error")
        assert conn.last_error is not None
        assert "key rejected" in conn.last_error
        assert "bad key" in conn.last_error
        await wait_until(lambda: backoff.kinds, message="a retry delay")
        assert backoff.kinds[0] == "slow"


async def test_other_fatal_handshake_errors_use_normal_backoff() -> None:
    async with FakeHub(reject_error="auth_required") as hub, running(hub) as (conn, backoff):
        await wait_until(lambda: backoff.kinds, message="a retry delay")
        assert conn.last_error is not None
        assert "auth_required" in conn.last_error
        assert "key rejected" not in conn.last_error
        assert backoff.kinds[0] == "normal"


async def test_replaced_connection_retries_slowly() -> None:
    async with FakeHub(reject_close=4409) as hub, running(hub) as (conn, backoff):
        await wait_until(lambda: backoff.kinds, message="a retry delay")
        assert conn.last_error is not None
        assert "replaced" in conn.last_error
        assert backoff.kinds[0] == "slow"


async def test_missing_auth_ok_hits_the_deadline() -> None:
    async with FakeHub(no_auth_ok=True) as hub, running(hub) as (conn, _):
        conn.auth_timeout = 0.2
        await wait_until(lambda: conn.last_error, message="auth deadline")
        assert conn.last_error is not None
        assert "no auth_ok" in conn.last_error


async def test_silent_hub_is_treated_as_dead_and_reconnected() -> None:
    errors: list[str] = []

    def record(conn: HubConnection) -> None:
        if conn.last_error:
            errors.append(conn.last_error)

    async with (
        FakeHub(heartbeat_interval=0.1, ack=False) as hub,
        running(hub, on_state_change=record),
    ):
        await wait_until(lambda: hub.connections >= 2, message="reconnect after silence")
        assert any("no traffic from hub" in error for error in errors)


async def test_unknown_and_garbage_frames_never_break_the_link() -> None:
    seen: list[dict[str, Any]] = []

    async def handler(frame: dict[str, Any]) -> None:
        seen.append(frame)
        if frame["type"] == "explode":
            raise RuntimeError("handler bug")

    after_auth = [
        "not json",
        "[1, 2]",
        json.dumps({"type": "explode"}),
        json.dumps({"type": "error", "code": "bad_frame", "message": "meh"}),
        json.dumps({"type": "session_start", "session_id": "s1"}),
    ]
    async with FakeHub(after_auth=after_auth) as hub, running(hub, on_frame=handler) as (conn, _):
        await wait_until(lambda: len(seen) == 2, message="handled frames")
        assert [frame["type"] for frame in seen] == ["explode", "session_start"]
        await wait_until(lambda: hub.of_type("heartbeat"), message="heartbeat after garbage")
        assert conn.state == "connected"
        assert hub.connections == 1


async def test_backoff_resets_after_a_stable_connection() -> None:
    async with FakeHub() as hub, running(hub, stable_after=0.0) as (conn, backoff):

        def connected_again(drops: int) -> bool:
            return hub.connections > drops and conn.state == "connected"

        def backed_off(drops: int) -> bool:
            return len(backoff.kinds) > drops

        for round_ in range(3):
            await wait_until(partial(connected_again, round_))
            await hub.drop_all()
            await wait_until(partial(backed_off, round_))
        assert backoff.attempt == 1


async def test_send_requires_a_connection() -> None:
    async with FakeHub(reject_close=4401) as hub, running(hub) as (conn, _):
        with pytest.raises(NotConnected):
            await conn.send({"type": "ping"})
        with pytest.raises(NotConnected):
            await conn.send_binary(pack_session_output("s1", 0, b"hi"))


@pytest.mark.parametrize("protocol", [2, 3])
async def test_binary_frames_only_where_auth_ok_allows_them(protocol: int) -> None:
    frame = pack_session_output("s1", 0, b"hi")
    flags: list[tuple[str, bool]] = []

    def state_changed(conn: HubConnection) -> None:
        flags.append((conn.state, conn.binary_output))

    async with (
        FakeHub(protocol=protocol) as hub,
        running(hub, on_state_change=state_changed) as (conn, _),
    ):
        await wait_until(connected(conn), message="connected")
        assert conn.binary_output is (protocol == 3)
        if protocol == 3:
            await conn.send_binary(frame)
            await wait_until(lambda: hub.output("s1") == b"hi", message="binary output stored")
        else:
            with pytest.raises(NotConnected, match="did not negotiate binary output"):
                await conn.send_binary(frame)
        await hub.drop_all()
        await wait_until(lambda: [s for s, _ in flags].count("connected") == 2, message="back")
    assert hub.unexpected_binary == 0
    assert {binary for state, binary in flags if state != "connected"} == {False}
    assert {binary for state, binary in flags if state == "connected"} == {protocol == 3}


async def test_hello_announces_the_live_sessions_on_every_connect() -> None:
    live = [LiveSession(session_id="s1", offset=42, pid=7, tmux_name="orc-s1")]
    async with FakeHub() as hub, running(hub, live_sessions=lambda: live):
        await wait_until(lambda: hub.of_type("hello"), message="hello")
        live.append(LiveSession(session_id="s2", offset=0, alive=False, exit_code=3))
        await hub.drop_all()
        await wait_until(lambda: len(hub.of_type("hello")) == 2, message="second hello")
    first, second = hub.of_type("hello")
    assert first["sessions"] == [
        {"session_id": "s1", "offset": 42, "pid": 7, "tmux_name": "orc-s1", "alive": True,
         "exit_code": None}
    ]  # fmt: skip
    assert [s["session_id"] for s in second["sessions"]] == ["s1", "s2"]
    assert second["sessions"][1]["alive"] is False and second["sessions"][1]["exit_code"] == 3
