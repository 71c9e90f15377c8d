"""The plain-command tokenizer (``shell_commands._plain_commands``) gives exactly what the bashlex
walk gives (parts, refusal, and the texts for rules, unquoted as bash does on both paths:
``'a''b'`` is ``ab``, though bashlex's own word is ``a''b``), on every string of the shell-rule
tests, the hook corpus and thousands of generated commands; where it is not sure it steps aside,
and then bashlex decides as before."""

from __future__ import annotations

import ast
import random
from pathlib import Path

from orchestratia.rules import shell_commands
from orchestratia.rules.shell_commands import split_command
from tests.unit.hook_corpus import COMMANDS

TEST_SOURCES = ("test_compound_commands.py", "test_rule_matcher.py", "test_hook_formats.py")
TOKENS = [
    "ls", "-la", "git", "status", "--short", "rm", "-rf", "/", "build/", "*.py", "a?c", "x=1",
    "FOO=bar", "--since=12d", "'a b'", '"c;d"', "'it'\"s\"", "''", '""', "'$(id)'", '"$HOME"',
    "&&", "||", "|", ";", "\n", "&", ">", ">>", "2>&1", "<", "$(x)", "`y`", "if", "then", "fi",
    "{", "}", "(", ")", "#", "~", "!", "[", "]", "\t", "  ", "a\\ b", "é", "done", "in", "time",
    "sudo", "echo", "grep", "-E", "'^x|y$'", '"a|b"', "'a&&b'", "%", "@x", "a,b", "+1", "^",
    "'a''b'", "'r''m'", '"a"\'b\'c', "x''y", "''\"\"", "'-'rf",
]  # fmt: skip


def strings_of_tests() -> list[str]:
    """Every string constant in the shell-rule and hook-format tests, read as data."""
    found: list[str] = []
    for name in TEST_SOURCES:
        tree = ast.parse((Path(__file__).parent / name).read_text())
        found += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str)]  # fmt: skip
    return found


def generated(count: int, seed: int = 17) -> list[str]:
    rng = random.Random(seed)
    plain = [t for t in TOKENS if shell_commands._plain_commands(t) is not None]
    commands = []
    for i in range(count):
        pool = [*plain, "&&", "||", "|", ";", "\n", "  "] if i % 2 else TOKENS  # half plain
        commands.append(" ".join(rng.choice(pool) for _ in range(rng.randint(1, 9))))
    return commands


def test_the_tokenizer_splits_as_bashlex_does() -> None:
    corpus = [*COMMANDS, *strings_of_tests(), *generated(1500)]
    taken = 0
    for command in corpus:
        assert split_command(command) == split_command(command, plain=False), repr(command)
        taken += shell_commands._plain_commands(command.strip()) is not None
    assert taken > len(corpus) // 4, (taken, len(corpus))  # it does read the common case


COMMON = ("git status --short", "ls -la && rm -rf build", "ls; rm -rf /",
          "ls | grep -E 'a|b' | wc -l", "git log --since=12d --oneline", "echo 'a; rm -rf x'",
          "pytest -q tests/unit -n 2 || true\nmake lint")  # fmt: skip
NOT_PLAIN = ("FOO=1 ls", "ls > f", "sleep 1 &", "echo $HOME", "echo `id`", "ls # x",
             "if true; then ls; fi", "{ ls; }", "(ls)", "ls;", "; ls", "ls ;; x", "cd ~",
             'echo "a\\"b"', "echo 'unterminated", "[ -f x ]", "! ls")  # fmt: skip


def test_common_commands_never_need_bashlex() -> None:
    for command in COMMON:
        assert shell_commands._plain_commands(command) is not None, command


def test_what_it_does_not_read_goes_to_bashlex() -> None:
    for command in NOT_PLAIN:
        assert shell_commands._plain_commands(command) is None, command
