"""Pre-tool-use hook latency from the rule cache (SPEC §13: decision ≤ 50 ms p99).

A realistic rule set (200 rules: globs and RE2 regexes, deny/allow/ask, tenant/project/server
scopes, agent filters) is cached the way the daemon caches it, and a mix of tool calls that the
rules decide (allow or deny, so no person is involved) is judged:

(a) in process: ``decide_from_cache`` (read the file, validate, compile every pattern, match),
    and the match alone with a prebuilt ``RuleMatcher`` (what the daemon does per call);
(b) the whole hook process, wall time from spawn to exit, run through ``/bin/sh -c`` as the
    agents run it, with the daemon up (its matcher answers over the socket: the normal case) and
    down (the hook decides from the cache file itself). Variants, interleaved run by run so load
    changes hit them alike:
    - ``installed``: the command line ``install-hooks`` writes (``python -I -S …/hook_entry.py``);
    - ``console_script``: ``orchestratia hook pre-tool-use``, what earlier versions installed;
    - ``before`` (with ``--before SRC``, a source tree of an earlier version): its console entry;
    - ``python_isolated_start`` and ``python_start``: ``python [-I -S] -c pass``, the baseline.
Processes run with a bytecode cache (``PYTHONPYCACHEPREFIX``; ``-I`` ignores it and uses the
``__pycache__`` beside the sources) as an installed package has. CPU time (user + sys) per
process is reported too: on a loaded machine it is the steadier figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from harness import emit, summary_ms
from orchestratia.agent.approvals.cached_rules import CachedRules, decide_from_cache
from orchestratia.agent.approvals.decision_server import DecisionServer
from orchestratia.agent.approvals.rule_cache import RuleCache
from orchestratia.agent.config import AgentConfig
from orchestratia.cli.install_hooks import Programs, hook_command
from orchestratia.protocol.approvals import RuleSet
from orchestratia.rules.matching import RuleMatcher
from orchestratia.rules.patterns import CheckedRuleSet

BAR_UP_P99_MS = 25.0  # issue 17: the whole process, daemon up
BAR_DOWN_P99_MS = 60.0  # and daemon down
RULES = 200
N_IN_PROCESS = 300
N_PROCESS = 200
N_SLOW = 40  # the slow variants only need enough runs to show their size
SHELLS = "^(Bash|run_shell_command|shell)$"


def rule_set() -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for i in range(RULES // 4):
        rules += [
            {"id": f"deny-{i:03}", "name": f"deny {i}", "action": "deny", "tool_pattern": SHELLS,
             "pattern_syntax": "regex", "param_pattern": rf"\b(rm|shred)\s+-\w*{i}\w*\s"},
            {"id": f"allow-{i:03}", "name": f"git {i}", "action": "allow", "tool_pattern": "Bash",
             "param_pattern": f"git log --since={i}d*", "priority": i},
            {"id": f"edit-{i:03}", "name": f"edit {i}", "action": "allow", "tool_pattern": "Edit",
             "param_pattern": f"/srv/app{i}/src/*", "scope": "project", "scope_id": "proj-1",
             "agent_filter": ["claude"]},
            {"id": f"ask-{i:03}", "name": f"fetch {i}", "action": "ask", "tool_pattern": "Web*",
             "param_pattern": f"https://site{i}.example/*", "scope": "server",
             "scope_id": "srv-1"},
        ]  # fmt: skip
    rules += [
        {"id": "zz-status", "name": "git status", "action": "allow", "tool_pattern": "Bash",
         "param_pattern": "git status*", "priority": -10},
        {"id": "zz-no-rm", "name": "no rm -rf", "action": "deny", "tool_pattern": SHELLS,
         "pattern_syntax": "regex", "param_pattern": r"\brm\s+-(rf|fr)\b", "priority": -10},
    ]  # fmt: skip
    return CheckedRuleSet.model_validate({"version": 1, "rules": rules}).model_dump(mode="json")


CALLS = [
    ("Bash", {"command": "git status --short"}),  # allowed by the last allow rule
    ("Bash", {"command": "rm -rf build/ dist/"}),  # denied after scanning every deny rule
    ("Edit", {"file_path": "/srv/app37/src/login.py", "old_string": "a", "new_string": "b"}),
    ("Bash", {"command": "git log --since=12d --oneline"}),
]


def stdin_for(tool: str, tool_input: dict[str, Any]) -> bytes:
    return json.dumps({
        "session_id": "8f0c2a4e", "transcript_path": "/tmp/t.jsonl", "cwd": "/srv/app",
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": tool,
        "tool_input": tool_input, "tool_use_id": "toolu_01",
    }).encode()  # fmt: skip


def in_process(directory: Path) -> tuple[list[float], list[float]]:
    requests: list[dict[str, Any]] = [
        {"agent": "claude", "tool": t, "tool_input": i, "session_id": "s1", "project_id": "proj-1"}
        for t, i in CALLS
    ]
    load_and_match, match_only = [], []
    matcher = RuleMatcher(RuleSet.model_validate(rule_set()))
    for n in range(N_IN_PROCESS):
        request = requests[n % len(requests)]
        start = time.perf_counter()
        verdict = decide_from_cache(directory, request)
        load_and_match.append(time.perf_counter() - start)
        assert verdict["action"] in ("allow", "deny"), verdict
        start = time.perf_counter()
        matcher.decide("claude", request["tool"], request["tool_input"], "srv-1", "proj-1", "s1")
        match_only.append(time.perf_counter() - start)
    return load_and_match, match_only


Variant = tuple[str, dict[str, str]]  # a command line (run through sh -c) and its environment


def processes(variants: dict[str, Variant], n: int) -> dict[str, dict[str, Any]]:
    """Each variant run ``n`` times (after two warm-up rounds), interleaved."""
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(n + 2):  # two warm-up rounds fill the bytecode and page caches
        tool, tool_input = CALLS[i % len(CALLS)]
        for name, (command, env) in variants.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(["/bin/sh", "-c", command], input=stdin_for(tool, tool_input),
                                  env=env, capture_output=True, check=True, timeout=60)  # fmt: skip
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if not name.startswith("python"):  # a hook run, not the bare interpreter baseline
                answer = json.loads(done.stdout)["hookSpecificOutput"]["permissionDecision"]
                assert answer in ("allow", "deny"), done.stdout
            if i >= 2:
                wall[name].append(elapsed)
                cpu[name].append(
                    after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                )
    figures: dict[str, dict[str, Any]] = {}
    for name in variants:
        figures[name] = summary_ms(wall[name])
        figures[name]["cpu_p50_ms"] = summary_ms(cpu[name])["p50_ms"]
    return figures


class DaemonSocket:
    """The daemon's decision socket on a background event loop."""

    def __init__(self, cache: RuleCache) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = DecisionServer(cache.directory, cache.decide)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> DaemonSocket:
        self.thread.start()
        assert asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def console_script() -> Path:
    script = Path(sys.executable).parent / "orchestratia"
    if not script.exists():
        raise SystemExit(f"no console script at {script}; install the package first")
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before",
        type=Path,
        help="source tree (holding src/) of an earlier "
        "version, whose console entry is run interleaved as the baseline",
    )
    parser.add_argument("-n", type=int, default=N_PROCESS, help="runs per variant, daemon up")
    parser.add_argument("--n-down", type=int, default=N_SLOW, help="runs per variant, daemon down")
    args = parser.parse_args()  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="orc-hook-bench-"))
    try:
        measure(root, args.before, args.n, args.n_down)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(root: Path, before: Path | None, n_up: int, n_down: int) -> None:
    config = AgentConfig(hub_url="http://127.0.0.1:9", api_key="k", server_id="srv-1",
                         name="bench", state_dir=root / "state" / "sessions")  # fmt: skip
    cache = RuleCache(config, httpx.AsyncClient)  # never fetches: the set is stored directly
    cache.load()
    cache.store(CachedRules("srv-1", 1, rule_set(), checked=True))  # as RuleCache.refresh does
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATIA_", "PYTHON"))}
    env = {
        **base,
        "PYTHONPYCACHEPREFIX": str(root / "pycache"),
        "ORCHESTRATIA_SESSION_ID": "s1",
        "ORCHESTRATIA_PROJECT_ID": "proj-1",
        "ORCHESTRATIA_POLICY_DIR": str(cache.directory),
        "ORCHESTRATIA_HUB_URL": "http://127.0.0.1:9",  # never called: the rules decide
        "ORCHESTRATIA_API_KEY": "orcs_x",
    }
    script = str(console_script())
    installed = hook_command(Programs(script, sys.executable), "pre-tool-use", "claude")
    hook_args = ["hook", "pre-tool-use", "--agent", "claude"]
    variants: dict[str, Variant] = {
        "installed": (installed, env),
        "console_script": (shlex.join([script, *hook_args]), env),
    }
    if before is not None:
        entry = "from orchestratia.cli.console import main; main()"
        old_env = {**env, "PYTHONPATH": str(before.absolute() / "src")}
        variants["before"] = (shlex.join([sys.executable, "-c", entry, *hook_args]), old_env)
    variants["python_isolated_start"] = (
        shlex.join([sys.executable, "-I", "-S", "-c", "pass"]),
        env,
    )
    variants["python_start"] = (shlex.join([sys.executable, "-c", "pass"]), env)

    load_and_match, match_only = in_process(cache.directory)
    with DaemonSocket(cache):
        daemon_up = processes(variants, n_up)
    daemon_down = processes(variants, n_down)
    emit({
        "bench": "hook_latency",
        "rules": len(rule_set()["rules"]),
        "installed_command": installed,
        "in_process_load_and_match": summary_ms(load_and_match),
        "in_process_match_only": summary_ms(match_only),
        "daemon_up": daemon_up,
        "daemon_down": daemon_down,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "bar_up_p99_ms": BAR_UP_P99_MS,
        "bar_down_p99_ms": BAR_DOWN_P99_MS,
        "meets_up_bar": daemon_up["installed"]["p99_ms"] <= BAR_UP_P99_MS,
        "meets_down_bar": daemon_down["installed"]["p99_ms"] <= BAR_DOWN_P99_MS,
    })  # fmt: skip


if __name__ == "__main__":
    main()
