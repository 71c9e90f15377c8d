"""Whether a host stays on this machine: the daemon and the agent CLI refuse plain ``http://`` to
any other host, and the hub warns about (doctor) or marks (the add-server page) a URL that only
its own machine can reach; one answer for all of them. Standard library only, so the CLI stays
quick to start."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: traffic that never leaves this machine needs no TLS.
    Names under ``.localhost`` do not count: RFC 6761 wants them on loopback, but a resolver
    without that rule sends them to DNS, and a server key must not follow in plain text."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
