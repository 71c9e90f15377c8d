"""How a pre-tool-use hook asks the daemon for a decision over a Unix socket.

Why a socket: the hook is a fresh process per tool call and must answer within 50 ms p99
(SPEC §13). Loading the rule set itself means importing RE2, the matcher and ``site`` and
compiling every pattern (``cached_rules``), tens of milliseconds, while the daemon already holds
a compiled ``RuleMatcher``. So the hook sends the tool call to the daemon
(``decision_server``) and gets the verdict of that same matcher back; if the daemon does not
answer quickly (stopped, restarting, busy) the hook decides from the cache file itself, slower
but with the same rules.

Wire: one JSON object per line each way. Request ``{agent, tool, tool_input, session_id,
project_id}``; reply ``{action, rule_id, reason, version}`` or ``{error}``. The socket is 0600 in
the 0700 policy directory, so only this user's processes reach it; it answers questions about
rules and changes nothing.

The hook's fast path imports this, so it uses only cheap standard-library modules (not even
``pathlib``, ``json`` or ``typing``: ``light_json``), and the C ``_socket`` module rather than
``socket``, whose enum set-up alone costs several milliseconds per hook run.
"""

from __future__ import annotations

import _socket
import os
import time

from orchestratia.agent.approvals import light_json

TYPE_CHECKING = False  # not typing's: see light_json
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SOCKET_NAME = "decide.sock"
MAX_SUN_PATH = 100  # sockaddr_un holds 104 (macOS) to 108 (Linux) bytes including the NUL


def socket_path(policy_dir: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(policy_dir), SOCKET_NAME)


def usable_path(path: str) -> bool:
    """Whether ``path`` fits in a ``sockaddr_un``; a deep state directory may not."""
    return len(os.fsencode(path)) <= MAX_SUN_PATH


def ask_daemon(
    policy_dir: str | os.PathLike[str], request: Mapping[str, Any], timeout: float
) -> dict[str, Any]:
    """The daemon's verdict for ``request``; raises ``OSError`` or ``ValueError`` if there is
    none within ``timeout`` seconds (the caller then decides from the cache file)."""
    path = socket_path(policy_dir)
    if not usable_path(path):
        raise OSError(f"socket path too long: {path}")
    deadline = time.monotonic() + timeout
    payload = light_json.dumps(request).encode("utf-8") + b"\n"
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(payload)
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the daemon did not answer in time")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    reply = light_json.loads(b"".join(chunks))
    if not isinstance(reply, dict):
        raise ValueError("the daemon's reply is not an object")
    if "error" in reply:
        raise ValueError(f"the daemon could not decide: {reply['error']}")
    return reply
