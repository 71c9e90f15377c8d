"""Issue 16, acceptance 1: ``orchestratia agent install-service`` on this machine as root, into
a private root (never the real /etc): ``--print`` changes nothing, the written unit passes
``systemd-analyze verify``, a second run changes nothing, uninstall removes it, and
``agent status`` reports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestratia.agent.service import systemd

UNIT = "orchestratia-agent.service"
ENTRY = Path(sys.executable).parent / "orchestratia"


def cli(root: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ORCHESTRATIA_SERVICE_ROOT=str(root), COLUMNS="200")
    if home is not None:
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return subprocess.run(
        [sys.executable, "-m", "orchestratia", "agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "conf dir" / "agent.yaml"  # a space: the unit must quote it
    path.parent.mkdir()
    path.write_text("hub_url: http://127.0.0.1:1\napi_key: k\nserver_id: s\nname: n\n")
    return path


def assert_verified(unit: Path, user_runtime: Path | None = None) -> None:
    """``systemd-analyze verify`` accepts ``unit``: exit 0 and not a word on stderr (it exits 0
    on unknown keys, warning only). A user unit needs a runtime dir for the user manager."""
    scope = ["--user"] if user_runtime is not None else []
    env = dict(os.environ)
    if user_runtime is not None:
        env["XDG_RUNTIME_DIR"] = str(user_runtime)
    verified = subprocess.run(
        ["systemd-analyze", *scope, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr


def system_unit(root: Path) -> Path:
    return root / "etc" / "systemd" / "system" / UNIT


def test_print_shows_the_unit_and_commands_and_changes_nothing(
    tmp_path: Path, config: Path
) -> None:
    root = tmp_path / "root"
    shown = cli(root, "install-service", "--system", "--config", str(config), "--print")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"would write {system_unit(root)}:" in out
    assert f'ExecStart={ENTRY} agent run --config "{config}"' in out
    assert "would run: systemctl daemon-reload" in out
    assert f"would run: systemctl enable --now {UNIT}" in out
    assert not root.exists()


def test_system_unit_is_accepted_by_systemd_analyze(tmp_path: Path, config: Path) -> None:
    root = tmp_path / "root"
    printed = cli(root, "install-service", "--system", "--config", str(config), "--print")
    done = cli(root, "install-service", "--system", "--config", str(config))
    assert done.returncode == 0, done.stderr
    unit = system_unit(root).read_text()
    # Exactly what --print showed, and said so after writing.
    assert unit in printed.stdout and unit in done.stdout
    assert f"wrote {system_unit(root)}" in done.stdout
    # No systemd as PID 1 here (and a private root): the unit is written, nothing is started.
    assert "not started:" in done.stdout and "systemctl enable --now" in done.stdout
    lines = unit.splitlines()
    for directive in (
        "Restart=always",
        "KillMode=process",
        "NoNewPrivileges=yes",
        "PrivateTmp=no",
        "UMask=0077",
        "User=root",
        "WantedBy=multi-user.target",
    ):
        assert directive in lines
    version = systemd.version()
    assert version is not None
    assert ("RestartSteps=6" in lines) == (version >= systemd.BACKOFF_SINCE)
    assert_verified(system_unit(root))


def test_installing_twice_changes_nothing(tmp_path: Path, config: Path) -> None:
    root = tmp_path / "root"
    assert cli(root, "install-service", "--system", "--config", str(config)).returncode == 0
    before = system_unit(root).stat().st_mtime_ns
    again = cli(root, "install-service", "--system", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert f"already installed: {system_unit(root)} (unchanged)" in again.stdout
    assert "wrote" not in again.stdout and "systemctl" not in again.stdout
    assert system_unit(root).stat().st_mtime_ns == before
    # Another config is another unit: rewritten.
    other = config.with_name("other.yaml")
    other.write_text(config.read_text())
    changed = cli(root, "install-service", "--system", "--config", str(other))
    assert "wrote" in changed.stdout and str(other) in system_unit(root).read_text()


def test_user_unit_and_lingering_hint(tmp_path: Path, config: Path) -> None:
    root, home = tmp_path / "root", tmp_path / "home"
    done = cli(root, "install-service", "--user", "--config", str(config), home=home)
    assert done.returncode == 0, done.stderr
    path = root / "root" / ".config" / "systemd" / "user" / UNIT  # HOME of root, under the root
    unit = path.read_text()
    assert "WantedBy=default.target" in unit.splitlines()
    assert "User=" not in unit
    assert "loginctl enable-linger root" in done.stdout
    assert "systemctl --user enable --now" in done.stdout
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    assert_verified(path, user_runtime=runtime)


def test_uninstall_removes_the_unit(tmp_path: Path, config: Path) -> None:
    root = tmp_path / "root"
    assert cli(root, "install-service", "--system", "--config", str(config)).returncode == 0
    removed = cli(root, "uninstall-service", "--system")
    assert removed.returncode == 0, removed.stderr
    assert f"removed {system_unit(root)}" in removed.stdout
    assert not system_unit(root).exists()
    again = cli(root, "uninstall-service", "--system")
    assert again.returncode == 0 and "not installed" in again.stdout


def test_status_shows_the_service_state(tmp_path: Path, config: Path) -> None:
    root = tmp_path / "root"
    state = config.with_suffix(".state.json")
    state.write_text(json.dumps({"state": "connected", "pid": os.getpid()}))
    before = cli(root, "status", "--config", str(config))
    assert "service (system): not installed" in before.stdout
    assert cli(root, "install-service", "--system", "--config", str(config)).returncode == 0
    after = cli(root, "status", "--config", str(config))
    assert after.returncode == 0, after.stderr
    assert f"service (system): installed ({system_unit(root)})" in after.stdout
    assert "service (user): not installed" in after.stdout
    report = json.loads(cli(root, "status", "--config", str(config), "--json").stdout)
    by_scope = {s["scope"]: s for s in report["service"]}
    assert by_scope["system"]["installed"] and not by_scope["user"]["installed"]
    assert report["running"] is True
