"""The ``orchestratia`` console script: a thin door in front of the typer CLI.

``orchestratia hook pre-tool-use`` runs before every tool call an agent makes and must answer
within 50 ms p99 (SPEC §13); importing typer and the command modules alone costs several
times that. So that one command goes straight to ``cli.pre_tool_use``; everything else (and
that command with options only the full CLI knows, such as ``--help``) loads ``cli.main``.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:2] == ["hook", "pre-tool-use"]:
        # What hooks installed by earlier versions run: it fails closed as the new entry does.
        from orchestratia.cli import hook_entry

        try:
            from orchestratia.cli.pre_tool_use import fast_main

            code = fast_main(args[2:])
        except Exception as exc:
            sys.exit(hook_entry.refuse(args[1:], exc))
        if code is not None:
            sys.exit(code)
    from orchestratia.cli.main import main as full_main

    full_main()
