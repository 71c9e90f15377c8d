"""Session output over a real connection to the fake hub, in the format each hub negotiated.

A protocol-3 hub gets binary frames, a protocol-2 hub the ``session_output`` JSON it always got;
a reconnect to a hub of the other kind switches format with nothing lost or sent twice. The log
is written by the test (no tmux): the stream, the link and the WebSocket are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from orchestratia.agent.link.backoff import Backoff
from orchestratia.agent.link.connection import HubConnection
from orchestratia.agent.link.routing import route
from orchestratia.agent.metrics import AgentMetrics
from orchestratia.agent.sessions.hub_link import HubLink
from orchestratia.agent.sessions.output_log import SessionPaths
from orchestratia.agent.sessions.stream import OutputStream
from orchestratia.protocol.sessions import LiveSession, SessionOutputAckFrame
from tests.support import wait_until
from tests.unit.agent_fakes import FakeHub, assert_contiguous, frames

# Ends inside a chunk boundary and holds a secret, so chunks, offsets and redaction all show.
OUTPUT = b"".join(b"line %05d \xe2\x9c\x93 abcdefghijklmnopqrstuvwxyz\r\n" % i for i in range(6000))
SECRET = b"key=ghp_" + b"Ab1" * 12 + b" ok\r\n"


@asynccontextmanager
async def streaming(
    hub: FakeHub, paths: SessionPaths, metrics: AgentMetrics | None = None
) -> AsyncIterator[OutputStream]:
    """A stream of session ``s1`` over a connection to ``hub``, wired as the daemon wires it."""
    link = HubLink(metrics or AgentMetrics())
    stream = OutputStream("s1", paths, link, chunk=16 * 1024)

    def state_changed(connection: HubConnection) -> None:
        if connection.state == "connected":
            stream.link_up()
        else:
            stream.link_down()

    async def acked(frame: SessionOutputAckFrame) -> None:
        stream.on_ack(frame.offset)

    connection = HubConnection(
        hub.config(),
        routes=[route(SessionOutputAckFrame, acked)],
        on_state_change=state_changed,
        live_sessions=lambda: [LiveSession(session_id="s1", offset=stream.produced)],
        capabilities=[],
        backoff=Backoff(0.01, 0.05),
        close_timeout=1,
    )
    link.target = connection
    hub.outputs["s1"] = bytearray()  # the hub knows the session: it acks it after hello
    task = asyncio.create_task(connection.run())
    stream.start()
    try:
        yield stream
    finally:
        await stream.stop()
        await connection.stop()
        await asyncio.wait_for(task, 5)


def expected() -> bytes:
    return OUTPUT + b"key=ghp_[REDACTED:github_token] ok\r\n"


@pytest.mark.parametrize("protocol", [2, 3])
async def test_output_arrives_in_the_negotiated_format(tmp_path: Path, protocol: int) -> None:
    paths = SessionPaths.for_session(tmp_path, "s1")
    paths.log.write_bytes(OUTPUT + SECRET)
    metrics = AgentMetrics()
    async with FakeHub(protocol=protocol) as hub, streaming(hub, paths, metrics):
        await wait_until(lambda: hub.output("s1") == expected(), message="all output stored")
    sent = frames(hub, "session_output", "s1")
    counted = metrics.registry.get_sample_value(
        "orchestratia_agent_frames_sent_total", {"type": "session_output"}
    )
    assert counted == len(sent), "every output frame counted, in either format"
    assert len(sent) > 1 and all(f.get("binary", False) is (protocol == 3) for f in sent)
    offsets = [f["offset"] for f in sent]
    assert offsets[0] == 0 and offsets == sorted(set(offsets))
    assert sum((f["redactions"] or {}).get("github_token", 0) for f in sent) == 1
    assert_contiguous(hub, "s1")
    assert hub.unexpected_binary == 0


@pytest.mark.parametrize("first, then", [(3, 2), (2, 3)])
async def test_reconnect_to_another_kind_of_hub_switches_format(
    tmp_path: Path, first: int, then: int
) -> None:
    paths = SessionPaths.for_session(tmp_path, "s1")
    half = len(OUTPUT) // 2
    paths.log.write_bytes(OUTPUT[:half])
    async with FakeHub(protocol=first) as hub, streaming(hub, paths) as stream:
        await wait_until(lambda: len(hub.output("s1")) == half, message="first half stored")
        before = len(frames(hub, "session_output", "s1"))
        hub.protocol = then
        await hub.drop_all()
        with paths.log.open("ab") as log:
            log.write(OUTPUT[half:] + SECRET)
        stream.wake()
        await wait_until(lambda: hub.output("s1") == expected(), message="all output stored")
    sent = frames(hub, "session_output", "s1")
    assert all(f.get("binary", False) is (first == 3) for f in sent[:before])
    assert all(f.get("binary", False) is (then == 3) for f in sent[before:])
    assert len(sent) > before
    assert_contiguous(hub, "s1")
    assert hub.unexpected_binary == 0
