"""``orchestratia agent install-hooks``: our entries merged into each agent's settings, the user's
kept, idempotent, the Codex feature flag set once, unreadable files left alone."""

from __future__ import annotations

import json
import os
import shlex
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestratia.cli import hook_entry, install_hooks
from orchestratia.cli.agent import app
from orchestratia.cli.install_hooks import enable_codex_hooks, is_ours

EXE = "/opt/orc tools/bin/orchestratia"  # a space, so quoting is exercised
PYTHON = "/opt/orc tools/bin/python3"
ENTRY = shlex.quote(os.path.abspath(hook_entry.__file__))
USER_HOOK = {"type": "command", "command": "~/bin/audit-bash.sh", "timeout": 5}
CLAUDE_SETTINGS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status:*)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [USER_HOOK]}],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
    },
}
CODEX_CONFIG = """\
model = "gpt-5-codex"  # keep this comment

[features]
web_search_request = true

[mcp_servers.docs]
command = "docs-mcp"
"""


@pytest.fixture(autouse=True)
def fixed_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_hooks, "find_programs", lambda: install_hooks.Programs(EXE, PYTHON))


def install(home: Path, agent: str = "all") -> Any:
    return CliRunner().invoke(app, ["install-hooks", "--agent", agent, "--home", str(home)])


def ours(settings: dict[str, Any], event: str, name: str) -> list[dict[str, Any]]:
    groups = settings["hooks"][event]
    return [h for g in groups for h in g["hooks"] if is_ours(h, name)]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_twice_leaves_one_entry_per_hook_and_keeps_the_users(tmp_path: Path) -> None:
    claude = tmp_path / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text(json.dumps(CLAUDE_SETTINGS))
    claude.chmod(0o640)
    codex_config = tmp_path / ".codex" / "config.toml"
    codex_config.parent.mkdir()
    codex_config.write_text(CODEX_CONFIG)

    first = install(tmp_path)
    assert first.exit_code == 0, first.output
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    second = install(tmp_path)
    assert second.exit_code == 0, second.output
    assert "updated" not in second.output
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot

    settings = read_json(claude)
    assert settings["model"] == "opus" and settings["permissions"] == CLAUDE_SETTINGS["permissions"]
    assert settings["hooks"]["Stop"] == CLAUDE_SETTINGS["hooks"]["Stop"]
    assert {"matcher": "Bash", "hooks": [USER_HOOK]} in settings["hooks"]["PreToolUse"]
    [pre] = ours(settings, "PreToolUse", "pre-tool-use")
    assert pre == {
        "type": "command",
        "command": f"'{PYTHON}' -I -S {ENTRY} pre-tool-use --agent claude",
        "timeout": install_hooks.HOOK_TIMEOUT,
    }
    [start] = ours(settings, "SessionStart", "session-start")
    assert start["command"].endswith("hook session-start --agent claude")
    assert all("matcher" not in g for g in settings["hooks"]["SessionStart"])
    assert stat.S_IMODE(claude.stat().st_mode) == 0o640  # the user's mode is kept

    gemini = read_json(tmp_path / ".gemini" / "settings.json")
    [before_tool] = ours(gemini, "BeforeTool", "pre-tool-use")
    assert before_tool["timeout"] == install_hooks.HOOK_TIMEOUT * 1000  # Gemini counts in ms
    assert before_tool["name"] == "orchestratia-pre-tool-use"
    assert "PreToolUse" not in gemini["hooks"]
    assert len(ours(gemini, "SessionStart", "session-start")) == 1
    assert stat.S_IMODE((tmp_path / ".gemini" / "settings.json").stat().st_mode) == 0o600

    codex = read_json(tmp_path / ".codex" / "hooks.json")
    assert len(ours(codex, "PreToolUse", "pre-tool-use")) == 1
    assert len(ours(codex, "SessionStart", "session-start")) == 1
    text = codex_config.read_text()
    assert text.count("codex_hooks") == 1 and "# keep this comment" in text
    parsed = tomllib.loads(text)
    assert parsed["features"] == {"web_search_request": True, "codex_hooks": True}
    assert parsed["mcp_servers"] == {"docs": {"command": "docs-mcp"}}


def test_stale_and_duplicate_entries_collapse_into_one(tmp_path: Path) -> None:
    old = {"type": "command", "command": "/old/venv/bin/orchestratia hook pre-tool-use"}
    settings = {"hooks": {"PreToolUse": [
        {"hooks": [old, USER_HOOK]}, {"matcher": "Edit", "hooks": [dict(old)]},
    ]}}  # fmt: skip
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(settings))
    assert install(tmp_path, "claude").exit_code == 0
    groups = read_json(path)["hooks"]["PreToolUse"]
    assert len(groups) == 1  # the group holding only a duplicate is gone
    assert groups[0]["hooks"][0]["command"].startswith(f"'{PYTHON}' -I -S {ENTRY} pre-tool-use")
    assert groups[0]["hooks"][1] == USER_HOOK


@pytest.mark.parametrize(
    ("command", "name", "expected"),
    [
        ("/v/bin/orchestratia hook pre-tool-use --agent gemini", "pre-tool-use", True),
        ("/v/bin/python3 -I -S /v/src/orchestratia/cli/hook_entry.py pre-tool-use", "pre-tool-use",
         True),
        ("'/a b/python' -I -S '/a b/orchestratia/cli/hook_entry.py' pre-tool-use --agent codex",
         "pre-tool-use", True),
        ("/v/bin/python3 -I -S /v/src/orchestratia/cli/hook_entry.py pre-tool-use",
         "session-start", False),
        ("/v/bin/python3 /v/src/orchestratia/cli/hook_entry.py pre-tool-use", "pre-tool-use",
         False),
        ("/v/bin/python3 -I -S /v/src/other/cli/hook_entry.py pre-tool-use", "pre-tool-use",
         False),
        ("~/bin/audit-bash.sh", "pre-tool-use", False),
    ],
)  # fmt: skip
def test_both_command_forms_are_recognised_as_ours(command: str, name: str, expected: bool) -> None:
    """Entries from earlier versions (the console script) are found, so they are upgraded."""
    assert is_ours({"type": "command", "command": command}, name) is expected


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"hooks": []}'])
def test_an_unreadable_settings_file_is_left_untouched(tmp_path: Path, content: str) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(content)
    result = install(tmp_path)
    assert result.exit_code == 1
    assert str(path) in result.output
    assert path.read_text() == content
    assert not (tmp_path / ".gemini").exists()  # nothing at all is written then


def test_invalid_codex_toml_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text("model = \n")
    result = install(tmp_path, "codex")
    assert result.exit_code == 1 and "not valid TOML" in result.output
    assert path.read_text() == "model = \n"
    assert not (tmp_path / ".codex" / "hooks.json").exists()


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ("", "\n[features]\ncodex_hooks = true\n"),
        ('model = "o3"', 'model = "o3"\n\n[features]\ncodex_hooks = true\n'),
        ("[features]\ncodex_hooks = false # off\n[x]\na = 1\n",
         "[features]\ncodex_hooks = true\n[x]\na = 1\n"),
        ("[features] # flags\nother = 1\n", "[features] # flags\ncodex_hooks = true\nother = 1\n"),
    ],
)  # fmt: skip
def test_codex_feature_flag_is_a_minimal_edit(before: str, expected: str) -> None:
    assert enable_codex_hooks(before) == expected


def test_codex_flag_in_an_unusual_form_asks_for_a_hand_edit(tmp_path: Path) -> None:
    path = tmp_path / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text("features = { other = true }\n")
    result = install(tmp_path, "codex")
    assert result.exit_code == 1 and "by hand" in result.output
    assert path.read_text() == "features = { other = true }\n"


def test_a_symlinked_settings_file_keeps_its_link(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text("{}")
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    os.symlink(dotfiles, link)
    assert install(tmp_path, "claude").exit_code == 0
    assert link.is_symlink()
    assert len(ours(read_json(dotfiles), "PreToolUse", "pre-tool-use")) == 1


def test_unknown_agent_is_refused(tmp_path: Path) -> None:
    assert install(tmp_path, "cursor").exit_code == 2
    assert list(tmp_path.iterdir()) == []
