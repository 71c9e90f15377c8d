"""Sessions find this install's ``orchestratia`` by its bare name through real login shells whose
startup files reset PATH (the e2e test in test_up.py covers bash through the whole daemon)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestratia.agent.sessions.cli_path import install_cli_shim
from orchestratia.agent.sessions.launch import command_argv, session_environment
from orchestratia.protocol.sessions import SessionStartFrame

RESET = "PATH=/usr/bin:/bin; export PATH\n"


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_a_program_run_through_the_login_shell_finds_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: str
) -> None:
    if not os.access(shell, os.X_OK):
        pytest.skip(f"no {shell}")
    home = tmp_path / "home"
    home.mkdir()
    for rc in (".profile", ".bash_profile", ".bashrc"):
        (home / rc).write_text(RESET)
    cli_bin = tmp_path / "bin"
    install_cli_shim(cli_bin)
    monkeypatch.setenv("SHELL", shell)
    frame = SessionStartFrame(session_id="s1", working_directory="~", project_id="p1")
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        **session_environment("http://hub", frame, None, cli_bin),
    }
    assert shutil.which("orchestratia", path="/usr/bin:/bin") is None
    done = subprocess.run(
        command_argv("command -v orchestratia && orchestratia --help", cli_bin),
        env=env, capture_output=True, text=True, timeout=60, cwd=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(cli_bin / "orchestratia"), done.stdout
