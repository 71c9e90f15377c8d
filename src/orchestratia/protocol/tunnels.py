"""SSH tunnels on the wire: adding a server the hub reaches over SSH, confirming its host key,
and what the fleet view shows of a tunnel (never its private key)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from orchestratia.protocol.rest import NotBlank, StrictBody

TunnelStatus = Literal[
    "pending_confirmation", "connecting", "up", "down", "host_key_mismatch", "disabled"
]

# RFC 1123 host names: labels of letters, digits and inner hyphens, 253 characters at most.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# What OpenSSH accepts as a user name, without the characters a shell or ssh would read.
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_KEY_CHARS = 16_384  # an RSA-8192 key in OpenSSH PEM is about 6.5 kB


def valid_host(text: str) -> str:
    """``text`` as a host name or IP literal, or a ValueError naming what is wrong."""
    host = text.strip().lower()
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("host must be a host name or an IP address")
    if labels[-1].isdigit():
        raise ValueError("host is neither a valid IP address nor a host name")
    return host.rstrip(".")


class TunnelCreate(StrictBody):
    project_id: str = Field(min_length=1, max_length=64)
    name: Annotated[str, NotBlank] = Field(min_length=1, max_length=120)
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=64)
    # An OpenSSH or PEM private key without a passphrase; or ``generate`` for a new ed25519
    # key whose public half the reply shows once.
    private_key: str | None = Field(default=None, min_length=1, max_length=MAX_KEY_CHARS)
    generate: bool = False
    # The port on the server's loopback the daemon dials; the hub's default port otherwise.
    remote_port: int = Field(default=8765, ge=1, le=65535)

    _host = field_validator("host")(valid_host)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _USER.fullmatch(value):
            raise ValueError("username must be a plain login name (letters, digits, _ . -)")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> TunnelCreate:
        if (self.private_key is None) == (not self.generate):
            raise ValueError("give either private_key or generate=true, not both or neither")
        return self


class TunnelEdit(StrictBody):
    enabled: bool


class HostKeyConfirm(StrictBody):
    # SHA256:<base64, no padding>, as ``ssh-keygen -lf`` prints it.
    fingerprint: str = Field(min_length=8, max_length=80, pattern=r"^SHA256:[A-Za-z0-9+/]+=*$")


class TunnelPublic(BaseModel):
    id: str
    project_id: str
    name: str
    host: str
    port: int
    username: str
    public_key: str
    remote_port: int
    # The URL the daemon on the server is configured with.
    local_hub_url: str
    enabled: bool
    status: TunnelStatus
    last_error: str | None
    host_key_fingerprint: str | None
    host_key_confirmed_at: datetime | None
    # The key the server presented that is not trusted yet (first contact, or a change).
    offered_fingerprint: str | None
    connected_at: datetime | None
    # The server registered through it, once its daemon did.
    server_id: str | None
    created_at: datetime


class TunnelSetup(BaseModel):
    """What to run on the server so its daemon reaches the hub through the tunnel."""

    token: str  # registration token; carries hub_url
    hub_url: str  # the tunnel's end on the server's loopback
    expires_at: datetime
    install_command: str


class TunnelCreated(TunnelPublic):
    setup: TunnelSetup


class TunnelList(BaseModel):
    tunnels: list[TunnelPublic]
