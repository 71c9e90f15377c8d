"""The daemon's local ``/metrics`` and ``/healthz``: loopback or a 0600 Unix socket only, the
exposition parses, and a routable ``metrics_listen`` is refused with a clear error."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
import yaml

from orchestratia.agent.config import AgentConfig, ConfigError
from orchestratia.agent.metrics import AgentMetrics
from orchestratia.agent.metrics_server import ListenError, MetricsServer, parse_listen
from tests.metrics_support import value


@pytest.mark.parametrize("listen", ["127.0.0.1:9465", "[::1]:9465", "localhost:1", "unix:/x.sock"])
def test_loopback_and_unix_sockets_are_accepted(listen: str) -> None:
    parse_listen(listen)


@pytest.mark.parametrize(
    ("listen", "why"),
    [
        ("0.0.0.0:9465", "only a loopback address"),
        ("10.1.2.3:9465", "only a loopback address"),
        ("example.com:9465", "only a loopback address"),
        ("127.0.0.1", "expected HOST:PORT"),
        ("127.0.0.1:70000", "expected HOST:PORT"),
        ("unix:relative.sock", "must be absolute"),
    ],
)
def test_other_addresses_are_refused_clearly(listen: str, why: str) -> None:
    with pytest.raises(ListenError, match=why):
        parse_listen(listen)


def test_agent_config_refuses_a_routable_metrics_address(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    base = {"hub_url": "http://127.0.0.1:1", "api_key": "k", "server_id": "s", "name": "n"}
    path.write_text(yaml.safe_dump({**base, "metrics_listen": "0.0.0.0:9465"}))
    with pytest.raises(ConfigError, match=r"metrics_listen.*only a loopback address"):
        AgentConfig.load(path)
    path.write_text(yaml.safe_dump({**base, "metrics_listen": "127.0.0.1:9465"}))
    assert AgentConfig.load(path).metrics_listen == "127.0.0.1:9465"


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_unix_socket_serves_metrics_and_health_and_is_private(tmp_path: Path) -> None:
    metrics = AgentMetrics()
    metrics.watch(lambda: 3, lambda: "backoff")
    metrics.pane_read(1234)
    metrics.frame_sent("delivery_ack", "delivered")
    sock = tmp_path / "agent-metrics.sock"
    server = MetricsServer(parse_listen(f"unix:{sock}"), metrics.registry, lambda: {"ok": "y"})
    await server.start()
    try:
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        answer = await _get(*await asyncio.open_unix_connection(str(sock)), "/metrics")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        text = body.decode()
        assert value(text, "orchestratia_agent_sessions_running") == 3
        assert value(text, "orchestratia_agent_hub_link_state", state="backoff") == 1
        assert value(text, "orchestratia_agent_hub_link_state", state="connected") == 0
        assert value(text, "orchestratia_agent_pane_read_bytes_total") == 1234
        assert value(text, "orchestratia_agent_delivery_acks_total", status="delivered") == 1
        health = await _get(*await asyncio.open_unix_connection(str(sock)), "/healthz")
        assert health.startswith(b"HTTP/1.1 200") and health.endswith(b'{"ok": "y"}\n')
        missing = await _get(*await asyncio.open_unix_connection(str(sock)), "/nope")
        assert missing.startswith(b"HTTP/1.1 404")
    finally:
        await server.stop()
    assert not sock.exists()


async def test_tcp_loopback_serves_metrics(tmp_path: Path) -> None:
    metrics = AgentMetrics()
    server = MetricsServer(parse_listen("127.0.0.1:0"), metrics.registry, dict)
    await server.start()
    try:
        assert server.port
        answer = await _get(*await asyncio.open_connection("127.0.0.1", server.port), "/metrics")
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"orchestratia_agent_frames_sent" in answer
    finally:
        await server.stop()


async def test_a_busy_port_is_a_clear_error() -> None:
    first = MetricsServer(parse_listen("127.0.0.1:0"), AgentMetrics().registry, dict)
    await first.start()
    try:
        taken = f"127.0.0.1:{first.port}"
        second = MetricsServer(parse_listen(taken), AgentMetrics().registry, dict)
        with pytest.raises(ListenError, match=f"cannot serve metrics on {taken}"):
            await second.start()
    finally:
        await first.stop()
