"""Sealing what replicas say to one another over Redis.

Whoever can reach the Redis server (on loopback, any local user of an unauthenticated one) could
otherwise read every terminal's output off the bus and, worse, publish a keystroke message that a
replica would type into an agent's terminal. So every message is sealed with AES-GCM under a key
derived from the hub's secret key (which every replica shares): unreadable without it, and a
forged or altered message does not open. The channel is bound in as associated data (a message
cannot be moved to another channel), and each carries its sender's token, a sequence number and
the time it was sealed: a replica drops a message older than ``MAX_AGE`` or not newer than the
last it opened from that sender, so a captured message cannot be replayed. A replica that just
started knows no sender's last sequence, so it also drops what was sealed more than
``STARTUP_GRACE`` before it started: nothing older can be replayed into it either.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_AGE = 60.0  # seconds; replicas' clocks are expected to agree far better than this
STARTUP_GRACE = 5.0  # seconds; clock skew between replicas, and messages in flight at start
_HEADER = struct.Struct(">8sQQ")  # sender token, sequence, sealed at (ms since the epoch)
_NONCE = 12


def bus_key(secret_key: bytes) -> bytes:
    """The bus's own key, derived from the hub's secret key (never the secret itself)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"orchestratia bus v1")
    return hkdf.derive(secret_key)


@dataclass
class Envelope:
    key: bytes
    token: bytes  # this replica, as senders are told apart (8 bytes)
    _aead: AESGCM = field(init=False)
    _sequence: int = 0
    _last: dict[bytes, int] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)  # when this replica began listening

    def __post_init__(self) -> None:
        self._aead = AESGCM(self.key)

    def seal(self, channel: str, payload: bytes) -> bytes:
        self._sequence += 1
        header = _HEADER.pack(self.token, self._sequence, int(time.time() * 1000))
        nonce = os.urandom(_NONCE)
        return header + nonce + self._aead.encrypt(nonce, payload, channel.encode() + header)

    def sender(self, sealed: bytes) -> bytes | None:
        """Who sealed ``sealed`` (unverified: only to skip one's own messages cheaply)."""
        return sealed[:8] if len(sealed) >= _HEADER.size else None

    def open(self, channel: str, sealed: bytes) -> bytes | None:
        """The payload, or None for a message that is forged, altered, stale or replayed."""
        if len(sealed) < _HEADER.size + _NONCE + 16:
            return None
        header = sealed[: _HEADER.size]
        token, sequence, sealed_at = _HEADER.unpack(header)
        if abs(time.time() - sealed_at / 1000) > MAX_AGE:
            return None
        if sealed_at / 1000 < self.started_at - STARTUP_GRACE:
            return None  # from before this replica listened: its replay table cannot tell
        if sequence <= self._last.get(token, 0):
            return None
        nonce = sealed[_HEADER.size : _HEADER.size + _NONCE]
        try:
            payload = self._aead.decrypt(
                nonce, sealed[_HEADER.size + _NONCE :], channel.encode() + header
            )
        except InvalidTag:
            return None
        self._last[token] = sequence
        return payload
