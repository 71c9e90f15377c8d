"""The ``orchestratia`` console script's door for hooks installed by earlier versions."""

from __future__ import annotations

import json

import pytest

from orchestratia.cli import console, pre_tool_use


def test_a_failing_hook_behind_the_console_script_blocks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_args: list[str]) -> int | None:
        raise TypeError("a module half upgraded")

    monkeypatch.setattr(pre_tool_use, "fast_main", broken)
    monkeypatch.setattr("sys.argv", ["orchestratia", "hook", "pre-tool-use", "--agent", "claude"])
    with pytest.raises(SystemExit) as exited:
        console.main()
    assert exited.value.code == 2  # blocking for every agent; 1 would let the call through
    out = capsys.readouterr()
    assert "a module half upgraded" in out.err
    decision = json.loads(out.out)["hookSpecificOutput"]["permissionDecision"]
    assert decision == "deny"
