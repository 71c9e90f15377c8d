"""Which addresses the hub refuses to send to on a tenant's behalf (SSRF guard)."""

from __future__ import annotations

import ipaddress

import pytest

from orchestratia.hub.services.integrations.address_policy import refused_reason


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("100.64.0.1", "a shared address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("2002:7f00:1::1", "a loopback address"),  # 6to4 carrying 127.0.0.1
        ("2002:a00:1::1", "a private address"),  # 6to4 carrying 10.0.0.1
        ("fec0::1", "a site-local address"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("8.8.8.8", None),
        ("2002:808:808::1", None),  # 6to4 carrying a public address
        ("2001:4860:4860::8888", None),
    ],
)
def test_refused_reason(address: str, why: str | None) -> None:
    assert refused_reason(ipaddress.ip_address(address)) == why
