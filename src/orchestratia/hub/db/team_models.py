"""What a team needs beyond logins: invites, second factors, user API keys, mail settings.

Secrets that must be read back (TOTP secrets, the SMTP password) are stored sealed
(``hub.sealing``); secrets that only need checking (invite links, API keys, recovery codes,
login challenges) are stored as SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _id, _tenant
from orchestratia.hub.db.types import UTCDateTime, utcnow


class Invite(Base):
    """A one-time link that makes its holder a member of ``project_id`` with ``role``."""

    __tablename__ = "invites"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    accepted_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class RecoveryCode(Base):
    """One of a user's ten one-time TOTP recovery codes."""

    __tablename__ = "recovery_codes"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class LoginChallenge(Base):
    """A password that was right, waiting for the second factor; short-lived."""

    __tablename__ = "login_challenges"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class UserApiKey(Base):
    """A user's key for the External Service API; never grants more than its owner's role."""

    __tablename__ = "user_api_keys"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(24))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class MailSettings(Base):
    """A tenant's SMTP server for invites and notifications; none means links are copied."""

    __tablename__ = "mail_settings"
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=587)
    username: Mapped[str | None] = mapped_column(String(320), default=None)
    password_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    # "starttls" | "tls" (implicit, usually port 465) | "none"
    security: Mapped[str] = mapped_column(String(16), default="starttls")
    from_address: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
