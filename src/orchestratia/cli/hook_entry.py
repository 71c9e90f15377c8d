"""The pre-tool-use hook as installed: ``<python> -I -S <this file> pre-tool-use --agent X``.

Agents start a fresh process before every tool call, so its start-up is most of the hook's
latency. Run by path with ``-I -S``, Python skips ``site`` (the site-packages scan, ``.pth``
files) and ignores ``PYTHON*`` variables, the user's site directory and the current directory,
which also keeps a project's own ``json.py`` or the like out of our imports. We then put this
package's own root on ``sys.path`` and go straight to ``cli.pre_tool_use``, which imports only
built-in modules until it needs more (``pre_tool_use.third_party``).

Arguments other than ``pre-tool-use [--agent X]`` (``--help``, the hub options) go to the full
CLI, exactly as ``orchestratia hook …`` would take them. ``install_hooks`` writes the command.
"""

import os
import sys

COMMAND = "pre-tool-use"


def package_root() -> str:
    """The directory holding the ``orchestratia`` package this file belongs to."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(args: list[str]) -> int:
    root = package_root()
    if root not in sys.path:
        sys.path.insert(0, root)
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
