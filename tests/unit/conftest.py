"""Fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ENV = (
    "HUB_URL",
    "API_KEY",
    "SESSION_ID",
    "PROJECT_ID",
    "ROLE",
    "TIMEOUT",
    "CA_FILE",
    "ALLOW_INSECURE",
)


@pytest.fixture
def session_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The environment a daemon gives an agent session, for the agent CLI tests."""
    for name in ENV:
        monkeypatch.delenv(f"ORCHESTRATIA_{name}", raising=False)
    monkeypatch.setenv("ORCHESTRATIA_HUB_URL", "https://hub.test")
    monkeypatch.setenv("ORCHESTRATIA_API_KEY", "orcs_token")
    monkeypatch.setenv("ORCHESTRATIA_SESSION_ID", "sess-1")
    monkeypatch.setenv("ORCHESTRATIA_PROJECT_ID", "proj-1")
    monkeypatch.setenv("ORCHESTRATIA_AGENT_CONFIG", str(tmp_path / "absent.yaml"))
