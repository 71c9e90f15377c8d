"""Hub frames to their handlers: every frame is validated once, with the protocol's adapter over
all hub → daemon frames, and goes to the handler its ``type`` names in one table."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestratia.protocol.base import frame_classes, frame_type
from orchestratia.protocol.frames import HubFrame, hub_frame_adapter

log = logging.getLogger(__name__)

F = TypeVar("F", bound=BaseModel)
FrameHandler = Callable[[dict[str, Any]], Awaitable[None]]
Malformed = Callable[[Mapping[str, Any], ValidationError], Awaitable[None]]


async def log_malformed(raw: Mapping[str, Any], exc: ValidationError) -> None:
    """What most handlers do with a frame of their type that fails validation: log, skip."""
    log.warning("ignoring malformed %s frame from the hub: %s", raw.get("type"), exc)


@dataclass(frozen=True)
class Route:
    """Where frames of one class go; ``malformed`` gets one of its type that fails validation."""

    frame: type[BaseModel]
    handle: Callable[[Any], Awaitable[None]]
    malformed: Malformed = log_malformed

    @property
    def type(self) -> str:
        return frame_type(self.frame)


def route(
    frame: type[F], handle: Callable[[F], Awaitable[None]], malformed: Malformed = log_malformed
) -> Route:
    """A ``Route`` whose handler is checked to take the frame class it is given."""
    return Route(frame, handle, malformed)


class FrameRouter:
    """One table from frame type to route. Frames of a type without a route go to ``unknown``
    unvalidated (so a newer hub's frames reach a caller that knows them), or are skipped."""

    def __init__(self, routes: Iterable[Route], unknown: FrameHandler | None = None) -> None:
        known = frame_classes(HubFrame)
        self._routes: dict[str, Route] = {}
        for each in routes:
            # A route the adapter cannot produce would find every such frame malformed.
            if each.frame not in known:
                raise ValueError(f"{each.frame.__name__} is not a hub frame")
            if each.type in self._routes:
                raise ValueError(f"two routes for {each.type!r} frames")
            self._routes[each.type] = each
        self._unknown = unknown

    def types(self) -> set[str]:
        """The frame types routed."""
        return set(self._routes)

    async def dispatch(self, raw: dict[str, Any]) -> None:
        """Validate ``raw`` and hand it to its route; raises what the handler raises."""
        kind = raw.get("type")
        found = self._routes.get(kind) if isinstance(kind, str) else None
        if found is None:
            if self._unknown is None:
                log.debug("no handler for %r frame from hub", kind)
            else:
                await self._unknown(raw)
            return
        try:
            frame = hub_frame_adapter.validate_python(raw)
        except ValidationError as exc:
            await found.malformed(raw, exc)
            return
        await found.handle(frame)
