"""The pre-tool-use hook as installed: ``<python> -I -S <this file> pre-tool-use --agent X``.

Agents start a fresh process before every tool call, so its start-up is most of the hook's
latency. Run by path with ``-I -S``, Python skips ``site`` (the site-packages scan, ``.pth``
files) and ignores ``PYTHON*`` variables, the user's site directory and the current directory,
which also keeps a project's own ``json.py`` or the like out of our imports. We then append
this package's own root to ``sys.path`` (after the standard library, so nothing installed beside
us, such as a ``typing.py`` backport, stands in for it) and go straight to ``cli.pre_tool_use``,
which imports only built-in modules until it needs more (``pre_tool_use.third_party``).

An exception escaping all that (an import error after a half-finished upgrade, a failing
``site.main()``, a bug) would exit 1, which every agent takes as a non-blocking hook error and
runs the tool call anyway. So ``main`` refuses instead: the reason on stderr, the agent's deny
on stdout as for malformed input (``fail_closed``) when that can still be rendered, and exit 2,
which Claude Code, Gemini CLI and Codex all document as blocking, whatever stdout holds by then.

Arguments other than ``pre-tool-use [--agent X]`` (``--help``, the hub options) go to the full
CLI, exactly as ``orchestratia hook …`` would take them. ``install_hooks`` writes the command.
"""

import os
import sys

COMMAND = "pre-tool-use"


def package_root() -> str:
    """The directory holding the ``orchestratia`` package this file belongs to."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def hook_agent(args: list[str]) -> str | None:
    """The ``--agent`` of ``[--agent X]`` (claude if absent); None for any other argument."""
    agent = "claude"
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--agent" and rest:
            agent = rest.pop(0)
        elif arg.startswith("--agent="):
            agent = arg.split("=", 1)[1]
        else:
            return None
    return agent


def main(args: list[str]) -> int:
    try:
        return _entry(args)
    except Exception as exc:
        return refuse(args, exc)


def refuse(args: list[str], error: Exception) -> int:
    """Block the tool call the hook could not judge (module docstring); never raises."""
    detail = f"{type(error).__name__}: {error}"
    agent = (hook_agent(args[1:]) or "") if args[:1] == [COMMAND] else ""
    import contextlib

    with contextlib.suppress(Exception):  # as broken as the rest: then exit 2 alone blocks
        print(f"orchestratia: refused a tool call: the hook failed ({detail})", file=sys.stderr)
        from orchestratia.agent.approvals.hook_formats import AGENTS, fail_closed

        known = next((name for name in AGENTS if name == agent), None)
        if known is not None:
            reply = fail_closed(known, RuntimeError(f"the hook failed ({detail})"))
            sys.stdout.write(reply.stdout + "\n")
            sys.stdout.flush()
    return 2


def _entry(args: list[str]) -> int:
    root = package_root()
    if root not in sys.path:
        sys.path.append(root)
    from orchestratia.cli.pre_tool_use import fast_main, third_party

    code = fast_main(args[1:]) if args[:1] == [COMMAND] else None
    if code is not None:
        return code
    third_party()
    from orchestratia.cli.main import main as full_main

    sys.argv = ["orchestratia", "hook", *args]
    full_main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
