"""The launchd job that keeps the daemon running on macOS.

A LaunchAgent (``~/Library/LaunchAgents``, the user's GUI domain) by default; ``--system`` writes
a LaunchDaemon (``/Library/LaunchDaemons``, the system domain) that runs as ``UserName``.
``AbandonProcessGroup`` is launchd's ``KillMode=process``: when the job stops, launchd leaves
the rest of its process group alone, so tmux and the agents' sessions live on.
"""

from __future__ import annotations

import plistlib
import re
import subprocess
from pathlib import Path
from typing import Any

from orchestratia.agent.service.spec import Scope, ServiceSpec

LABEL = "org.orchestratia.agent"
# launchd's back-off between restarts of a job that keeps exiting (seconds).
THROTTLE_SECONDS = 10


def plist_path(scope: Scope, home: Path) -> Path:
    if scope == "system":
        return Path("/Library/LaunchDaemons") / f"{LABEL}.plist"
    return home / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def log_path(spec: ServiceSpec) -> Path:
    return spec.home / "Library" / "Logs" / "orchestratia" / "agent.log"


def job(spec: ServiceSpec) -> dict[str, Any]:
    """The job definition as a plist dictionary."""
    log = str(log_path(spec))
    definition: dict[str, Any] = {
        "Label": LABEL,
        "ProgramArguments": spec.arguments,
        "RunAtLoad": True,
        "KeepAlive": True,
        "ThrottleInterval": THROTTLE_SECONDS,
        "AbandonProcessGroup": True,
        "ProcessType": "Standard",
        "WorkingDirectory": str(spec.home),
        "EnvironmentVariables": dict(spec.environment),
        "StandardOutPath": log,
        "StandardErrorPath": log,
        "Umask": 0o077,
    }
    if spec.scope == "system":
        definition["UserName"] = spec.user
    return definition


def render(spec: ServiceSpec) -> bytes:
    return plistlib.dumps(job(spec), sort_keys=True)


def domain(scope: Scope, uid: int) -> str:
    return "system" if scope == "system" else f"gui/{uid}"


def install_commands(scope: Scope, uid: int, path: Path, reload: bool) -> list[list[str]]:
    """Load the job (``bootstrap``) and allow it at login; a changed job is booted out first,
    because launchd keeps the definition it loaded."""
    target = domain(scope, uid)
    commands = [["launchctl", "bootout", f"{target}/{LABEL}"]] if reload else []
    commands += [
        ["launchctl", "bootstrap", target, str(path)],
        ["launchctl", "enable", f"{target}/{LABEL}"],
    ]
    return commands


def uninstall_commands(scope: Scope, uid: int) -> list[list[str]]:
    return [["launchctl", "bootout", f"{domain(scope, uid)}/{LABEL}"]]


def state(scope: Scope, uid: int) -> dict[str, str]:
    """``launchctl print``'s ``state`` (``running``, ``waiting``…) and pid, or ``not loaded``."""
    try:
        out = subprocess.run(
            ["launchctl", "print", f"{domain(scope, uid)}/{LABEL}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"active": f"unknown ({exc})"}
    if out.returncode != 0:
        return {"active": "not loaded"}
    found = {"active": "unknown"}
    if match := re.search(r"^\s*state = (\S+)", out.stdout, re.MULTILINE):
        found["active"] = match.group(1)
    if match := re.search(r"^\s*pid = (\d+)", out.stdout, re.MULTILINE):
        found["pid"] = match.group(1)
    return found
