"""SSH tunnel pieces without I/O: host and user checks at the edge, the reconnect delays, the
sentence an owner reads for a failure, and where forwards lead on a wildcard bind."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestratia.hub.services.fleet.ssh_keys import asyncssh
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.tunnels.link import Backoff, describe
from orchestratia.protocol.tunnels import TunnelCreate, valid_host


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("10.0.0.7", "10.0.0.7"),
        ("Build-1.Example.com.", "build-1.example.com"),
        ("[::1]", "::1"),
        ("fe80::1", "fe80::1"),
        ("localhost", "localhost"),
    ],
)
def test_hosts_that_are_names_or_addresses_are_kept(given: str, kept: str) -> None:
    assert valid_host(given) == kept


@pytest.mark.parametrize(
    "bad", ["exa mple.com", "-lead.example", "300.1.2.3", "a" * 64 + ".com", "", "x..y", "h;rm"]
)
def test_other_hosts_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="host"):
        valid_host(bad)


def test_a_body_names_one_key_and_a_plain_user() -> None:
    base = {"project_id": "p", "name": "n", "host": "h.example", "username": "deploy"}
    assert TunnelCreate.model_validate(base | {"generate": True}).remote_port == 8765
    for bad in (
        base,
        base | {"generate": True, "private_key": "k"},
        base | {"generate": True, "username": "-oProxyCommand=x"},
        base | {"generate": True, "port": 0},
    ):
        with pytest.raises(ValidationError):
            TunnelCreate.model_validate(bad)


def test_reconnect_delays_grow_with_full_jitter_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert all(d <= 0.5 * 2**i for i, d in enumerate(delays[:3]))
    assert len({round(d, 6) for d in delays}) > 40  # jittered, not a fixed ladder


def test_failures_read_as_sentences() -> None:
    refused = asyncssh.PermissionDenied("Permission denied")
    assert "authorized_keys" in describe(refused)
    assert "in time" in describe(TimeoutError())
    assert describe(ConnectionRefusedError(111, "Connection refused")).endswith("refused")
    assert len(describe(OSError("x" * 1000))) == 300


@pytest.mark.parametrize(
    ("host", "reached"), [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("10.1.2.3", "10.1.2.3")]
)
def test_forwards_lead_to_where_the_hub_listens(tmp_path: Path, host: str, reached: str) -> None:
    settings = HubSettings(data_dir=tmp_path, host=host, port=9123)
    assert settings.listen_address() == (reached, 9123)
