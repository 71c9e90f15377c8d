"""Which network addresses the hub may send to on a tenant's behalf (SSRF guard).

A tenant names a URL or host; the hub resolves it and refuses private, loopback, link-local,
shared (CGNAT), multicast, reserved and cloud-metadata addresses unless the operator allowed
private targets. Callers check again at connect time (``check_resolved``) against the address
actually dialled, so a DNS answer that changes after the first check gains nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from orchestratia.hub.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services reached over addresses the generic flags do not all cover.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class AddressRefused(Invalid):
    """The target resolves to an address the hub does not send to."""


def refused_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6 (mapped, or 6to4 such as 2002:7f00:1::) is judged as IPv4.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return refused_reason(embedded)
        if address.is_site_local:
            return "a site-local address"
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "a shared address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
    )
    return next((why for hit, why in checks if hit), None)


def check_resolved(host: str, addresses: list[IPAddress], allow_private: bool) -> None:
    """Refuse ``host`` if any of its ``addresses`` is not public (unless allowed)."""
    if allow_private:
        return
    for address in addresses:
        why = refused_reason(address)
        if why is not None:
            raise AddressRefused(
                f"{host} resolves to {address}, {why}; the hub does not send there "
                "(an operator can allow private targets in the hub's settings)"
            )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Invalid(f"{host} does not resolve: {exc}") from None
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Invalid(f"{host} does not resolve")
    return found


async def check_host(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """Resolve ``host`` and refuse it when it is not public; the addresses to dial."""
    addresses = await resolve(host, port)
    check_resolved(host, addresses, allow_private)
    return addresses


async def check_url(url: str, allow_private: bool) -> list[IPAddress]:
    """``check_host`` for an http(s) URL's host and port."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("the URL must be http:// or https:// with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return await check_host(parts.hostname, port, allow_private)
