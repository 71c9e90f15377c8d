"""The daemon's approval-rule cache: versions only grow, private files, unusable sets ask, the
fetch loop on connect and on ``approval_rules_updated``, and the decision socket."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestratia.agent.approvals.cached_rules import (
    RULES_FILE,
    CachedRules,
    decide_from_cache,
    read_cache,
)
from orchestratia.agent.approvals.decision_server import DecisionServer
from orchestratia.agent.approvals.decision_socket import ask_daemon
from orchestratia.agent.approvals.policy import PolicyService
from orchestratia.agent.approvals.rule_cache import RuleCache, policy_dir
from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.backoff import Backoff
from orchestratia.agent.link.routing import FrameRouter
from orchestratia.agent.sessions.launch import session_environment
from orchestratia.protocol.sessions import SessionStartFrame
from tests.support import wait_until

BASH_ALLOW = {"id": "r1", "name": "git", "tool_pattern": "Bash", "param_pattern": "git *",
              "action": "allow"}  # fmt: skip
SERVER_DENY = {"id": "r2", "name": "no curl here", "tool_pattern": "Bash", "action": "deny",
               "param_pattern": "curl *", "scope": "server", "scope_id": "srv-1"}  # fmt: skip
REQUEST = {"agent": "claude", "tool": "Bash", "tool_input": {"command": "git log"},
           "session_id": "s1", "project_id": "p1"}  # fmt: skip


def make_config(tmp_path: Path) -> AgentConfig:
    return AgentConfig(hub_url="http://hub.test", api_key="orc_srv_key", server_id="srv-1",
                       name="box", state_dir=tmp_path / "state" / "sessions")  # fmt: skip


def rule_set(version: int, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"version": version, "rules": list(rules)}


class Hub:
    """A MockTransport hub: serves ``sets`` in turn (the last one repeats), records posts."""

    def __init__(self, *sets: Any, fail: int = 0) -> None:
        self.sets = list(sets)
        self.fail = fail
        self.gets = 0
        self.keys: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("X-API-Key"))
        if request.url.path != "/api/v1/server/approval-rules":
            return httpx.Response(404)
        self.gets += 1
        if self.fail:
            self.fail -= 1
            return httpx.Response(503, text="restarting")
        body = self.sets.pop(0) if len(self.sets) > 1 else self.sets[0]
        return httpx.Response(200, json=body)


def cache_for(tmp_path: Path, hub: Hub) -> RuleCache:
    client = httpx.AsyncClient(base_url="http://hub.test/api/v1/server/",
                               transport=httpx.MockTransport(hub))  # fmt: skip
    cache = RuleCache(make_config(tmp_path), lambda: client, backoff=Backoff(0.01, 0.02))
    cache.load()
    return cache


def test_policy_dir_sits_next_to_the_sessions_and_reaches_every_session(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert policy_dir(config) == tmp_path / "state" / "policy"
    frame = SessionStartFrame(type="session_start", session_id="s1", project_id="p1",
                              working_directory="/tmp", role="worker")  # fmt: skip
    env = session_environment(config.hub_url, frame, policy_dir(config))
    assert env["ORCHESTRATIA_POLICY_DIR"] == str(tmp_path / "state" / "policy")
    assert "ORCHESTRATIA_POLICY_DIR" not in session_environment(config.hub_url, frame)


async def test_fetch_writes_a_private_cache_and_never_goes_back(tmp_path: Path) -> None:
    hub = Hub(rule_set(5, BASH_ALLOW), rule_set(3), rule_set(5, SERVER_DENY))
    cache = cache_for(tmp_path, hub)
    await cache.refresh()
    directory = policy_dir(cache.config)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / RULES_FILE).stat().st_mode) == 0o600
    assert cache.decide(REQUEST)["action"] == "allow"

    await cache.refresh()  # version 3: older, ignored
    await cache.refresh()  # version 5 again: the cache already holds it
    cached = read_cache(directory)
    assert cached is not None and cached.version == 5
    assert cached.rule_set == rule_set(5, {**BASH_ALLOW, **_defaults(BASH_ALLOW)})
    assert decide_from_cache(directory, REQUEST)["rule_id"] == "r1"


def _defaults(rule: dict[str, Any]) -> dict[str, Any]:
    return {"pattern_syntax": "glob", "scope": "tenant", "scope_id": None, "agent_filter": None,
            "is_active": True, "priority": 0, "expires_at": None, **rule}  # fmt: skip


async def test_a_set_this_daemon_cannot_use_makes_everything_ask(tmp_path: Path) -> None:
    newer = rule_set(7, {**BASH_ALLOW, "only_on_weekdays": True})  # a field from a newer hub
    cache = cache_for(tmp_path, Hub(rule_set(6, BASH_ALLOW), newer, rule_set(7, BASH_ALLOW)))
    await cache.refresh()
    await cache.refresh()
    verdict = cache.decide(REQUEST)
    assert verdict["action"] == "ask" and "cannot use" in verdict["reason"]
    assert decide_from_cache(cache.directory, REQUEST)["action"] == "ask"
    await cache.refresh()  # the same version, now usable, repairs the cache
    assert cache.decide(REQUEST)["action"] == "allow"


def test_server_scoped_rules_use_the_cached_server_id(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    cache = RuleCache(config, lambda: httpx.AsyncClient())
    cache.load()
    cache.store(CachedRules("srv-1", 2, rule_set(2, SERVER_DENY)))
    curl = {**REQUEST, "tool_input": {"command": "curl http://x"}}
    assert cache.decide(curl)["action"] == "deny"
    assert decide_from_cache(cache.directory, curl)["action"] == "deny"
    # A cache left by a registration under another server id is not ours to trust.
    other = RuleCache(config.model_copy(update={"server_id": "srv-9"}), httpx.AsyncClient)
    other.load()
    assert other.cached is None and other.decide(curl)["action"] == "ask"


def test_no_cache_or_a_corrupt_one_asks(tmp_path: Path) -> None:
    assert decide_from_cache(tmp_path, REQUEST)["action"] == "ask"
    (tmp_path / RULES_FILE).write_text("{torn")
    assert read_cache(tmp_path) is None
    assert decide_from_cache(tmp_path, REQUEST)["action"] == "ask"
    with pytest.raises(ValueError, match="tool_input"):
        decide_from_cache(tmp_path, {**REQUEST, "tool_input": "rm -rf /"})


async def test_run_fetches_on_request_retries_and_skips_known_versions(tmp_path: Path) -> None:
    hub = Hub(rule_set(4, BASH_ALLOW), fail=2)
    cache = cache_for(tmp_path, hub)
    task = asyncio.create_task(cache.run())
    try:
        cache.request()  # as on connect
        await wait_until(lambda: cache.version == 4, message="rules fetched after two failures")
        assert hub.gets == 3
        cache.request(4)  # pushed, but already have it
        cache.request(3)
        await asyncio.sleep(0.05)  # give a wrongly woken loop the chance to fetch
        assert hub.gets == 3
        hub.sets = [rule_set(6)]
        cache.request(6)
        await wait_until(lambda: cache.version == 6, message="announced version fetched")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_decision_socket_round_trip(tmp_path: Path) -> None:
    server = DecisionServer(tmp_path, lambda request: {"action": "deny", "echo": request["tool"]})
    assert await server.start()
    assert stat.S_IMODE((tmp_path / "decide.sock").stat().st_mode) == 0o600
    try:
        reply = await asyncio.to_thread(ask_daemon, tmp_path, REQUEST, 5.0)
        assert reply == {"action": "deny", "echo": "Bash"}
        with pytest.raises(ValueError, match="could not decide"):
            await asyncio.to_thread(ask_daemon, tmp_path, {"tool_input": []}, 5.0)
    finally:
        await server.stop()
    assert not (tmp_path / "decide.sock").exists()
    with pytest.raises(OSError):
        ask_daemon(tmp_path, REQUEST, 1.0)
    deep = DecisionServer(tmp_path / ("d" * 120), lambda request: {})
    assert not await deep.start()  # too long for sockaddr_un: hooks read the file instead


async def test_policy_service_fetches_on_connect_and_answers_hooks(tmp_path: Path) -> None:
    hub = Hub(rule_set(1, BASH_ALLOW))
    config = make_config(tmp_path)
    policy = PolicyService(config, transport=httpx.MockTransport(hub), ship_interval=0.05)
    await policy.start()
    try:
        router = FrameRouter(policy.routes())
        assert router.types() == {"approval_rules_updated"}  # session frames are not its own
        policy.link_changed(True)
        await wait_until(lambda: policy.rules.version == 1, message="fetched on connect")
        reply = await asyncio.to_thread(ask_daemon, policy.directory, REQUEST, 5.0)
        assert (reply["action"], reply["rule_id"], reply["version"]) == ("allow", "r1", 1)
        hub.sets = [rule_set(2)]
        await router.dispatch({"type": "approval_rules_updated", "version": 2})
        await wait_until(lambda: policy.rules.version == 2, message="fetched on push")
        cached = json.loads((policy.directory / RULES_FILE).read_text())
        assert cached["version"] == 2 and cached["server_id"] == "srv-1"
        assert cached["checked"] is True  # hooks may build their matcher without pydantic
        assert set(hub.keys) == {"orc_srv_key"}  # the server key, never a session token
    finally:
        await policy.stop()
