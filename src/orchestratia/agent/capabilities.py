"""Which AI coding agents this server can run, as reported to the hub."""

from __future__ import annotations

import shutil

AGENT_COMMANDS = (
    "aider",
    "amp",
    "claude",
    "codex",
    "cursor-agent",
    "gemini",
    "goose",
    "opencode",
    "qwen",
)


def detect_capabilities(path_env: str | None = None) -> list[str]:
    """Names of the known agent CLIs found on ``path_env`` (default: ``$PATH``), sorted."""
    return sorted(name for name in AGENT_COMMANDS if shutil.which(name, path=path_env))
