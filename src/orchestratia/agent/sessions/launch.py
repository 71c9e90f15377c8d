"""What a new session runs: its directory, its program and its environment (SPEC §7)."""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

from orchestratia.agent.sessions.cli_path import BASH_RC_NAME, prepend_path
from orchestratia.protocol.sessions import SessionStartFrame

FALLBACK_SHELL = "/bin/sh"
# Shells that take POSIX shell code after -c (fish and csh do not: they keep the PATH set in the
# environment, unless their own startup files reset it).
POSIX_SHELLS = frozenset(("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash"))
EXIT_LINGER = 0.25
# $0 is the login shell and $1 the command; the exit status is the command's.
_WRAPPER = f'trap : INT QUIT TSTP HUP; "$0" -l -c "$1"; s=$?; sleep {EXIT_LINGER}; exit $s'


class LaunchError(Exception):
    """The session cannot be started as asked; the message is meant for the user."""


def working_directory(requested: str) -> Path:
    """``requested`` with ``~`` expanded (relative paths are taken from the home directory).

    Raises ``LaunchError`` if it is not an existing directory, rather than letting tmux fall
    back silently to some other directory.
    """
    path = Path(os.path.expanduser(requested or "~"))
    if not path.is_absolute():
        path = Path.home() / path
    if not path.exists():
        raise LaunchError(f"working directory {requested!r} does not exist on this server")
    if not path.is_dir():
        raise LaunchError(f"working directory {requested!r} is not a directory")
    return path


def login_shell() -> str:
    """``$SHELL``, else the shell in the user's passwd entry, else ``/bin/sh``."""
    shell = os.environ.get("SHELL", "")
    if os.path.isabs(shell) and os.access(shell, os.X_OK):
        return shell
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except (KeyError, OSError):
        shell = ""
    return shell if os.path.isabs(shell) and os.access(shell, os.X_OK) else FALLBACK_SHELL


def command_argv(command: str | None, cli_bin: Path | None = None) -> list[str]:
    """The login shell for ``None``; otherwise ``command`` run by the login shell, in a wrapper.

    Through a *login* shell so the program finds what the user's profile puts on ``PATH``
    (``~/.local/bin/claude``), as it would in a terminal they opened themselves.

    The wrapper (the pane's process, so its pid is the session's) outlives the program by
    ``EXIT_LINGER``: tmux 3.3 closes a pane as soon as it reaps the pane's process, and output
    the program wrote just before exiting can still be in the kernel then, unread and lost
    (seen: a few KB in 2-5% of runs on a loaded machine). Meanwhile tmux reads it all. The
    wrapper catches INT, QUIT and TSTP, so Ctrl-C reaches the program without ending the
    session; as the handler is a command, not "ignore", the program gets the default handlers.
    It catches HUP too: dying of the SIGHUP that closing sends, it would mark the pane dead while
    a program that ignores SIGHUP ran on, orphaned, instead of being killed after the grace.

    ``cli_bin`` (see ``cli_path``) is put first on ``PATH`` after the user's startup files, which
    may have reset it: by the command itself, or for an interactive bash by its rcfile.
    """
    shell = login_shell()
    posix = os.path.basename(shell) in POSIX_SHELLS
    if command is None or not command.strip():
        if cli_bin is not None and os.path.basename(shell) == "bash":
            return [shell, "--rcfile", str(cli_bin / BASH_RC_NAME), "-i"]
        return [shell, "-l"]
    if cli_bin is not None and posix:
        # A newline, not "; ": the command may start with a comment or a here-document.
        command = f"{prepend_path(cli_bin)}\n{command}"
    return [FALLBACK_SHELL, "-c", _WRAPPER, shell, command]


def session_environment(
    hub_url: str,
    frame: SessionStartFrame,
    policy_dir: Path | None = None,
    cli_bin: Path | None = None,
    hub_access: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables set in the session. ``ORCHESTRATIA_API_KEY`` is the per-session token,
    never the server's key; without a token it is left unset (see ``tmux.clean_environment``).
    ``ORCHESTRATIA_POLICY_DIR`` tells the pre-tool-use hook where the daemon keeps its rule
    cache, decision socket and permission spool. ``cli_bin`` goes first on ``PATH``.
    ``hub_access`` (``hub_tls.session_variables``) lets the CLI trust the hub as the daemon does.
    """
    env = {
        **(hub_access or {}),
        "ORCHESTRATIA_HUB_URL": hub_url,
        "ORCHESTRATIA_SESSION_ID": frame.session_id,
        "ORCHESTRATIA_PROJECT_ID": frame.project_id,
        "ORCHESTRATIA_ROLE": frame.role,
        "TERM": "xterm-256color",
    }
    if frame.session_token:
        env["ORCHESTRATIA_API_KEY"] = frame.session_token
    if policy_dir is not None:
        env["ORCHESTRATIA_POLICY_DIR"] = str(policy_dir)
    if cli_bin is not None:
        env["PATH"] = os.pathsep.join(filter(None, (str(cli_bin), os.environ.get("PATH"))))
    return env
