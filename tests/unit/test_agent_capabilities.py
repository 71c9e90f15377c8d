"""Agent CLI detection on a fake PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from orchestratia.agent.capabilities import AGENT_COMMANDS, detect_capabilities

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX executable bits")


def make_executable(directory: Path, name: str, mode: int = 0o755) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)


def test_finds_executables_across_path_entries_sorted(tmp_path: Path) -> None:
    first, second = tmp_path / "bin1", tmp_path / "bin2"
    first.mkdir()
    second.mkdir()
    make_executable(first, "codex")
    make_executable(first, "ls")
    make_executable(second, "claude")
    make_executable(second, "cursor-agent")
    path_env = os.pathsep.join([str(first), str(second)])
    assert detect_capabilities(path_env) == ["claude", "codex", "cursor-agent"]


def test_ignores_files_that_are_not_executable_and_directories(tmp_path: Path) -> None:
    make_executable(tmp_path, "gemini", mode=0o644)
    (tmp_path / "aider").mkdir()
    make_executable(tmp_path, "goose")
    assert detect_capabilities(str(tmp_path)) == ["goose"]


def test_empty_path_finds_nothing(tmp_path: Path) -> None:
    assert detect_capabilities(str(tmp_path)) == []


def test_finds_every_known_agent(tmp_path: Path) -> None:
    for name in AGENT_COMMANDS:
        make_executable(tmp_path, name)
    assert detect_capabilities(str(tmp_path)) == sorted(AGENT_COMMANDS)


def test_defaults_to_the_process_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_executable(tmp_path, "qwen")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_capabilities() == ["qwen"]
