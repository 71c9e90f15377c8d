"""Hub settings, read from the environment (prefix ``ORCHESTRATIA_``) once and passed around."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestratia.hub.sealing import Keyring


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "orchestratia"


def normalize_database_url(url: str) -> str:
    """Accept plain driver-less URLs and pick the async driver we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCHESTRATIA_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    secret_key: SecretStr | None = None
    # ``id:base64url,…`` (first one current); otherwise keys live in <data_dir>/keys (sealing).
    encryption_keys: SecretStr | None = None
    # Where users and daemons reach the hub; ``https://…`` also marks cookies Secure when a
    # proxy terminates TLS.
    public_url: str | None = None
    # The hub terminates TLS itself when both are set (``hub serve --certfile --keyfile``).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    # May carry a password (redis://:secret@host, rediss:// for TLS): kept out of reprs and logs.
    redis_url: SecretStr | None = None
    # Starts every Redis key and channel the hub uses: hubs of one cluster share it, and two
    # clusters (or parallel test runs) on one Redis keep apart by having different ones.
    redis_prefix: str = Field(default="orc", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    # How often a replica re-checks its open sockets (logins, share links, project roles, daemon
    # keys) against the database, in case a revocation on the bus was lost (seconds).
    socket_recheck_seconds: float = Field(default=30.0, gt=0)

    heartbeat_interval: float = 15.0
    heartbeat_timeout: float = 45.0
    legacy_heartbeat_timeout: float = 90.0
    restart_grace: float = 90.0
    # The sessions grid: a session that printed nothing for this long counts as idle; states
    # go out on a tick, a session's screen miniature at most once per interval.
    grid_idle_seconds: float = Field(default=5.0, gt=0)
    grid_tick_seconds: float = Field(default=0.1, gt=0)
    grid_screen_interval: float = Field(default=0.5, ge=0)
    # Stop all agents: how long a session has to end after Ctrl-C before its process tree is
    # killed.
    stop_all_grace: float = Field(default=5.0, ge=0, le=120)
    # A disconnected server's sessions count as lost (their tasks are released) only after this
    # long: a daemon restart or a network blip reconnects well within it, and tmux keeps the
    # sessions alive meanwhile.
    session_lost_timeout: float = 300.0
    auth_timeout: float = 5.0
    # How long ``/readyz`` waits for the database before calling the hub not ready.
    readiness_timeout: float = Field(default=2.0, gt=0, le=30)
    liveness_sweep_interval: float = 1.0
    # Daemon authentications doing database work at once; the rest wait their turn, and one that
    # waited longer than a daemon waits for its answer (10 s) is told to retry instead: after a
    # hub restart or a network blip thousands arrive together.
    max_concurrent_auth: int = Field(default=16, ge=1, le=1000)
    auth_queue_timeout: float = Field(default=8.0, gt=0)
    # Heartbeats are written to the database together, at most this long after they arrive.
    heartbeat_write_interval: float = Field(default=1.0, gt=0, le=10)

    max_body_bytes: int = 1_048_576
    max_ws_frame_bytes: int = 4_194_304
    # Group commit of terminal output: a batch is stored this long after its first byte, or once
    # this many bytes wait, whichever comes first. Acks follow the commit.
    output_batch_seconds: float = Field(default=0.004, gt=0, le=1)
    output_batch_bytes: int = Field(default=524_288, ge=1)
    # permessage-deflate on WebSockets: saves bandwidth on slow links, costs CPU per viewer.
    ws_compression: bool = False
    # How long a login lasts; its open sockets are closed when it ends (fractions allowed).
    session_ttl_hours: float = Field(default=24 * 7, gt=0)
    registration_token_hours: int = 24
    # How long an invite link works (fractions allowed); resending starts a new period.
    invite_ttl_hours: float = Field(default=24 * 7, gt=0)
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 20
    login_window_seconds: int = 900
    cookie_secure: bool | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    # Reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For/-Proto are believed.
    # None by default: a client's own forwarded headers must not pick its throttle address.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    default_plan: str = "unlimited"
    recording_retention_days: float = 30.0
    # How long a tool call a rule sent to ``ask`` waits in the inbox before it expires (seconds).
    approval_timeout: float = Field(default=300.0, gt=0)
    # How often to look for approval-rule changes made by another hub replica (seconds).
    approval_rules_sync_interval: float = Field(default=2.0, gt=0)
    # Outbound targets (webhooks, SMTP, the Telegram Bot API) may be private, loopback or
    # link-local addresses only when these say so: otherwise a tenant could make the hub
    # probe its own network (SSRF).
    webhook_allow_private: bool = False
    smtp_allow_private: bool = False
    # How often integration workers look for due work when nothing woke them.
    integrations_poll_interval: float = Field(default=1.0, gt=0, le=60)
    # ``/metrics`` is open to anyone who can reach it unless this is set; then a scraper must
    # send ``Authorization: Bearer <token>``.
    metrics_token: SecretStr | None = None
    # ``json``: one JSON object per log line (access log included), for log shippers.
    log_format: Literal["text", "json"] = "text"
    # Webhook delivery (seconds): a request's connect and total time limits; retries back off
    # from ``webhook_retry_base`` doubling up to ``webhook_retry_cap`` (full jitter) until
    # ``webhook_retry_window`` after the event; an endpoint failing for ``webhook_disable_after``
    # is disabled. ``webhook_concurrency`` requests run at once per replica.
    webhook_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    webhook_timeout: float = Field(default=15.0, gt=0, le=300)
    webhook_retry_base: float = Field(default=5.0, gt=0)
    webhook_retry_cap: float = Field(default=6 * 3600.0, gt=0)
    # Three days by default, so a receiver down over a weekend still gets every event.
    webhook_retry_window: float = Field(default=3 * 86400.0, gt=0)
    webhook_disable_after: float = Field(default=3 * 86400.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1, le=256)

    @field_validator("tls_certfile", "tls_keyfile", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # ``ORCHESTRATIA_TLS_KEYFILE=`` means no key, not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    # SSH tunnels: a replica holds each tunnel for this long and renews at a third of it, so
    # another replica takes over within this long after the holder dies.
    tunnel_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # SSH tunnels usually reach an organisation's own private servers, so private addresses are
    # allowed; a hub shared by several organisations turns this off so that no tenant can make
    # it dial (and so scan) the hub's own network.
    tunnel_allow_private: bool = True
    # Keepalives on the SSH connection: it counts as lost after interval * count_max of silence.
    tunnel_keepalive_interval: float = Field(default=15.0, gt=0, le=600)
    tunnel_keepalive_count_max: int = Field(default=3, ge=1, le=100)
    tunnel_connect_timeout: float = Field(default=15.0, gt=0, le=300)
    # Reconnects after a loss: full jitter over base · 2^attempt, capped.
    tunnel_backoff_base: float = Field(default=1.0, gt=0, le=60)
    tunnel_backoff_cap: float = Field(default=60.0, gt=0, le=3600)
    # The Telegram Bot API (a stand-in in tests, a local Bot API server for some operators),
    # and how long one getUpdates long poll waits for updates (seconds).
    telegram_api_base: str = "https://api.telegram.org"
    telegram_poll_timeout: int = Field(default=25, ge=0, le=50)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            for item in value:
                # Refuse a typo at start-up rather than silently trusting nobody (or everybody).
                ipaddress.ip_network(str(item), strict=False)
        return value

    def listen_address(self) -> tuple[str, int]:
        """Where this hub can be reached from its own machine: what a tunnel's forwarded
        connections are carried to. A wildcard bind is reached on loopback."""
        host = self.host.strip("[]")
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return host, self.port

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'hub.db'}"

    def ws_transport_max_bytes(self) -> int:
        """The frame cap handed to the WebSocket server, above ``max_ws_frame_bytes``: a frame a
        little over the limit gets an ``error`` frame and the socket lives on (SPEC §10); only
        frames past twice the limit make the transport close the socket (1009)."""
        return 2 * self.max_ws_frame_bytes

    def resolved_secret_key(self) -> bytes:
        """The key that signs CSRF tokens; generated once into the data dir when not configured."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def unshared_keys(self) -> list[str]:
        """On PostgreSQL, where several replicas may share the database: the key settings left
        unset, whose keys this process then keeps in its own data dir. Every replica must hold
        the same keys (CSRF tokens and audit cursors are signed with the secret key, secrets
        are sealed with the encryption keys), so each one named here must be set alike on all
        of them, or the data dir shared."""
        if not self.resolved_database_url().startswith("postgresql"):
            return []
        unset = {"ORCHESTRATIA_SECRET_KEY": self.secret_key}
        unset["ORCHESTRATIA_ENCRYPTION_KEYS"] = self.encryption_keys
        return [name for name, value in unset.items() if value is None]

    def keyring(self) -> Keyring:
        """The keys that seal secrets at rest (``hub.sealing``)."""
        env = self.encryption_keys.get_secret_value() if self.encryption_keys else None
        return Keyring.load(self.data_dir, env)
