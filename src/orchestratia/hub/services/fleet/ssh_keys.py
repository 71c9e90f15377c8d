"""SSH keys of tunnels: reading an owner's private key, making one, host key fingerprints, and
asking a server which host key it presents (before any trust, for an owner to confirm)."""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass

from cryptography.utils import CryptographyDeprecationWarning

from orchestratia.hub.errors import Invalid

# asyncssh still imports the DSA classes cryptography deprecates; the hub never uses DSA, and
# the warning would otherwise greet every hub start (and fail tests that treat warnings as
# errors).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import asyncssh as asyncssh  # re-exported: the tunnel link imports it from here

BAD_KEY = (
    "private_key is not an OpenSSH or PEM private key without a passphrase "
    "(paste the whole file, BEGIN and END lines included)"
)


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_line: str


@dataclass(frozen=True)
class HostKey:
    line: str  # the OpenSSH public key line, as known_hosts holds it
    fingerprint: str  # SHA256:…


def read_private_key(text: str) -> KeyPair:
    """The owner's key, checked: a private key that opens without a passphrase (Invalid else)."""
    try:
        key = asyncssh.import_private_key(text.strip() + "\n")
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as exc:
        raise Invalid(BAD_KEY) from exc
    return KeyPair(text.strip() + "\n", _public_line(key))


def generate_key(comment: str) -> KeyPair:
    """A new ed25519 key; its public half goes into the server's authorized_keys."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return KeyPair(key.export_private_key("openssh").decode(), _public_line(key))


def _public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


def host_key_of(key: asyncssh.SSHKey) -> HostKey:
    line = key.export_public_key("openssh").decode().strip()
    # No comment: the line identifies the key, nothing the server chose to call it.
    return HostKey(" ".join(line.split()[:2]), key.get_fingerprint("sha256"))


def load_private(pem: str) -> asyncssh.SSHKey:
    return asyncssh.import_private_key(pem)


def load_public(line: str) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(line)


async def fetch_host_key(host: str, port: int, timeout: float) -> HostKey:
    """The host key ``host:port`` presents; nothing is authenticated or trusted on the way.
    OSError, TimeoutError or asyncssh.Error when it cannot be reached or is no SSH server."""
    async with asyncio.timeout(timeout):
        # config=None: the hub's own ~/.ssh/config must not redirect or reshape the dial.
        key = await asyncssh.get_server_host_key(host, port, config=None)
    if key is None:
        raise asyncssh.ProtocolError("no host key offered")
    return host_key_of(key)
