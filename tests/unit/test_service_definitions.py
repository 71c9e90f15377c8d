"""The service definitions themselves: the launchd plist round-trips through plistlib with the
keys launchd needs; unit-file words are quoted so systemd reads back the same arguments."""

from __future__ import annotations

import plistlib
import shlex
from pathlib import Path

import pytest

from orchestratia.agent.service import launchd, systemd
from orchestratia.agent.service.install import ServiceError, manager_for
from orchestratia.agent.service.spec import Scope, ServiceSpec, rooted

ENV = {"PATH": "/opt/orc/bin:/usr/bin", "LANG": "C.UTF-8"}


def spec(scope: Scope = "user") -> ServiceSpec:
    return ServiceSpec(
        scope,
        Path("/opt/orc/bin/orchestratia"),
        Path("/home/ada/My Config/agent.yaml"),
        "ada",
        Path("/home/ada"),
        dict(ENV),
    )


def test_launchd_plist_round_trips_with_the_keys_launchd_needs() -> None:
    job = plistlib.loads(launchd.render(spec()))
    assert job["Label"] == launchd.LABEL
    assert job["ProgramArguments"] == [
        "/opt/orc/bin/orchestratia",
        "agent",
        "run",
        "--config",
        "/home/ada/My Config/agent.yaml",
    ]
    assert job["KeepAlive"] is True and job["RunAtLoad"] is True
    assert job["AbandonProcessGroup"] is True  # tmux outlives the job
    log = "/home/ada/Library/Logs/orchestratia/agent.log"
    assert job["StandardOutPath"] == log and job["StandardErrorPath"] == log
    assert job["EnvironmentVariables"] == ENV
    assert "UserName" not in job
    assert launchd.plist_path("user", Path("/home/ada")) == Path(
        "/home/ada/Library/LaunchAgents/org.orchestratia.agent.plist"
    )


def test_launchd_system_job_names_its_user_and_domain() -> None:
    job = plistlib.loads(launchd.render(spec("system")))
    assert job["UserName"] == "ada"
    path = Path("/Library/LaunchDaemons/org.orchestratia.agent.plist")
    assert launchd.install_commands("system", 501, path, reload=False)[0] == [
        "launchctl",
        "bootstrap",
        "system",
        str(path),
    ]
    assert launchd.install_commands("user", 501, path, reload=True)[0] == [
        "launchctl",
        "bootout",
        "gui/501/org.orchestratia.agent",
    ]


@pytest.mark.parametrize("word", ["plain", "with space", 'quo"te', "50%", "$HOME", "back\\slash"])
def test_unit_words_read_back_as_written(word: str) -> None:
    quoted = systemd.quote(word)
    assert [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(quoted)] == [word]


def test_backoff_directives_only_where_systemd_knows_them() -> None:
    old = systemd.render(spec("system"), 252).splitlines()
    new = systemd.render(spec("system"), 254).splitlines()
    assert not any(line.startswith("RestartSteps=") for line in old)
    assert "RestartSteps=6" in new and "RestartMaxDelaySec=60" in new
    assert (
        'ExecStart=/opt/orc/bin/orchestratia agent run --config "/home/ada/My Config/agent.yaml"'
        in old
    )


def test_platforms_and_test_roots() -> None:
    assert manager_for("linux") == "systemd"
    assert manager_for("darwin") == "launchd"
    with pytest.raises(ServiceError, match="Linux and macOS only"):
        manager_for("win32")
    assert rooted(Path("/tmp/r"), Path("/etc/x")) == Path("/tmp/r/etc/x")
    assert rooted(None, Path("/etc/x")) == Path("/etc/x")
