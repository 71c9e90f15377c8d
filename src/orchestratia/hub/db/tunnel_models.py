"""SSH tunnels: servers that may not open outbound connections, reached by the hub over SSH.

The hub dials the server's sshd with a key it keeps sealed, checks the server's host key
against the one an owner confirmed, and forwards a port on the server's loopback back to
itself; the daemon there dials that port as if it were the hub. One hub replica at a time
holds a tunnel (``lease_owner`` until ``lease_until``) and only that one keeps it up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _id, _tenant
from orchestratia.hub.db.types import UTCDateTime


class SshTunnel(Base):
    __tablename__ = "ssh_tunnels"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    username: Mapped[str] = mapped_column(String(64))
    # The OpenSSH private key, sealed (``SSH_PRIVATE_KEY``); never shown after creation.
    private_key_sealed: Mapped[str] = mapped_column(Text)
    # Its public half, so an owner can check which key goes into authorized_keys.
    public_key: Mapped[str] = mapped_column(Text)
    # The host key the hub trusts (an OpenSSH public key line) once an owner confirmed it.
    host_key: Mapped[str | None] = mapped_column(Text, default=None)
    host_key_fingerprint: Mapped[str | None] = mapped_column(String(80), default=None)
    host_key_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The host key the server last presented when it was not (yet) the trusted one: first
    # contact, or a changed key. Confirming its fingerprint pins it.
    offered_host_key: Mapped[str | None] = mapped_column(Text, default=None)
    offered_fingerprint: Mapped[str | None] = mapped_column(String(80), default=None)
    # The port the daemon dials on the server's loopback (http://127.0.0.1:<remote_port>).
    remote_port: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # pending_confirmation | connecting | up | down | host_key_mismatch | disabled
    status: Mapped[str] = mapped_column(String(24), default="pending_confirmation")
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The newest registration token handed out for the daemon behind it: the server that
    # redeems it (``RegistrationToken.server_id``) is this tunnel's server.
    registration_token_id: Mapped[str | None] = mapped_column(
        ForeignKey("registration_tokens.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
