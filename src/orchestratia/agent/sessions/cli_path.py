"""How a session finds the ``orchestratia`` CLI by its bare name (deliveries say "Run:
orchestratia task check").

The daemon may run from a venv that is not activated, from pipx, or under a service manager with
a minimal ``PATH``, so the console script's directory is not necessarily on the session's
``PATH``. The daemon therefore keeps a private bin directory holding a shim that runs this very
interpreter's ``orchestratia``, and puts it first on the session's ``PATH``.

A login shell reads the user's startup files, which may reset ``PATH`` (Debian's /etc/profile
does), so putting it in the environment is not enough: ``sessions.launch`` puts it first again
once those files have been read.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.files import write_private_file

SHIM_NAME = "orchestratia"
BASH_RC_NAME = "bash-login.rc"
EXEC_MODE = 0o700


def cli_bin_dir(config: AgentConfig) -> Path:
    """``<state dir>/../bin``: next to the sessions directory, private to this daemon."""
    return config.sessions_dir().parent / "bin"


def prepend_path(directory: Path) -> str:
    """POSIX shell code putting ``directory`` first on ``PATH``."""
    return f'PATH={shlex.quote(str(directory))}:"$PATH"; export PATH'


def shim_text() -> str:
    """The shim: the console script beside this interpreter (venv, pipx), else the interpreter
    itself, so it is the daemon's install whatever ``PATH`` holds."""
    script = Path(sys.executable).parent / SHIM_NAME
    if os.access(script, os.X_OK):
        return f'#!/bin/sh\nexec {shlex.quote(str(script))} "$@"\n'
    return f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m orchestratia "$@"\n'


def bash_rc_text(directory: Path) -> str:
    """An rcfile for an interactive bash that reads what a login bash reads, then fixes ``PATH``.

    ``bash --rcfile`` is the only way to run code after the user's startup files in an
    interactive bash; as rcfiles are not read by login shells, it reads the login files itself
    (the same files, in the same order, as ``bash -l``; ~/.profile usually reads ~/.bashrc).
    """
    return (
        "# Written by the Orchestratia daemon; rewritten on every session start.\n"
        "[ -r /etc/profile ] && . /etc/profile\n"
        'if [ -r "$HOME/.bash_profile" ]; then . "$HOME/.bash_profile"\n'
        'elif [ -r "$HOME/.bash_login" ]; then . "$HOME/.bash_login"\n'
        'elif [ -r "$HOME/.profile" ]; then . "$HOME/.profile"\n'
        "fi\n"
        f"{prepend_path(directory)}\n"
    )


def install_cli_shim(directory: Path) -> None:
    """Write the shim and the bash rcfile into ``directory`` (0700), if not already there."""
    for name, text, mode in (
        (SHIM_NAME, shim_text(), EXEC_MODE),
        (BASH_RC_NAME, bash_rc_text(directory), 0o600),
    ):
        path = directory / name
        data = text.encode()
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        if current != data:
            write_private_file(path, data, durable=False)
        if path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
