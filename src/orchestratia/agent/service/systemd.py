"""The systemd unit that keeps the daemon running on Linux.

``KillMode=process``: stopping or restarting the service signals the daemon only, never the
tmux server it started (which lives in the same cgroup), so agents' sessions outlive daemon
restarts and upgrades. Hardening stays compatible with tmux and with what agents do inside
their sessions, which inherit the service's sandbox:

- ``PrivateTmp=no``: tmux keeps its socket under /tmp; a private /tmp would hide the sessions
  from the agents' own ``tmux`` commands and from a daemon started by hand.
- no ``ProtectSystem``/``ProtectHome``: agents build, install and edit files wherever the user
  could; a read-only tree would make their work fail in confusing ways.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from orchestratia.agent.service.spec import Scope, ServiceSpec

UNIT_NAME = "orchestratia-agent.service"
SYSTEM_DIR = Path("/etc/systemd/system")
# RestartSteps= and RestartMaxDelaySec= (a growing back-off) arrived in systemd 254; older
# versions warn about unknown keys, so they are written only where they are understood.
BACKOFF_SINCE = 254
RESTART_SEC = 2
RESTART_STEPS = 6
RESTART_MAX_DELAY_SEC = 60


def version() -> int | None:
    """The local systemd's version (``systemctl --version``), None without systemd."""
    if shutil.which("systemctl") is None:
        return None
    try:
        out = subprocess.run(
            ["systemctl", "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"systemd (\d+)", out)
    return int(found.group(1)) if found else None


def unit_path(scope: Scope, home: Path) -> Path:
    if scope == "system":
        return SYSTEM_DIR / UNIT_NAME
    return home / ".config" / "systemd" / "user" / UNIT_NAME


def quote(value: str, dollars: bool = True) -> str:
    """``value`` as one word of a unit file: ``%`` (specifiers) and, in command lines, ``$``
    (variables) doubled; double-quoted when it holds whitespace or quotes."""
    value = value.replace("%", "%%")
    if dollars:
        value = value.replace("$", "$$")
    if re.search(r"[\s\"'\\]", value) or not value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def render(spec: ServiceSpec, systemd_version: int | None) -> str:
    lines = [
        "# Written by `orchestratia agent install-service`; run it again (or uninstall-service)",
        "# rather than editing this file.",
        "[Unit]",
        "Description=Orchestratia agent daemon",
        "After=network-online.target",
        "Wants=network-online.target",
        # Restart=always means always: no start-rate limit that would give up for good.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(quote(arg) for arg in spec.arguments),
        "Restart=always",
        f"RestartSec={RESTART_SEC}",
    ]
    if systemd_version is not None and systemd_version >= BACKOFF_SINCE:
        lines += [f"RestartSteps={RESTART_STEPS}", f"RestartMaxDelaySec={RESTART_MAX_DELAY_SEC}"]
    lines += [
        "KillMode=process",
        "TimeoutStopSec=15",
    ]
    if spec.scope == "system":
        lines.append(f"User={spec.user}")
        lines.append(f"WorkingDirectory={quote(str(spec.home))}")
    # Environment= expands specifiers but not variables: only ``%`` needs doubling there.
    lines += [
        f"Environment={quote(f'{k}={v}', dollars=False)}" for k, v in spec.environment.items()
    ]
    lines += [
        "NoNewPrivileges=yes",
        "PrivateTmp=no",
        "UMask=0077",
        "",
        "[Install]",
        "WantedBy=" + ("multi-user.target" if spec.scope == "system" else "default.target"),
        "",
    ]
    return "\n".join(lines)


def booted(root: Path | None) -> bool:
    """Whether systemd runs this machine (sd_booted: /run/systemd/system exists). Under a test
    root nothing is ever run, so the answer is no."""
    return root is None and Path("/run/systemd/system").is_dir()


def systemctl(scope: Scope, *args: str) -> list[str]:
    return ["systemctl", *(["--user"] if scope == "user" else []), *args]


def install_commands(scope: Scope, restart: bool) -> list[list[str]]:
    """Load the unit and start it at boot and now; ``restart`` when it was already running
    with an older unit (KillMode=process: the sessions stay)."""
    commands = [systemctl(scope, "daemon-reload"), systemctl(scope, "enable", "--now", UNIT_NAME)]
    if restart:
        commands.append(systemctl(scope, "restart", UNIT_NAME))
    return commands


def uninstall_commands(scope: Scope) -> list[list[str]]:
    return [systemctl(scope, "disable", "--now", UNIT_NAME)]


def after_uninstall(scope: Scope) -> list[list[str]]:
    return [systemctl(scope, "daemon-reload")]


def state(scope: Scope) -> dict[str, str]:
    """``is-active`` and ``is-enabled`` of the unit, as systemctl words (``active``,
    ``enabled``, ``inactive``…)."""
    found: dict[str, str] = {}
    for query in ("is-active", "is-enabled"):
        try:
            out = subprocess.run(
                systemctl(scope, query, UNIT_NAME),
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            found[query.removeprefix("is-")] = out.stdout.strip() or out.stderr.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            found[query.removeprefix("is-")] = f"unknown ({exc})"
    return found


def lingering_hint(user: str) -> str:
    return (
        f"user services stop when {user} logs out; to keep this one running without a login: "
        f"sudo loginctl enable-linger {user}"
    )
