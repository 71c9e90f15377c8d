"""Agent config: path resolution, private atomic writes, clear errors."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from orchestratia.agent.config import (
    AgentConfig,
    ConfigError,
    default_config_path,
    default_state_dir,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


def sample() -> AgentConfig:
    return AgentConfig(
        hub_url="https://hub.example.com/",
        api_key="orc_secret",
        server_id="srv_1",
        name="box-1",
        repos={"api": "/srv/api", "web": "/srv/wëb"},
        labels=["gpu", "eu"],
        heartbeat_interval=5,
    )


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ORCHESTRATIA_AGENT_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    assert sample().save(path) == path
    loaded = AgentConfig.load(path)
    assert loaded == sample()
    assert loaded.hub_url == "https://hub.example.com"


def test_defaults_apply_to_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("hub_url: http://hub\napi_key: k\nserver_id: s\nname: n\n")
    loaded = AgentConfig.load(path)
    assert (loaded.repos, loaded.labels, loaded.heartbeat_interval) == ({}, [], 15)


@posix_only
def test_file_is_0600_and_new_directories_0700(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "agent.yaml"
    sample().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


@posix_only
def test_overwrite_tightens_a_loose_file_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("old")
    path.chmod(0o644)
    sample().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["agent.yaml"]


def test_default_path_is_under_home_config(tmp_path: Path) -> None:
    assert default_config_path() == tmp_path / "home" / ".config" / "orchestratia" / "agent.yaml"


def test_default_path_honours_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_config_path() == tmp_path / "xdg" / "orchestratia" / "agent.yaml"


def test_relative_xdg_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert default_config_path() == tmp_path / "home" / ".config" / "orchestratia" / "agent.yaml"


def test_env_var_overrides_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ORCHESTRATIA_AGENT_CONFIG", str(tmp_path / "elsewhere.yaml"))
    assert default_config_path() == tmp_path / "elsewhere.yaml"


def test_save_and_load_use_the_default_path(tmp_path: Path) -> None:
    written = sample().save()
    assert written == default_config_path()
    assert AgentConfig.load() == sample()


def test_missing_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="agent register") as info:
        AgentConfig.load(tmp_path / "nope.yaml")
    assert info.value.path == tmp_path / "nope.yaml"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("hub_url: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
        ("", "mapping"),
        ("\x00\x01 binary", "YAML"),
        ("hub_url: http://hub\nname: n\n", "api_key"),
        ("hub_url: ftp://hub\napi_key: k\nserver_id: s\nname: n\n", "hub_url"),
        (
            "hub_url: http://h\napi_key: k\nserver_id: s\nname: n\nheartbeat_intervall: 3\n",
            "heartbeat_intervall",
        ),
        (
            "hub_url: http://h\napi_key: k\nserver_id: s\nname: n\nheartbeat_interval: -1\n",
            "heartbeat_interval",
        ),
    ],
)
def test_garbage_raises_config_error(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=match):
        AgentConfig.load(path)


@posix_only
def test_loose_permissions_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "agent.yaml"
    sample().save(path)
    path.chmod(0o644)
    AgentConfig.load(path)
    assert "readable by others" in caplog.text


def test_session_settings_have_safe_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    config = sample()
    assert config.tmux_socket == "orchestratia"
    assert config.redact_patterns == []
    assert config.sessions_dir() == tmp_path / ".local/state/orchestratia/sessions"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg/orchestratia/sessions"
    monkeypatch.setenv("XDG_STATE_HOME", "relative")  # invalid per XDG: ignored
    assert default_state_dir() == tmp_path / ".local/state/orchestratia/sessions"
    custom = sample().model_copy(update={"state_dir": Path("~/orc")})
    assert custom.sessions_dir() == tmp_path / "orc"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tmux_socket", "-L"),
        ("tmux_socket", "a/b"),
        ("redact_patterns", ["(unclosed"]),
        ("redact_patterns", ["x*"]),  # matches the empty string
    ],
)
def test_bad_session_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        AgentConfig.model_validate({**sample().model_dump(), field: value})
