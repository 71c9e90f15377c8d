"""``orchestratia agent install-hooks``: wire our hooks into each agent CLI's user settings.

Formats, checked against each agent's documentation:

- Claude Code, ``~/.claude/settings.json`` (https://code.claude.com/docs/en/hooks,
  "Configuration"): ``{"hooks": {"<Event>": [{"matcher"?, "hooks": [{"type": "command",
  "command", "timeout" (seconds)}]}]}}``; a missing matcher matches every tool.
- Gemini CLI, ``~/.gemini/settings.json`` (https://geminicli.com/docs/hooks/reference,
  "Configuration schema"; docs/hooks/index.md): the same nesting, events ``BeforeTool`` and
  ``SessionStart``, handler fields ``name``, ``type``, ``command``, ``description`` and
  ``timeout`` in *milliseconds* (default 60000); a missing matcher matches every tool.
- Codex, ``~/.codex/hooks.json`` (https://developers.openai.com/codex/hooks; codex-rs
  ``MatcherGroup`` with ``matcher: None`` = all tools): Claude's nesting, ``timeout`` in
  seconds. Releases that gate hooks read ``[features] codex_hooks = true`` from
  ``~/.codex/config.toml``; later ones enable hooks by default and keep ``codex_hooks`` as an
  alias of ``hooks``, so setting it is right for both.

The pre-tool-use hook runs before every tool call, so its command skips the console script and
the ``site`` start-up: ``<this Python> -I -S <…/orchestratia/cli/hook_entry.py> pre-tool-use
--agent X`` (``cli.hook_entry`` says why). The session-start hook runs once per session and
keeps the plain ``<…/orchestratia> hook session-start --agent X``.

We never write a ``"*"`` matcher: Claude and Codex read matchers as regular expressions, where a
bare ``*`` is not "everything". The user's other keys and hooks are kept; an entry of ours
(recognised by its command: ``…orchestratia hook <name>``, or the ``hook_entry.py`` form) is
updated in place, duplicates are dropped, so a second run changes nothing; an entry written by
an earlier version is rewritten to today's command (until then it keeps working as it was).
Files are replaced atomically, keeping their mode (a symlinked settings file is written through
its link). A file we cannot parse is an error and stays untouched, and then nothing is written
at all.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestratia.cli import hook_entry

HOOK_TIMEOUT = 300  # seconds; tool_approval.MAX_APPROVAL_TIMEOUT (270 s) ends well before it
SESSION_START_TIMEOUT = 30
AGENT_CHOICES = ("all", "claude", "gemini", "codex")
NEW_FILE_MODE = 0o600  # settings files may hold tokens
_FEATURES_HEADER = re.compile(r"^[ \t]*\[[ \t]*features[ \t]*\][ \t]*(#.*)?$", re.M)
_CODEX_HOOKS_KEY = re.compile(r"^[ \t]*codex_hooks[ \t]*=.*$", re.M)
_NEXT_HEADER = re.compile(r"^[ \t]*\[", re.M)


class InstallError(Exception):
    """A settings file we must not touch; the message names it and says why."""


@dataclass(frozen=True)
class Programs:
    """What the hook commands run: the console script, and the interpreter it runs on."""

    executable: str
    interpreter: str


@dataclass(frozen=True)
class Change:
    path: Path
    text: str | None  # None: already as it should be


def find_executable() -> str:
    """The absolute path of the ``orchestratia`` command running now (or next to Python)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "orchestratia" and argv0.exists():
        return str(argv0.absolute())
    sibling = Path(sys.executable).parent / "orchestratia"
    if sibling.exists():
        return str(sibling)
    found = shutil.which("orchestratia")
    if found is None:
        raise InstallError("cannot find the orchestratia executable to put in the hooks")
    return str(Path(found).absolute())


def find_programs() -> Programs:
    """The console script, and the interpreter running now (a venv's ``bin/python``, kept
    unresolved: the venv is found from that path)."""
    if not sys.executable:
        raise InstallError("cannot tell which Python runs orchestratia")
    return Programs(find_executable(), sys.executable)


ENTRY_PARTS = ("orchestratia", "cli", "hook_entry.py")
ISOLATED = ("-I", "-S")


def hook_command(programs: Programs, name: str, agent: str) -> str:
    # Agents run hook commands through a shell: quote the paths (they may hold spaces).
    if name == hook_entry.COMMAND:
        python = shlex.quote(programs.interpreter)
        entry = shlex.quote(os.path.abspath(hook_entry.__file__))
        return f"{python} {' '.join(ISOLATED)} {entry} {name} --agent {agent}"
    return f"{shlex.quote(programs.executable)} hook {name} --agent {agent}"


def is_ours(handler: Any, name: str) -> bool:
    """Whether ``handler`` runs our hook ``name``: ``orchestratia hook <name>`` or ``python -I
    -S …/orchestratia/cli/hook_entry.py <name>`` (any paths, any options)."""
    if not isinstance(handler, dict) or not isinstance(handler.get("command"), str):
        return False
    try:
        argv = shlex.split(handler["command"])
    except ValueError:
        return False
    if len(argv) >= 3 and Path(argv[0]).name == "orchestratia" and argv[1:3] == ["hook", name]:
        return True
    entry = Path(argv[3]).parts[-len(ENTRY_PARTS) :] if len(argv) >= 5 else ()
    return tuple(argv[1:3]) == ISOLATED and entry == ENTRY_PARTS and argv[4] == name


def handler_for(agent: str, name: str, programs: Programs) -> dict[str, Any]:
    seconds = HOOK_TIMEOUT if name == "pre-tool-use" else SESSION_START_TIMEOUT
    handler: dict[str, Any] = {"type": "command", "command": hook_command(programs, name, agent)}
    if agent == "gemini":
        handler = {"name": f"orchestratia-{name}", **handler, "timeout": seconds * 1000}
        handler["description"] = (
            "Orchestratia approval rules" if name == "pre-tool-use" else "Orchestratia context"
        )
    else:
        handler["timeout"] = seconds
    return handler


EVENTS = {
    "claude": (("SessionStart", "session-start"), ("PreToolUse", "pre-tool-use")),
    "gemini": (("SessionStart", "session-start"), ("BeforeTool", "pre-tool-use")),
    "codex": (("SessionStart", "session-start"), ("PreToolUse", "pre-tool-use")),
}


def merge_event(groups: list[Any], name: str, handler: dict[str, Any]) -> list[Any]:
    """``groups`` with exactly one handler of ours for ``name``: the first one found is
    replaced in place, later ones dropped (and a group they leave empty); none → appended."""
    placed = False
    merged: list[Any] = []
    for group in groups:
        hooks = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(hooks, list):
            merged.append(group)
            continue
        kept = []
        for existing in hooks:
            if not is_ours(existing, name):
                kept.append(existing)
            elif not placed:
                kept.append(handler)
                placed = True
        if kept or not hooks:
            merged.append({**group, "hooks": kept})
    if not placed:
        merged.append({"hooks": [handler]})
    return merged


def merge_settings(settings: dict[str, Any], agent: str, programs: Programs) -> dict[str, Any]:
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError('"hooks" is not a JSON object')
    hooks = dict(hooks)
    for event, name in EVENTS[agent]:
        groups = hooks.get(event, [])
        if not isinstance(groups, list):
            raise InstallError(f'"hooks.{event}" is not a JSON array')
        hooks[event] = merge_event(groups, name, handler_for(agent, name, programs))
    return {**settings, "hooks": hooks}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read {path}: {exc}") from exc


def plan_json(path: Path, agent: str, programs: Programs) -> Change:
    text = _read(path)
    try:
        settings = json.loads(text) if text and text.strip() else {}
    except ValueError as exc:
        raise InstallError(f"{path} is not valid JSON ({exc}); fix or move it first") from exc
    if not isinstance(settings, dict):
        raise InstallError(f"{path} does not hold a JSON object")
    try:
        merged = merge_settings(settings, agent, programs)
    except InstallError as exc:
        raise InstallError(f"{path}: {exc}") from exc
    new_text = json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
    return Change(path, None if merged == settings and text is not None else new_text)


def enable_codex_hooks(text: str) -> str:
    """``text`` (a config.toml) with ``[features] codex_hooks = true``, edited minimally."""
    header = _FEATURES_HEADER.search(text)
    if header is None:
        return (
            text
            + ("" if not text or text.endswith("\n") else "\n")
            + ("\n[features]\ncodex_hooks = true\n")
        )
    start = header.end()
    following = _NEXT_HEADER.search(text, start + 1)
    end = following.start() if following else len(text)
    key = _CODEX_HOOKS_KEY.search(text, start, end)
    if key is not None:
        return text[: key.start()] + "codex_hooks = true" + text[key.end() :]
    return text[:start] + "\ncodex_hooks = true" + text[start:]


def plan_codex_config(path: Path) -> Change:
    text = _read(path) or ""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InstallError(f"{path} is not valid TOML ({exc}); fix or move it first") from exc
    features = before.get("features")
    if isinstance(features, dict) and features.get("codex_hooks") is True:
        return Change(path, None)
    new_text = enable_codex_hooks(text)
    # The edit is textual, so prove it did exactly what we meant and nothing else.
    try:
        after = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        after = {}
    expected = {**before, "features": {**(features or {}), "codex_hooks": True}}
    if not isinstance(features, dict | None) or after != expected:
        raise InstallError(
            f"cannot safely add codex_hooks to {path}; add `codex_hooks = true` under "
            "[features] by hand"
        )
    return Change(path, new_text)


def write_keeping_mode(path: Path, text: str) -> None:
    """Replace ``path`` atomically, with the mode it had (``NEW_FILE_MODE`` if new)."""
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plan(agents: list[str], home: Path, programs: Programs) -> list[Change]:
    """Every change for ``agents``; raises ``InstallError`` before anything is written."""
    changes = []
    for agent in agents:
        settings = home / f".{agent}" / ("hooks.json" if agent == "codex" else "settings.json")
        changes.append(plan_json(settings, agent, programs))
        if agent == "codex":
            changes.append(plan_codex_config(home / ".codex" / "config.toml"))
    return changes


def install_hooks(
    agent: Annotated[
        str, typer.Option(help="Which agent CLI to wire: all, claude, gemini or codex.")
    ] = "all",
    home: Annotated[
        Path | None, typer.Option(help="Home directory holding the agents' settings.")
    ] = None,
) -> None:
    """Add Orchestratia's session-start and pre-tool-use hooks to the agents' user settings."""
    choice = agent.strip().lower()
    if choice not in AGENT_CHOICES:
        typer.echo(f"error: --agent must be one of {', '.join(AGENT_CHOICES)}", err=True)
        raise typer.Exit(2)
    agents = ["claude", "gemini", "codex"] if choice == "all" else [choice]
    try:
        changes = plan(agents, (home or Path.home()).expanduser(), find_programs())
        for change in changes:
            if change.text is not None:
                write_keeping_mode(change.path, change.text)
    except (InstallError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for change in changes:
        typer.echo(f"{'updated' if change.text is not None else 'unchanged'}: {change.path}")
