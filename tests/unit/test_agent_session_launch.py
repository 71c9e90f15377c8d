"""What a session runs: its directory, command line and environment; and what is kept on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestratia.agent.sessions.launch import (
    LaunchError,
    command_argv,
    login_shell,
    session_environment,
    working_directory,
)
from orchestratia.agent.sessions.store import SessionMeta, SessionStore, tmux_name_for
from orchestratia.protocol.sessions import SessionStartFrame


def test_working_directory_expands_home_and_refuses_what_is_not_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "src").mkdir()
    (tmp_path / "file").write_text("x")
    assert working_directory("~/src") == tmp_path / "src"
    assert working_directory("src") == tmp_path / "src"  # relative: from home
    assert working_directory("") == tmp_path
    with pytest.raises(LaunchError, match="'~/nope' does not exist"):
        working_directory("~/nope")
    with pytest.raises(LaunchError, match="not a directory"):
        working_directory(str(tmp_path / "file"))


def test_login_shell_falls_back_from_shell_to_passwd_to_sh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHELL", "/bin/sh")
    assert login_shell() == "/bin/sh"
    assert command_argv(None) == ["/bin/sh", "-l"]
    assert command_argv("  ") == ["/bin/sh", "-l"]
    wrapped = command_argv("claude --resume")
    assert wrapped[:2] == ["/bin/sh", "-c"] and wrapped[3:] == ["/bin/sh", "claude --resume"]
    monkeypatch.setenv("SHELL", "relative/zsh")
    assert os.path.isabs(login_shell())
    monkeypatch.setenv("SHELL", "/no/such/shell")
    assert login_shell() != "/no/such/shell"


def test_environment_carries_the_session_token_never_a_server_key() -> None:
    frame = SessionStartFrame(
        session_id="s1", working_directory="~", project_id="p1", session_token="orcs_t"
    )
    assert session_environment("https://hub", frame) == {
        "ORCHESTRATIA_HUB_URL": "https://hub",
        "ORCHESTRATIA_API_KEY": "orcs_t",
        "ORCHESTRATIA_SESSION_ID": "s1",
        "ORCHESTRATIA_PROJECT_ID": "p1",
        "ORCHESTRATIA_ROLE": "worker",
        "TERM": "xterm-256color",
    }
    tokenless = frame.model_copy(update={"session_token": None})
    assert "ORCHESTRATIA_API_KEY" not in session_environment("https://hub", tokenless)


def test_store_round_trip_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    assert store.load_all() == []  # nothing yet, and nothing created
    assert not (tmp_path / "sessions").exists()
    meta = SessionMeta.new("s1", "p1", "/srv")
    assert meta.tmux_name == tmux_name_for("s1") == "orc-s1"
    paths = store.paths("s1")
    store.save(paths, meta.evolve(pid=12))
    assert (paths.directory / "meta.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "sessions").stat().st_mode & 0o777 == 0o700

    broken = store.paths("s2")
    (broken.directory / "meta.json").write_text("{not json")
    other = store.paths("s3")
    (other.directory / "meta.json").write_text(json.dumps({**meta.__dict__, "session_id": "s1"}))
    store.paths("s4")  # a directory without metadata is not a session
    [(found_paths, found)] = store.load_all()
    assert found_paths == paths and found == meta.evolve(pid=12)

    store.remove(paths)
    assert not paths.directory.exists()
    with pytest.raises(ValueError):
        store.paths("../escape")
