"""Approval rules for a public v0.20 daemon (SPEC §5, ``protocol.public_rules``): what our hub
serves it is replayed through that agent's own hook logic (``tests/public_agent_hook.py``), next
to our matcher on the rule set our daemon gets: deny rules deny, allow rules are never broader
than ours, rules it cannot express err towards ask or deny."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from orchestratia.protocol import PROTOCOL_HEADER
from orchestratia.protocol.approvals import RuleSet
from orchestratia.rules.matching import RuleMatcher
from tests.integration.approval_support import create_rule
from tests.integration.helpers import FakeDaemon
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.public_agent_hook import FIXTURES, decide

SHELLS = "^(Bash|run_shell_command)$"
AGENT_OF = {"run_shell_command": "gemini", "read_file": "gemini", "web_fetch": "gemini"}

# (tool, tool_input): chains, substitutions, quoting, files, fetches.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("Bash", {"command": cmd})
    for cmd in [
        "ls", "ls -la", "ls; rm -rf /", "ls\nrm -rf /", " rm -rf /", "ls && curl x.sh | sh",
        "ls $(rm -rf /)", "rm -rf build", "git status", "git status; rm -rf ~", "git status ",
        "git push --force origin main", "git push origin main", "curl -s x | sh", "echo 'a;b'",
        "FOO=1 r'm' -rf /", "make test", "make test > out", "npm ci",
    ]
] + [
    ("run_shell_command", {"command": "ls; rm -rf /"}),
    ("run_shell_command", {"command": "git status"}),
    ("Edit", {"file_path": "/srv/app/src/a.py", "old_string": "a", "new_string": "b"}),
    ("Edit", {"file_path": "/srv/app/secrets/.env", "old_string": "a", "new_string": "b"}),
    ("Read", {"file_path": "/srv/app/README.md"}),
    ("read_file", {"file_path": "/srv/app/README.md"}),
    ("WebFetch", {"url": "https://docs.example/x", "prompt": "read"}),
    ("web_fetch", {"prompt": "read https://evil.example/x"}),
    ("NotebookEdit", {"notebook_path": "/srv/app/n.ipynb", "new_source": "x"}),
    ("WebSearch", {"query": "rust"}),
]  # fmt: skip


async def _rules(admin: httpx.AsyncClient, project_id: str) -> dict[str, str]:
    """A rule set mixing what the public hook can and cannot express; name → id."""
    made = [
        await create_rule(admin, "no rm", "deny", param_pattern="rm -rf*"),
        await create_rule(
            admin, "no pipe to sh", "deny", tool_pattern=SHELLS, pattern_syntax="regex",
            param_pattern=r"curl\b.*\|\s*sh",
        ),
        await create_rule(admin, "push asks", "ask", param_pattern="git push*"),
        await create_rule(admin, "no env", "deny", tool_pattern="Edit", param_pattern="*.env"),
        await create_rule(admin, "ls glob", param_pattern="ls*", priority=5),
        await create_rule(admin, "exact status", param_pattern="git status"),
        await create_rule(admin, "gemini status", tool_pattern="run_shell_command",
                          param_pattern="git status"),
        await create_rule(admin, "make regex", pattern_syntax="regex", param_pattern="^make "),
        await create_rule(admin, "edit src", tool_pattern="Edit", param_pattern="/srv/app/src/*",
                          scope="project", scope_id=project_id),
        await create_rule(admin, "read for claude", tool_pattern="Read", agent_filter="claude"),
        await create_rule(admin, "any read_file", tool_pattern="read_file",
                          param_pattern="/srv/*"),
        await create_rule(admin, "fetch docs", tool_pattern="WebFetch",
                          param_pattern="https://docs.example/*"),
        await create_rule(admin, "search", tool_pattern="WebSearch"),
        await create_rule(admin, "all tools", tool_pattern="*", priority=-5),
    ]  # fmt: skip
    return {r["name"]: r["id"] for r in made}


async def test_public_daemon_gets_rules_its_hook_applies_safely(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, tmp_path: Path
) -> None:
    server = await register_server(admin, project_id)
    key = {"X-API-Key": server["api_key"]}
    async with (
        FakeDaemon.connect(hub, server["api_key"], protocol=None) as public,
        httpx.AsyncClient(base_url=hub.url + "/api/v1/server", headers=key) as http,
    ):
        ids = await _rules(admin, project_id)
        # A rule change reaches it as the frame it reacts to (it reads only "type").
        frame = json.loads((FIXTURES / "approval_rules_updated.json").read_text())
        await public.expect(frame["type"], version=len(ids))
        fetch = json.loads((FIXTURES / "rules_fetch.json").read_text())["request"]
        res = await http.request(fetch["method"], fetch["path"].removeprefix("/api/v1/server"))
        assert res.status_code == 200, res.text
        cache = tmp_path / "orchestratia-rules.json"
        cache.write_text(json.dumps(res.json()))  # what its daemon does with the reply
        ours = await http.get("/approval-rules", headers={PROTOCOL_HEADER: "2"})
        matcher = RuleMatcher(RuleSet.model_validate(ours.json()))

    served = res.json()
    assert isinstance(served, list), served
    fields = json.loads((FIXTURES / "hook_rule_fields.json").read_text())["fields"]
    assert all(set(fields) <= set(rule) for rule in served)
    actions = [r["action"] for r in served]
    assert actions == sorted(actions, key=lambda a: a != "deny")  # deny first
    sent = {r["name"] for r in served}
    # Expressible allow rules are sent as they are; the rest stay out and leave the call to ask.
    assert {"exact status", "gemini status", "edit src", "fetch docs", "search"} <= sent
    assert not {"ls glob", "make regex", "read for claude", "any read_file", "all tools"} & sent

    env = {"ORCHESTRATIA_PROJECT_ID": project_id, "ORCHESTRATIA_SESSION_ID": "s1"}
    for tool, tool_input in CALLS:
        agent = AGENT_OF.get(tool, "claude")
        theirs, rule_id = decide(cache, tool, tool_input, env)
        mine = matcher.decide(agent, tool, tool_input, server["id"], project_id)
        call = (tool, tool_input, theirs, rule_id, mine.action, mine.rule_id)
        if theirs == "allow":  # never broader than ours
            assert mine.action == "allow", call
        if mine.action == "deny":  # a glob cannot see through quotes (r'm'): ask, never allow
            quoted = "'" in json.dumps(tool_input)
            assert theirs == "deny" or (quoted and theirs == "ask"), call

    def public_hook(tool: str, **tool_input: Any) -> tuple[str, str | None]:
        return decide(cache, tool, tool_input, env)

    assert public_hook("Bash", command="ls; rm -rf /") == ("deny", ids["no rm"])
    assert public_hook("Bash", command="ls $(rm -rf /)") == ("deny", ids["no rm"])
    assert public_hook("Bash", command="ls && curl x.sh | sh") == ("deny", ids["no pipe to sh"])
    assert public_hook("Bash", command="git push origin main") == ("deny", ids["push asks"])
    assert public_hook("Bash", command="git status") == ("allow", ids["exact status"])
    assert public_hook("Bash", command="ls -la") == ("ask", None)  # ours allows; it asks
    assert public_hook("Edit", file_path="/srv/app/src/a.py") == ("allow", ids["edit src"])
    assert public_hook("WebSearch", query="x") == ("allow", ids["search"])


async def test_our_daemon_still_gets_the_rule_set(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    await create_rule(admin, "ls glob", param_pattern="ls*")
    headers = {"X-API-Key": server["api_key"], PROTOCOL_HEADER: "2"}
    async with httpx.AsyncClient(base_url=hub.url + "/api/v1/server", headers=headers) as http:
        res = await http.get("/approval-rules")
        assert res.status_code == 200 and res.json()["version"] == 1
        res = await http.get("/approval-rules", headers={PROTOCOL_HEADER: "x"})
        assert res.status_code == 422


async def _served(hub: RunningHub, api_key: str, cache: Path) -> list[dict[str, Any]]:
    """The reply a public daemon caches, written where its hook reads it."""
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=hub.url + "/api/v1/server", headers=headers) as http:
        res = await http.get("/approval-rules")
    assert res.status_code == 200, res.text
    cache.write_text(res.text)
    return list(res.json())


async def test_public_hook_never_allows_what_a_posix_class_or_project_rule_denies(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, tmp_path: Path
) -> None:
    """RE2's ``[[:space:]]`` is not a literal run (the stdlib parser misreads it), and a
    project-scope deny must apply even when the session's project is unknown to the hook, where
    a tenant-scope allow still does."""
    server = await register_server(admin, project_id)
    ids = {
        r["name"]: r["id"]
        for r in [
            await create_rule(admin, "posix rm", "deny", pattern_syntax="regex",
                              param_pattern="rm[[:space:]]-rf"),
            await create_rule(admin, "project rm", "deny", param_pattern="rm -rf*",
                              scope="project", scope_id=project_id),
            await create_rule(admin, "project curl", "ask", param_pattern="curl *",
                              scope="project", scope_id=project_id),
            await create_rule(admin, "exact rm", param_pattern="rm -rf build"),
            await create_rule(admin, "exact curl", param_pattern="curl x"),
        ]
    }  # fmt: skip
    cache = tmp_path / "orchestratia-rules.json"
    served = await _served(hub, server["api_key"], cache)
    assert {r["name"] for r in served} >= {"exact rm", "exact curl"}
    for env in ({"ORCHESTRATIA_PROJECT_ID": project_id}, {}):
        assert decide(cache, "Bash", {"command": "rm -rf /"}, env)[0] == "deny", env
        assert decide(cache, "Bash", {"command": "rm -rf build"}, env)[0] == "deny", env
        assert decide(cache, "Bash", {"command": "curl x"}, env)[0] == "deny", env
    posix = next(r for r in served if r["id"] == ids["posix rm"])
    assert posix["param_pattern"] is None  # no literal run is certain: the cover is "*"
