"""A scripted stand-in for an AI coding agent, run as a session's program by the real daemon.

It behaves like an agent's terminal UI, only predictably: it shows a prompt, reads what is typed
into its terminal line by line, and when a line mentions ``orchestratia task check`` (which is
what the daemon's deliveries tell an agent to run) it works its tasks with the REAL agent CLI:

    orchestratia task check --json
    orchestratia task view <id> --json            for each task it has not finished yet
    orchestratia task start <id> --epoch N --json (tasks still ``assigned``)
    ... optional delay, or a wait for a file to appear ...
    orchestratia task complete <id> --result '<json>' --epoch N --json
      or orchestratia task fail <id> --error '...' --epoch N --json

Two more flows, also driven by the lines the daemon types (``delivery_text``):

* **Help.** A task whose script has ``help`` is asked about after ``start``:
  ``orchestratia task help <id> --question ... [--context ...] [--type ...] --epoch N``. The
  stand-in then waits, reading its terminal as usual, for the line ``[orchestratia] ...Response
  to your request on task <id>: <answer>``; it records each such line (``response`` entries, with
  a running ``count`` per task, so a second copy would show) and then works the task on to
  ``complete``. The answer itself is not printed again: on the screen it appears once, as typed.
* **Plan mode.** An assignment that says ``Plan first: ... orchestratia task plan <id>`` (the task
  is ``planning``) makes it submit ``plan.first`` with ``orchestratia task plan <id> --plan ...``;
  a ``Plan for task <id> needs revision: <feedback> ...`` line is recorded (``plan_feedback``)
  and answered with ``plan.revised``; ``Plan approved for task <id>`` means the task is
  ``running`` (no ``start``): it is worked to ``complete``.

It uses only what the daemon gives a session: ``ORCHESTRATIA_HUB_URL``, ``ORCHESTRATIA_API_KEY``
(the per-session token), ``ORCHESTRATIA_SESSION_ID`` and ``ORCHESTRATIA_PROJECT_ID`` reach the
CLI through the inherited environment; nothing is passed on the command line. Every command and
its outcome is printed to the terminal for whoever watches, and appended as one JSON object per
line to ``--transcript`` (if given) for tests. A refused command (a blocked start, a stale
epoch) is printed and the stand-in carries on; the task stays unfinished, so the next
``task check`` tries it again.

The script (``--script``, JSON) says what to do per task title::

    {
      "name": "schema-agent",
      "tasks": {
        "Design schema": {
          "result": {"summary": "...", "contracts": {"db_schema": {"type": "db_schema", ...}}},
          "delay": 0.5,                 # seconds between start and complete
          "wait_for": "/tmp/gate",      # or: complete once this file exists
          "wait_max": 900,              # ... or after this many seconds (default 300)
          "echo_inputs": true,          # add the resolved_inputs seen to the result
          "fail": "reason",             # fail the task with this error instead of completing
          "help": {"question": "...", "context": "...", "type": "help"},  # ask, await the answer
          "plan": {"first": "...", "revised": "..."}  # plans to submit when a plan is required
        }
      },
      "default": {"result": {"summary": "done"}}
    }

Lines ``quit`` or ``exit`` (or end of input) end the program. Standard library only: it starts
fast, and the daemon runs it with whatever Python the test names.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROMPT = "standin> "
CHECK_PHRASE = "orchestratia task check"
ENV_NEEDED = (
    "ORCHESTRATIA_HUB_URL",
    "ORCHESTRATIA_API_KEY",
    "ORCHESTRATIA_SESSION_ID",
    "ORCHESTRATIA_PROJECT_ID",
)
CLI_TIMEOUT = 60.0
WAIT_POLL = 0.05
MAX_WAIT = 300.0
SHOWN_ARG = 70  # long arguments (a result's JSON) are shortened on screen, not in the transcript
# Lines the daemon types (orchestratia.agent.delivery.text); ids are 8-character prefixes.
RESPONSE = re.compile(r"Response to your request(?: on task (\S+))?: (.*)$")
REVISION = re.compile(r"Plan for task (\S+) needs revision: (.*) Revise it and resubmit: ")
APPROVED = re.compile(r"Plan approved for task (\S+): proceed with the work")
PLAN_FIRST = re.compile(r"Plan first: read it with orchestratia task view (\S+),")


class Agent:
    def __init__(self, script: dict[str, Any], cli: str, transcript: Path | None) -> None:
        self.script = script
        self.cli = cli
        self.transcript = transcript
        self.name = str(script.get("name") or "standin")
        self.finished: set[str] = set()  # tasks completed or failed by this agent
        self.seen: set[str] = set()  # full ids of tasks viewed, to resolve the ids in deliveries
        self.asked: dict[str, Any] = {}  # task id -> intervention id of its help request
        self.responses: dict[str, int] = {}  # task id (or "") -> responses received
        self.feedback: dict[str, list[str]] = {}  # task id -> revision feedback received

    # --- output ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def record(self, **entry: Any) -> None:
        if self.transcript is None:
            return
        entry["at"] = time.time()
        with self.transcript.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    # --- the CLI --------------------------------------------------------------------------------

    def run(self, *args: str) -> tuple[int, Any]:
        """Run ``orchestratia ARGS --json``; (exit status, parsed JSON or the raw text)."""
        argv = [self.cli, *args, "--json"]
        shown = " ".join(_short(shlex.quote(a)) for a in ["orchestratia", *args, "--json"])
        self.say(f"$ {shown}")
        started = time.time()
        try:
            # Not the terminal as stdin: a line typed meanwhile is the stand-in's to read.
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
            rc, text = done.returncode, (done.stdout.strip() or done.stderr.strip())
        except (OSError, subprocess.TimeoutExpired) as exc:
            rc, text = -1, f"could not run {self.cli}: {exc}"
        try:
            reply: Any = json.loads(text)
        except ValueError:
            reply = text
        command = args[1] if len(args) > 1 else args[0]
        self.record(
            event="command", command=command, argv=list(args), rc=rc, reply=reply, started=started
        )
        if rc != 0:
            message = reply.get("error") if isinstance(reply, dict) else reply
            self.say(f"  ! refused (exit {rc}): {message}")
        return rc, reply

    # --- behaviour ------------------------------------------------------------------------------

    def plan_for(self, title: str) -> dict[str, Any]:
        tasks = self.script.get("tasks") or {}
        plan = tasks.get(title, self.script.get("default") or {})
        return dict(plan)

    def check(self) -> None:
        rc, reply = self.run("task", "check")
        if rc != 0 or not isinstance(reply, dict):
            return
        tasks = [t for t in reply.get("tasks") or [] if isinstance(t, dict)]
        self.say(f"  {len(tasks)} task(s) for this session")
        for task in tasks:
            if task.get("id") in self.finished:
                continue
            try:
                self.work(task)
            except Exception as exc:  # a stand-in must keep going, like an agent would
                self.say(f"  ! error while working task {task.get('id')}: {exc!r}")
                self.record(event="error", task=task.get("id"), error=repr(exc))

    def work(self, summary: dict[str, Any]) -> None:
        rc, task = self.run("task", "view", str(summary["id"]))
        if rc != 0 or not isinstance(task, dict):
            return
        task_id = str(task.get("id") or summary["id"])  # a delivery names a prefix
        self.seen.add(task_id)
        if task_id in self.finished:
            return
        title = str(task.get("title", ""))
        epoch = str(task.get("epoch", ""))
        inputs = task.get("resolved_inputs") or {}
        self.say(f'  task "{title}" is {task.get("status")}; inputs: {sorted(inputs) or "none"}')
        plan = self.plan_for(title)
        status = task.get("status")
        if status == "planning":
            self.submit_plan(task_id, epoch, title, plan)
            return
        if status == "assigned":
            rc, _ = self.run("task", "start", task_id, "--epoch", epoch)
            if rc != 0:
                return  # e.g. blocked: the next check tries again
            self.say("  working...")
        elif status != "running":
            self.say(f"  nothing to do while it is {status}")
            return
        if plan.get("help") and task_id not in self.asked:
            self.ask_help(task_id, epoch, dict(plan["help"]))
            return
        self.pause(plan)
        if plan.get("fail"):
            rc, _ = self.run(
                "task", "fail", task_id, "--error", str(plan["fail"]), "--epoch", epoch
            )
        else:
            result = dict(plan.get("result") or {"summary": f"{title}: done by {self.name}"})
            if plan.get("echo_inputs"):
                result["received_inputs"] = inputs
            rc, _ = self.run(
                "task", "complete", task_id, "--result", json.dumps(result), "--epoch", epoch
            )
        if rc == 0:
            self.finished.add(task_id)
            self.say(f'  finished "{title}"')
            self.record(event="finished", task=task_id, title=title)

    def ask_help(self, task_id: str, epoch: str, spec: dict[str, Any]) -> None:
        """Ask a person; the task is worked on when the answer is typed in (``on_response``)."""
        args = ["task", "help", task_id, "--question", str(spec.get("question") or "help?")]
        if spec.get("context"):
            args += ["--context", str(spec["context"])]
        if spec.get("type"):
            args += ["--type", str(spec["type"])]
        rc, reply = self.run(*args, "--epoch", epoch)
        if rc == 0:  # a refused request is asked again at the next check
            self.asked[task_id] = reply.get("intervention_id") if isinstance(reply, dict) else None
            self.say("  waiting for an answer...")

    def submit_plan(self, task_id: str, epoch: str, title: str, plan: dict[str, Any]) -> None:
        spec = dict(plan.get("plan") or {})
        revision = task_id in self.feedback
        text = spec.get("revised") if revision else None
        text = text or spec.get("first") or f"plan for {title} by {self.name}"
        value = text if isinstance(text, str) else json.dumps(text)
        rc, _ = self.run("task", "plan", task_id, "--plan", value, "--epoch", epoch)
        if rc == 0:
            self.say("  plan submitted; waiting for review")
            self.record(event="planned", task=task_id, revision=revision, plan=text)

    def resolve(self, ref: str) -> str:
        """The full id of a task this agent has seen, from the prefix a delivery names."""
        found = sorted(t for t in self.seen if t.startswith(ref))
        return found[0] if ref and found else ref

    def on_response(self, ref: str, response: str) -> None:
        task_id = self.resolve(ref)
        count = self.responses[task_id] = self.responses.get(task_id, 0) + 1
        on = f" on task {task_id}" if task_id else ""
        # Not the answer's text: the typed line shows it, and it must show exactly once.
        self.say(f"  answer #{count} received{on}")
        self.record(event="response", task=task_id or None, response=response, count=count)
        if task_id in self.asked and task_id not in self.finished:
            self.work({"id": task_id})

    def on_revision(self, ref: str, feedback: str) -> None:
        task_id = self.resolve(ref)
        received = self.feedback.setdefault(task_id, [])
        received.append(feedback)
        self.say(f"  revision #{len(received)} requested on task {task_id}")
        self.record(event="plan_feedback", task=task_id, feedback=feedback, count=len(received))
        self.work({"id": task_id})

    def on_line(self, text: str) -> None:
        """React to one line read from the terminal (a delivery, or what a person typed)."""
        if m := RESPONSE.search(text):
            self.on_response(m.group(1) or "", m.group(2))
        elif m := REVISION.search(text):
            self.on_revision(m.group(1), m.group(2))
        elif m := APPROVED.search(text):
            self.say("  plan approved")
            self.record(event="plan_approved", task=self.resolve(m.group(1)))
            self.work({"id": m.group(1)})
        elif m := PLAN_FIRST.search(text):
            self.work({"id": m.group(1)})
        elif CHECK_PHRASE in text:
            self.check()
        elif text:
            self.say(f"  (nothing to do for: {_short(text)})")

    def pause(self, plan: dict[str, Any]) -> None:
        delay = float(plan.get("delay") or 0)
        if delay > 0:
            time.sleep(delay)
        gate = plan.get("wait_for")
        if gate:
            self.say(f"  waiting for {gate}")
            deadline = time.monotonic() + float(plan.get("wait_max") or MAX_WAIT)
            while not Path(gate).exists() and time.monotonic() < deadline:
                time.sleep(WAIT_POLL)

    def loop(self) -> int:
        missing = [k for k in ENV_NEEDED if not os.environ.get(k)]
        self.say(f"[{self.name}] stand-in agent ready; cli: {self.cli}")
        if missing:
            self.say(f"[{self.name}] warning: not set: {', '.join(missing)}")
        self.record(event="ready", missing_env=missing, session=os.environ.get(ENV_NEEDED[2]))
        while True:
            sys.stdout.write(PROMPT)
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                return 0
            text = line.strip()
            self.record(event="line", text=text)
            if text in ("quit", "exit"):
                return 0
            try:
                self.on_line(text)
            except Exception as exc:  # a stand-in must keep going, like an agent would
                self.say(f"  ! error while handling a line: {exc!r}")
                self.record(event="error", task=None, error=repr(exc))


def _short(arg: str) -> str:
    return arg if len(arg) <= SHOWN_ARG else arg[: SHOWN_ARG - 3] + "..."


def find_cli(given: str | None) -> str:
    """``--cli``, else ``orchestratia`` next to this Python, else on ``PATH``."""
    if given:
        return given
    sibling = Path(sys.executable).parent / "orchestratia"
    if sibling.exists():
        return str(sibling)
    return shutil.which("orchestratia") or "orchestratia"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, required=True, help="JSON script (see above)")
    parser.add_argument("--cli", help="absolute path of the orchestratia executable")
    parser.add_argument("--transcript", type=Path, help="append a JSON line per step here")
    args = parser.parse_args(argv)
    script = json.loads(args.script.read_text(encoding="utf-8"))
    return Agent(script, find_cli(args.cli), args.transcript).loop()


if __name__ == "__main__":
    sys.exit(main())
