"""Plan and carry out ``install-service`` / ``uninstall-service`` for this platform's service
manager; the CLI only prints what these return.

Idempotent by comparing bytes: a service file that already holds exactly what would be written
is left alone (no rewrite, no reload, no restart) unless the service is not enabled and running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestratia.agent.service import launchd, systemd
from orchestratia.agent.service.spec import Scope, ServiceSpec, rooted

Manager = Literal["systemd", "launchd"]
FILE_MODE = 0o644  # service definitions hold no secret; the service managers read them as such


class ServiceError(Exception):
    """The service cannot be installed or removed here; the message says why."""


def manager_for(platform: str = sys.platform) -> Manager:
    if platform.startswith("linux"):
        return "systemd"
    if platform == "darwin":
        return "launchd"
    raise ServiceError(f"no service manager support for {platform} (Linux and macOS only)")


@dataclass
class Plan:
    """What installing means here: the file, its bytes, and the commands that load it."""

    manager: Manager
    path: Path
    content: bytes
    commands: list[list[str]]
    # Why the commands will not run here (no systemd as PID 1, a test root), or None.
    cannot_run: str | None
    unchanged: bool
    notes: list[str] = field(default_factory=list)


def _cannot_run(manager: Manager, root: Path | None) -> str | None:
    if root is not None:
        return f"files go under {root}; service managers are not touched"
    if manager == "systemd" and not systemd.booted(None):
        return "systemd is not running this machine (not PID 1: a container or CI?)"
    if manager == "launchd" and shutil.which("launchctl") is None:
        return "launchctl is not available"
    return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def plan_install(spec: ServiceSpec, root: Path | None, manager: Manager) -> Plan:
    cannot_run = _cannot_run(manager, root)
    if manager == "systemd":
        path = rooted(root, systemd.unit_path(spec.scope, spec.home))
        content = systemd.render(spec, systemd.version()).encode()
    else:
        path = rooted(root, launchd.plist_path(spec.scope, spec.home))
        content = launchd.render(spec)
    existing = _read(path)
    unchanged = existing == content
    commands: list[list[str]] = []
    if not unchanged or (cannot_run is None and not _running(manager, spec.scope)):
        if manager == "systemd":
            commands = systemd.install_commands(spec.scope, restart=existing is not None)
        else:
            commands = launchd.install_commands(
                spec.scope, os.getuid(), path, reload=existing is not None
            )
    plan = Plan(manager, path, content, commands, cannot_run, unchanged)
    if manager == "systemd" and spec.scope == "user":
        plan.notes.append(systemd.lingering_hint(spec.user))
    if not spec.config.exists():
        plan.notes.append(
            f"no agent config at {spec.config} yet: run `orchestratia agent register TOKEN "
            f"--config {spec.config}`; until then the service keeps restarting"
        )
    return plan


def _running(manager: Manager, scope: Scope) -> bool:
    if manager == "systemd":
        found = systemd.state(scope)
        return found.get("active") == "active" and found.get("enabled") == "enabled"
    return launchd.state(scope, os.getuid()).get("active") == "running"


def write(path: Path, content: bytes) -> None:
    """Replace ``path`` atomically (readers never see half a unit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(command: list[str]) -> None:
    """Run one service-manager command; a failure is a ServiceError naming it."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"`{' '.join(command)}` could not run: {exc}") from exc
    # launchctl bootout of a job that is not loaded is not an error for us.
    if done.returncode != 0 and command[:2] != ["launchctl", "bootout"]:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ServiceError(
            f"`{' '.join(command)}` failed ({done.returncode}): {detail[-1] if detail else ''}"
        )


@dataclass
class Removal:
    path: Path
    existed: bool
    # Run before the file goes (stop, disable) and after it (forget it).
    before: list[list[str]]
    after: list[list[str]]
    cannot_run: str | None


def plan_uninstall(scope: Scope, home: Path, root: Path | None, manager: Manager) -> Removal:
    cannot_run = _cannot_run(manager, root)
    if manager == "systemd":
        path = rooted(root, systemd.unit_path(scope, home))
        before = systemd.uninstall_commands(scope)
        after = systemd.after_uninstall(scope)
    else:
        path = rooted(root, launchd.plist_path(scope, home))
        before, after = launchd.uninstall_commands(scope, os.getuid()), []
    return Removal(path, path.exists(), before, after, cannot_run)


def uninstall(removal: Removal) -> None:
    """Stop and disable the service (when its manager runs here), then delete its file."""
    if removal.cannot_run is None:
        for command in removal.before:
            run(command)
    removal.path.unlink(missing_ok=True)
    if removal.cannot_run is None:
        for command in removal.after:
            run(command)


@dataclass
class ServiceState:
    scope: Scope
    manager: Manager
    path: Path
    installed: bool
    state: dict[str, str]

    def describe(self) -> str:
        if not self.installed:
            return "not installed"
        words = ", ".join(f"{k} {v}" for k, v in self.state.items()) or "state unknown"
        return f"installed ({self.path}): {words}"


def service_states(home: Path, root: Path | None, manager: Manager) -> list[ServiceState]:
    """The service in both scopes, installed or not; the manager is asked only when it runs."""
    found = []
    cannot_run = _cannot_run(manager, root)
    scopes: tuple[Scope, Scope] = ("user", "system")
    for scope in scopes:
        if manager == "systemd":
            path = rooted(root, systemd.unit_path(scope, home))
        else:
            path = rooted(root, launchd.plist_path(scope, home))
        state: dict[str, str] = {}
        if path.exists():
            if cannot_run is not None:
                state = {"manager": f"not asked: {cannot_run}"}
            elif manager == "systemd":
                state = systemd.state(scope)
            else:
                state = launchd.state(scope, os.getuid())
        found.append(ServiceState(scope, manager, path, path.exists(), state))
    return found
