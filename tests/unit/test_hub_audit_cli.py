"""``hub audit verify`` and ``hub export`` pointed at no database say so in one line, exit 1, and
leave no empty database behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestratia.cli.hub import app


@pytest.mark.parametrize("args", [["audit", "verify"], ["export", "--project", "p1"]])
def test_a_missing_database_is_one_line_not_a_new_file(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nowhere" / "hub.db"
    env = {
        "ORCHESTRATIA_DATABASE_URL": f"sqlite+aiosqlite:///{missing}",
        "ORCHESTRATIA_DATA_DIR": str(tmp_path / "data"),
    }
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1
    assert f"no hub database at {missing}" in result.output
    assert not missing.parent.exists()
