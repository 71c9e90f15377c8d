"""Checks that need no database: settings, the data dir, the keys, the public URL."""

from __future__ import annotations

import stat
from urllib.parse import urlsplit

from pydantic import ValidationError

from orchestratia.hub.doctor.findings import Finding, Status
from orchestratia.hub.sealing import Keyring, SealingError, keys_dir
from orchestratia.hub.settings import HubSettings
from orchestratia.loopback import is_loopback


def load_settings() -> tuple[HubSettings | None, Finding]:
    try:
        settings = HubSettings()
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()
        return None, Finding(
            "config", "fail", " ".join(first[:3]), "fix the ORCHESTRATIA_* variable it names"
        )
    return settings, Finding("config", "ok", "settings load from the environment")


def data_dir(settings: HubSettings) -> Finding:
    path = settings.data_dir
    if not path.exists():
        status: Status = "fail" if not settings.database_url else "warn"
        return Finding("data dir", status, f"{path} does not exist", "orchestratia hub migrate")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Finding(
            "data dir", "warn", f"{path} is mode {mode:o}: others can look in", f"chmod 700 {path}"
        )
    return Finding("data dir", "ok", f"{path} (mode 700)")


def keyring(settings: HubSettings) -> tuple[Keyring | None, Finding]:
    name = "encryption keys"
    try:
        if settings.encryption_keys is not None:
            ring = Keyring.load(settings.data_dir, settings.encryption_keys.get_secret_value())
            where = "ORCHESTRATIA_ENCRYPTION_KEYS"
        elif not (keys_dir(settings.data_dir) / "current").exists():
            return None, Finding(
                name,
                "warn",
                f"none yet in {keys_dir(settings.data_dir)}",
                "the hub makes one when it starts; back the keys dir up with the database",
            )
        else:
            ring = Keyring.load(settings.data_dir)
            where = str(keys_dir(settings.data_dir))
    except (SealingError, OSError, ValueError) as exc:
        return None, Finding(name, "fail", str(exc), "restore the keys from your backup")
    return ring, Finding(
        name, "ok", f"{len(ring.keys)} key(s) from {where}, current {ring.current}"
    )


def public_url(settings: HubSettings) -> Finding:
    name = "public URL"
    url = settings.public_url
    if not url:
        return Finding(
            name,
            "warn",
            "not set: registration tokens and links use the address each request came to",
            "set ORCHESTRATIA_PUBLIC_URL to the https:// address daemons and browsers reach",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return Finding(
            name, "fail", f"{url!r} is not an http(s)://host[:port][/path] URL", "fix it"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return Finding(
            name,
            "warn",
            f"{url}: plain HTTP to a non-local host, logins and keys travel in the clear",
            "serve over TLS (hub serve --certfile/--keyfile, or a TLS proxy) and use https://",
        )
    return Finding(name, "ok", url)


def replica_keys(settings: HubSettings) -> Finding:
    """Whether replicas of this hub (on PostgreSQL) would all hold the same keys."""
    name = "replica keys"
    unset = settings.unshared_keys()
    if not unset:
        return Finding(name, "ok", "from the environment, or SQLite (one hub process)")
    return Finding(
        name,
        "warn",
        f"on PostgreSQL without {' or '.join(unset)}: this process keeps its keys in "
        f"{settings.data_dir}; a replica with another data dir refuses its logins' CSRF tokens "
        "and cannot open the secrets it sealed",
        f"set {' and '.join(unset)} to the same values on every replica (or share the data dir)",
    )
