"""Hub frames reach the daemon's handlers through one table (``FrameRouter``): validated once with
the protocol's adapter, routed by type; malformed and unknown frames as the table says."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from orchestratia.agent.approvals.policy import PolicyService
from orchestratia.agent.config import AgentConfig
from orchestratia.agent.daemon import hub_routes
from orchestratia.agent.link.connection import HubConnection
from orchestratia.agent.link.routing import FrameRouter, route
from orchestratia.agent.sessions.runtime import SessionRuntime
from orchestratia.protocol.base import frame_classes, frame_type
from orchestratia.protocol.frames import HelloFrame, HubFrame, PongFrame
from orchestratia.protocol.sessions import SessionInputFrame


def _config(tmp_path: Path) -> AgentConfig:
    return AgentConfig(hub_url="http://hub.test", api_key="orc_srv_key", server_id="srv-1",
                       name="box", state_dir=tmp_path / "state")  # fmt: skip


class Recorder:
    def __init__(self) -> None:
        self.handled: list[Any] = []
        self.malformed: list[str] = []
        self.unknown: list[dict[str, Any]] = []

    async def handle(self, frame: SessionInputFrame) -> None:
        self.handled.append(frame)

    async def ignore(self, frame: BaseModel) -> None:
        """A handler for any frame class, where the table is under test rather than handling."""

    async def refuse(self, raw: Mapping[str, Any], exc: ValidationError) -> None:
        self.malformed.append(str(raw.get("session_id")))

    async def other(self, raw: dict[str, Any]) -> None:
        self.unknown.append(raw)


def test_every_hub_frame_type_has_a_route_in_the_daemons_table(tmp_path: Path) -> None:
    config = _config(tmp_path)
    routes = hub_routes(SessionRuntime(config), PolicyService(config))
    connection = HubConnection(config, routes=routes, capabilities=[])
    # A frame added to the protocol without a handler in the daemon fails here.
    assert connection.router.types() == {frame_type(cls) for cls in frame_classes(HubFrame)}


async def test_a_frame_is_validated_and_handed_to_its_route() -> None:
    seen = Recorder()
    router = FrameRouter([route(SessionInputFrame, seen.handle, seen.refuse)], unknown=seen.other)
    await router.dispatch({"type": "session_input", "session_id": "s1", "data": "aGk="})
    await router.dispatch({"type": "session_input", "session_id": "s2"})  # no data
    await router.dispatch({"type": "session_input", "session_id": "s3", "data": "", "x": 1})
    await router.dispatch({"type": "from_a_newer_hub", "session_id": "s4"})
    await router.dispatch({"type": ["not", "a", "type"]})
    assert seen.handled == [SessionInputFrame(session_id="s1", data="aGk=")]
    assert seen.malformed == ["s2", "s3"]
    # Frames of types without a route go on as they came, unvalidated.
    assert seen.unknown == [
        {"type": "from_a_newer_hub", "session_id": "s4"},
        {"type": ["not", "a", "type"]},
    ]
    await FrameRouter([]).dispatch({"type": "from_a_newer_hub"})  # no taker: skipped


def test_the_table_refuses_two_routes_for_a_type_or_a_frame_the_hub_never_sends() -> None:
    seen = Recorder()
    with pytest.raises(ValueError, match="two routes"):
        FrameRouter([route(SessionInputFrame, seen.handle), route(SessionInputFrame, seen.handle)])
    with pytest.raises(ValueError, match="not a hub frame"):
        FrameRouter([route(HelloFrame, seen.ignore)])
    assert FrameRouter([route(PongFrame, seen.ignore)]).types() == {"pong"}


async def test_a_malformed_rules_push_still_fetches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = PolicyService(_config(tmp_path))
    asked: list[int | None] = []
    monkeypatch.setattr(policy.rules, "request", lambda version=None: asked.append(version))
    router = FrameRouter(policy.routes())
    await router.dispatch({"type": "approval_rules_updated", "version": 3})
    await router.dispatch({"type": "approval_rules_updated", "version": "three"})
    assert asked == [3, None]
