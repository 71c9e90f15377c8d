"""Hub errors map to WebSocket close codes in one place (``HubError.close_code``), and the hub
closes sockets over errors (``close_for``, ``ConnectionRegistry.disconnect``) through it."""

from __future__ import annotations

from typing import Any

from orchestratia.hub import errors
from orchestratia.hub.errors import Conflict, Forbidden, HubError, Unauthorized
from orchestratia.hub.ws.io import MAX_CLOSE_REASON, close_for
from orchestratia.hub.ws.registry import ConnectionRegistry, DaemonConnection
from orchestratia.protocol.codes import CloseCode

# Every hub error type, with the close code a socket closed over it carries (docs/protocol.md).
EXPECTED: dict[type[HubError], int] = {
    errors.HubError: 4002,
    errors.NotFound: 4002,
    errors.Gone: 4002,
    errors.Unauthorized: 4401,
    errors.Forbidden: 4403,
    errors.Conflict: 4409,
    errors.StaleEpoch: 4409,
    errors.LimitExceeded: 4002,
    errors.TooManyRequests: 4002,
    errors.Invalid: 4002,
    errors.Unavailable: 1013,
}


def _error_types() -> set[type[HubError]]:
    """The types ``errors`` defines (services subclass them and inherit their codes)."""
    return {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, HubError)
    }


class ClosingSocket:
    """Stands in for the Starlette socket: records how it was closed."""

    def __init__(self, fail: bool = False) -> None:
        self.closed: list[tuple[int, str]] = []
        self.fail = fail

    async def close(self, code: int, reason: str) -> None:
        if self.fail:
            raise RuntimeError("already closed")
        self.closed.append((code, reason))


def test_every_hub_error_type_maps_to_a_close_code() -> None:
    assert _error_types() == set(EXPECTED)  # a new error type gets its row here
    for cls, code in EXPECTED.items():
        assert isinstance(cls.close_code, CloseCode) and cls.close_code == code, cls.__name__


async def test_close_for_closes_with_the_errors_code_and_detail() -> None:
    ws = ClosingSocket()
    socket: Any = ws
    await close_for(socket, Forbidden("origin not allowed"))
    await close_for(socket, Unauthorized("x" * 200))
    assert ws.closed == [(4403, "origin not allowed"), (4401, "x" * MAX_CLOSE_REASON)]


async def test_disconnect_closes_the_servers_live_socket_over_the_error() -> None:
    registry = ConnectionRegistry()
    ws, other = ClosingSocket(), ClosingSocket()
    socket: Any = ws
    other_socket: Any = other
    registry.add(DaemonConnection("s-1", "p-1", socket, 2))
    registry.add(DaemonConnection("s-2", "p-1", other_socket, 2))
    await registry.disconnect("s-1", Unauthorized("server key revoked"))
    await registry.disconnect("s-unknown", Unauthorized("server key revoked"))
    assert ws.closed == [(4401, "server key revoked")] and other.closed == []
    # The channel forgets the connection when its socket ends, not the disconnect itself.
    assert registry.get("s-1") is not None


async def test_closing_a_socket_already_gone_counts_as_closed() -> None:
    gone: Any = ClosingSocket(fail=True)
    await DaemonConnection("s-1", "p-1", gone, 2).close(Conflict("replaced by a newer connection"))
