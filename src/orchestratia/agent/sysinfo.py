"""Facts about this machine, reported at registration and in every heartbeat."""

from __future__ import annotations

import contextlib
import logging
import platform
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from orchestratia.agent.config import default_config_path
from orchestratia.agent.files import write_private_file

log = logging.getLogger(__name__)

MACHINE_ID_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
FALLBACK_MACHINE_ID = "machine-id"
# TEST-NET-1 (RFC 5737): never routed, so "connecting" a UDP socket to it only asks the kernel
# which interface holds the default route. No packet is sent.
_ROUTE_PROBE = ("192.0.2.1", 9)

_cpu_primed = False


def prime_cpu_percent() -> None:
    """Start psutil's CPU sampling window.

    ``cpu_percent(interval=None)`` measures since the previous call and returns a meaningless 0.0
    the first time; priming at startup lets every later heartbeat read it without blocking.
    """
    global _cpu_primed
    psutil.cpu_percent(interval=None)
    _cpu_primed = True


def collect_system_info() -> dict[str, Any]:
    """A JSON-safe snapshot of CPU, memory, disk ("/"), load, uptime and platform; non-blocking."""
    if not _cpu_primed:
        prime_cpu_percent()
    info: dict[str, Any] = {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": psutil.cpu_count() or 0,
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        # This machine's clock (Unix seconds): the hub compares it with its own at arrival
        # (``hub doctor`` reports the skew).
        "clock": round(time.time(), 3),
    }
    memory = psutil.virtual_memory()
    info.update(memory_total=memory.total, memory_used=memory.used, memory_percent=memory.percent)
    # Containers and odd platforms can refuse individual probes; a partial report beats none.
    try:
        disk = psutil.disk_usage("/")
        info.update(disk_total=disk.total, disk_used=disk.used, disk_percent=disk.percent)
    except OSError as exc:
        log.debug("disk usage unavailable: %s", exc)
    try:
        info["load_avg"] = [round(value, 2) for value in psutil.getloadavg()]
    except (OSError, AttributeError) as exc:
        log.debug("load average unavailable: %s", exc)
    try:
        info["uptime_seconds"] = max(0, int(time.time() - psutil.boot_time()))
    except (OSError, RuntimeError) as exc:
        log.debug("boot time unavailable: %s", exc)
    return info


def machine_id(fallback_dir: Path | None = None) -> str:
    """The OS machine id, else a random id persisted in ``fallback_dir`` (default: config dir).

    The hub uses it to recognise a re-registering machine, so the fallback must be stable.
    """
    for candidate in MACHINE_ID_PATHS:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            value = candidate.read_text(encoding="ascii").strip()
            if value:
                return value
    directory = fallback_dir or default_config_path().parent
    path = directory / FALLBACK_MACHINE_ID
    with contextlib.suppress(OSError, UnicodeDecodeError):
        value = path.read_text(encoding="ascii").strip()
        if value:
            return value
    value = uuid.uuid4().hex
    try:
        write_private_file(path, value.encode("ascii"))
    except OSError as exc:
        log.warning("cannot persist machine id at %s: %s", path, exc)
    return value


def primary_ip() -> str | None:
    """The local address of the interface holding the default route, or None when offline."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(_ROUTE_PROBE)
        address = str(probe.getsockname()[0])
        if address and not address.startswith("0."):
            return address
    with contextlib.suppress(OSError):
        return socket.gethostbyname(socket.gethostname())
    return None


def mac_address() -> str | None:
    """MAC of the primary interface (lower-case, colon-separated), or None if unknown."""
    ip = primary_ip()
    with contextlib.suppress(OSError):
        interfaces = psutil.net_if_addrs()
        for addresses in interfaces.values():
            if ip is not None and any(a.address == ip for a in addresses):
                for address in addresses:
                    if address.family == psutil.AF_LINK and _is_real_mac(address.address):
                        return _normalise_mac(address.address)
    node = uuid.getnode()
    # Bit 40 set means uuid.getnode() made the number up; reporting it would be a lie.
    if node >> 40 & 1:
        return None
    return ":".join(f"{node:012x}"[i : i + 2] for i in range(0, 12, 2))


def os_description() -> str:
    """Human-readable OS, e.g. "Ubuntu 24.04.1 LTS (Linux 6.8.0-45-generic x86_64)"."""
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}".strip()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
            if pretty:
                return f"{pretty} ({kernel})"
    if sys.platform == "darwin":
        release = platform.mac_ver()[0]
        if release:
            return f"macOS {release} ({kernel})"
    return kernel


def _normalise_mac(value: str) -> str:
    return value.replace("-", ":").lower()


def _is_real_mac(value: str) -> bool:
    normalised = _normalise_mac(value)
    return len(normalised) == 17 and normalised != "00:00:00:00:00:00"
