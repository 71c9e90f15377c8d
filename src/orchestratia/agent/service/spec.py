"""What a service definition needs to know, whatever the service manager."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Scope = Literal["user", "system"]

# The environment variable (and hidden ``--root`` option) that puts every file the installer
# touches under another directory: tests install into a temporary tree, never the real /etc.
ROOT_ENV = "ORCHESTRATIA_SERVICE_ROOT"


@dataclass(frozen=True)
class ServiceSpec:
    """One daemon as a service: the command it runs, as whom, and with which environment."""

    scope: Scope
    executable: Path
    config: Path
    user: str
    home: Path
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def arguments(self) -> list[str]:
        return [str(self.executable), "agent", "run", "--config", str(self.config)]


def installed_executable() -> Path:
    """The absolute path of the ``orchestratia`` script of the environment running this code.

    Next to ``sys.executable`` first (a virtualenv's bin dir, also when started as ``python -m
    orchestratia``), then the PATH. Not resolved through symlinks: a venv's paths are stable,
    the interpreter they point at may be upgraded.
    """
    beside = Path(sys.executable).parent / "orchestratia"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    found = shutil.which("orchestratia")
    if found is None:
        raise FileNotFoundError("cannot find the `orchestratia` executable on PATH")
    return Path(found).absolute()


def invoking_user() -> str:
    """Who asked: the user behind ``sudo`` if there is one, else the current user."""
    behind_sudo = os.environ.get("SUDO_USER")
    if os.geteuid() == 0 and behind_sudo:
        return behind_sudo
    return pwd.getpwuid(os.getuid()).pw_name


def home_of(user: str) -> Path:
    try:
        return Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        raise ValueError(f"no such user: {user}") from None


def service_path(executable: Path) -> str:
    """PATH for the service: the executable's directory first (agents inside sessions run
    ``orchestratia``), then this shell's absolute entries, so agent CLIs found now (claude,
    gemini, codex under ~/.local/bin or a node manager) are found by the service too."""
    entries = [str(executable.parent)]
    entries += os.environ.get("PATH", "").split(os.pathsep)
    entries += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    kept: list[str] = []
    for entry in entries:
        # A relative entry would be resolved against the service's working directory.
        if entry and os.path.isabs(entry) and entry not in kept:
            kept.append(entry)
    return os.pathsep.join(kept)


def build_spec(
    scope: Scope, config: Path | None, run_as: str | None, executable: Path | None = None
) -> ServiceSpec:
    """The spec for ``install-service``: ``run_as`` defaults to the invoking user (system scope)
    and the config to that user's default config."""
    user = run_as or invoking_user()
    home = home_of(user)
    if config is None:
        from orchestratia.agent.config import default_config_path

        mine = user == pwd.getpwuid(os.getuid()).pw_name
        config = default_config_path() if mine else home / ".config/orchestratia/agent.yaml"
    exe = executable or installed_executable()
    environment = {
        "PATH": service_path(exe),
        # tmux and the agents print UTF-8; the service manager's default locale is often C.
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        # Log lines reach the journal / log file as they happen, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
    }
    return ServiceSpec(scope, exe, config.expanduser().absolute(), user, home, environment)


def rooted(root: Path | None, path: Path) -> Path:
    """``path`` inside ``root`` (tests), or itself."""
    return path if root is None else root / path.relative_to(path.anchor)
