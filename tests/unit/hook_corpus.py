"""Shared by the hook tests: a corpus of pre-tool-use inputs for every agent format (recorded
samples, chained and substituted shell commands, malformed stdin), JSON texts and values for
``light_json``, and a daemon decision socket on a background loop."""

from __future__ import annotations

import asyncio
import codecs
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestratia.agent.approvals.cached_rules import CACHE_FORMAT, RULES_FILE
from orchestratia.agent.approvals.decision_server import DecisionServer
from orchestratia.agent.approvals.hook_formats import EVENT, MAX_HOOK_INPUT

SAMPLES = Path(__file__).parent / "hook_samples" / "pretooluse"
EVENTS: dict[str, str] = {str(agent): event for agent, event in EVENT.items()}
SHELL_TOOL = {"claude": "Bash", "gemini": "run_shell_command", "codex": "Bash"}
COMMANDS = [
    "ls",
    "git status --short",
    "ls -la && rm -rf build",
    "ls; rm -rf x",
    "ls || rm -rf /",
    "ls | grep a | wc -l",
    "echo 'a; rm -rf x'",
    'echo "a && rm -rf x"',
    "echo $(rm -rf x)",
    "echo `id`",
    "diff <(ls a) <(ls b)",
    "ls > out.txt",
    "ls 2>&1 >/dev/null",
    "sleep 1 &",
    "FOO=1 rm -rf /",
    "sudo rm -rf /",
    "ls\nrm -rf /",
    "bash -lc 'rm -rf /'",
    "$'rm' -rf /",
    "'r''m' -rf / > /dev/null",
    "ls 'a''b'",
    "cat <<EOF\n$(rm -rf /)\nEOF",
    "if true; then rm -rf /; fi",
    "{ ls; rm -rf /; }",
    "(ls; rm -rf /)",
    "f() { rm -rf /; }; f",
    "ls # ; rm -rf /",
    "ls$X",
    "",
    "   ",
    "git status " + "x " * 2500,
]


def tool_call(agent: str, tool: str, tool_input: Any, **extra: Any) -> bytes:
    body = {"session_id": "8f0c2a4e", "cwd": "/srv/app", "hook_event_name": EVENTS[agent],
            "tool_name": tool, "tool_input": tool_input, **extra}  # fmt: skip
    return json.dumps(body).encode()


def malformed(agent: str) -> list[bytes]:
    """Stdin that is not a tool call of ``agent`` (or barely is): each must fail closed."""
    good = tool_call(agent, SHELL_TOOL[agent], {"command": "git status"})
    return [
        b"",
        b"{",
        b"null",
        b"[]",
        good + b" extra",
        good + b"\n\t ",
        codecs.BOM_UTF8 + good,
        good.decode().encode("utf-16"),
        good.decode().encode("utf-32-le"),
        good.replace(b"git status", b"git \xff status"),
        b"[" * 100_000,
        b'{"hook_event_name": "%s", "tool_name": "Bash", "tool_input": {"command": NaN}}'
        % EVENTS[agent].encode(),
        b'{"hook_event_name": "%s", "tool_name": "Bash", "tool_input": {"a": 1, "a": 2}}'
        % EVENTS[agent].encode(),
        b'{"hook_event_name": "%s", "tool_name": "Bash", "tool_input": {"command": "\\ud800"}}'
        % EVENTS[agent].encode(),
        tool_call(agent, SHELL_TOOL[agent], {"command": "ls", "n": 10**400}),
        b"{" + b" " * MAX_HOOK_INPUT + b"}",
    ]


def hook_inputs() -> list[tuple[str, bytes]]:
    """(agent, stdin) pairs: every recorded sample with its agent (hostile ones with each),
    every command in ``COMMANDS`` in each agent's shell tool, and ``malformed`` stdin."""
    found: list[tuple[str, bytes]] = []
    for path in sorted(SAMPLES.glob("*.*")):
        if path.suffix not in (".json", ".txt"):
            continue
        agent = path.name.split("_")[0]
        agents = ["claude", "gemini", "codex"] if agent == "hostile" else [agent]
        found += [(a, path.read_bytes()) for a in agents]
    for agent in ("claude", "gemini", "codex"):
        found += [(agent, tool_call(agent, SHELL_TOOL[agent], {"command": c})) for c in COMMANDS]
        found += [(agent, data) for data in malformed(agent)]
    return found


JSON_TEXTS = [
    '{"a": 1, "b": [1, 2.5, -0.0, 1e400, -1e-400], "c": null, "d": true, "e": false}',
    '  \n\t{"nested": {"x": {"y": [[], {}]}}}\r\n ',
    '"just a string"',
    "12345678901234567890123456789012345678901234567890",
    "[NaN, Infinity, -Infinity]",
    '{"u": "\\u00e9\\ud83d\\ude00 caf\u00e9 \u2603", "s": "\\ud800 lone"}',
    '{"esc": "\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    '{"dup": 1, "dup": 2}',
    "",
    " ",
    "{",
    '{"a": 1} {"b": 2}',
    '{"a": 1}x',
    "[1, 2,]",
    '{"a" 1}',
    "'single'",
    '"\\x41"',
    '"control \x01 char"',
    "\ufeff{}",
    "nul",
    "-",
    "01",
    "[" * 5000 + "]" * 5000,
    "[" * 100_000,
]


def json_bytes() -> list[bytes]:
    texts = [t.encode("utf-8", "surrogatepass") for t in JSON_TEXTS]
    return [
        *texts,
        b'{"bad utf-8": "\xff\xfe"}',
        b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8: json decodes it with surrogatepass
        codecs.BOM_UTF8 + b'{"bom": 1}',
        '{"utf16": "\u00e9"}'.encode("utf-16"),
        '{"utf16le": 1}'.encode("utf-16-le"),
        '{"utf32be": 1}'.encode("utf-32-be"),
        b"\x00",
        b"[]",
        b"1",
        b"12",
    ]


JSON_VALUES: list[Any] = [
    {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny"}},
    {"u": "caf\u00e9 \u2603 \U0001f600", "lone": "\ud800", "ctl": "\x00\x1f\x7f"},
    [1, 2.5, -0.0, 1e300, float("inf"), float("-inf"), 10**40, True, False, None],
    {1: "int key", 2.5: "float key", None: "null key", False: "bool key"},
    {"nested": [{"a": [{"b": {}}]}], "empty": [], "t": (1, 2)},
    "plain string",
    "\u00e9",
    42,
    None,
]


@contextmanager
def decision_socket(
    policy: Path, decide: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> Iterator[None]:
    """The daemon's decision socket in ``policy``, answering with ``decide``, until closed."""
    loop = asyncio.new_event_loop()
    server = DecisionServer(policy, decide)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    assert asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


SHELLS = "^(Bash|run_shell_command)$"
NO_RM: dict[str, Any] = {
    "id": "no-rm", "name": "no rm -rf", "tool_pattern": SHELLS, "pattern_syntax": "regex",
    "param_pattern": r"\brm\s+-(rf|fr)\b", "action": "deny",
}  # fmt: skip
# Rules on files and fetches, the same in every rule set of the hook tests.
FILE_RULES: list[dict[str, Any]] = [
    {"id": "edit-src", "name": "edit src", "tool_pattern": "Edit",
     "param_pattern": "/srv/app/src/*", "action": "allow", "agent_filter": "claude"},
    {"id": "read-app", "name": "read app", "tool_pattern": "read_file",
     "param_pattern": "/srv/app/*", "action": "allow", "scope": "project", "scope_id": "proj-1"},
    {"id": "fetch", "name": "fetching needs a person", "tool_pattern": "WebFetch|web_fetch",
     "pattern_syntax": "regex", "action": "ask"},
]  # fmt: skip
RULES: list[dict[str, Any]] = [
    NO_RM,
    {"id": "git-status", "name": "git status", "tool_pattern": SHELLS, "pattern_syntax": "regex",
     "param_pattern": "^git status( |$)", "action": "allow"},
    {"id": "ls", "name": "ls", "tool_pattern": SHELLS, "pattern_syntax": "regex",
     "param_pattern": "^ls( |$)", "action": "allow"},
    {"id": "wc", "name": "wc, grep", "tool_pattern": SHELLS, "pattern_syntax": "regex",
     "param_pattern": "^(wc|grep) ", "action": "allow"},
    *FILE_RULES,
]  # fmt: skip


def write_rules(directory: Path, rules: list[dict[str, Any]], version: int = 1) -> None:
    """A rule cache file as the daemon leaves it (``cached_rules``)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    body = {"format": CACHE_FORMAT, "server_id": "srv-1", "version": version,
            "rule_set": {"version": version, "rules": rules}, "error": None}  # fmt: skip
    (directory / RULES_FILE).write_text(json.dumps(body))
