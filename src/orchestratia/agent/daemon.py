"""The daemon's main loop: one hub connection, a status file, and a clean stop on signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestratia.agent.approvals.policy import PolicyService
from orchestratia.agent.config import AgentConfig, default_config_path
from orchestratia.agent.files import write_private_file
from orchestratia.agent.link.connection import HubConnection
from orchestratia.agent.link.routing import FrameHandler, Route
from orchestratia.agent.metrics_server import MetricsServer, parse_listen
from orchestratia.agent.sessions.runtime import SessionRuntime

log = logging.getLogger(__name__)

STATE_SUFFIX = ".state.json"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def state_path_for(config_path: Path | None = None) -> Path:
    """The state file of the daemon using ``config_path``: ``agent.yaml`` → ``agent.state.json``.

    Derived from the config's name so two daemons with configs in one directory don't collide.
    """
    return (config_path or default_config_path()).with_suffix(STATE_SUFFIX)


class StateFile:
    """Publishes the connection state for ``orchestratia agent status`` in another process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, connection: HubConnection) -> None:
        payload: dict[str, Any] = {
            **connection.status(),
            "pid": os.getpid(),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        data = json.dumps(payload, indent=2).encode("utf-8") + b"\n"
        try:
            # Not fsynced: state changes on every reconnect and losing the last one is harmless.
            write_private_file(self.path, data, durable=False)
        except OSError as exc:
            # Status reporting must never take the daemon down.
            log.warning("cannot write state file %s: %s", self.path, exc)


def read_state(config_path: Path | None = None) -> dict[str, Any] | None:
    """The last state published by the daemon using ``config_path``, or None if there is none.

    Adds ``running``: whether the recorded pid is alive and did not report ``stopped``, so a
    daemon killed with SIGKILL is not shown as connected.
    """
    path = state_path_for(config_path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read state file %s: %s", path, exc)
        return None
    if not isinstance(state, dict):
        return None
    pid = state.get("pid")
    state["running"] = (
        isinstance(pid, int) and state.get("state") != "stopped" and _process_alive(pid)
    )
    return state


def hub_routes(sessions: SessionRuntime, rules: PolicyService) -> list[Route]:
    """Where the daemon's hub frames go; the link's own ones are ``HubConnection``'s."""
    return [*sessions.routes(), *rules.routes()]


async def run(
    config: AgentConfig,
    state_path: Path | None = None,
    *,
    on_frame: FrameHandler | None = None,
    runtime: SessionRuntime | None = None,
    policy: PolicyService | None = None,
) -> None:
    """Stay connected to the hub until SIGTERM or SIGINT, then close with 1001 and return.

    ``state_path`` is the state file (see ``state_path_for``); None means the one next to the
    default config path. Terminal sessions are run by ``runtime`` (default: a
    ``SessionRuntime`` for ``config``), which resumes sessions left by an earlier daemon before
    the first connection; they keep running after we stop. ``on_frame`` receives the hub frames
    of types without a route (``hub_routes``). ``policy`` (default: a ``PolicyService``
    for ``config``) keeps the approval-rule cache, answers pre-tool-use hooks and ships their
    permission log.
    """
    state_file = StateFile(state_path or state_path_for())
    sessions = runtime or SessionRuntime(config)
    rules = policy or PolicyService(config)

    def state_changed(connection: HubConnection) -> None:
        sessions.metrics.link_changed(connection.state)
        sessions.link_changed(connection.state == "connected")
        rules.link_changed(connection.state == "connected")
        state_file.write(connection)

    connection = HubConnection(
        config,
        routes=hub_routes(sessions, rules),
        on_frame=on_frame,
        on_state_change=state_changed,
        live_sessions=sessions.live_sessions,
    )
    sessions.attach(connection)
    exporter = _metrics_server(config, sessions, connection)
    if exporter is not None:
        await exporter.start()
    await sessions.start()
    await rules.start()
    stop_requested = asyncio.Event()
    restore = _install_signal_handlers(stop_requested)
    runner = asyncio.create_task(connection.run(), name="hub-connection")
    waiter = asyncio.create_task(stop_requested.wait(), name="stop-signal")
    try:
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if stop_requested.is_set():
            log.info("stop requested; closing the hub connection")
        await connection.stop()
    finally:
        waiter.cancel()
        if not runner.done():
            runner.cancel()
        results = await asyncio.gather(runner, waiter, return_exceptions=True)
        restore()
        if exporter is not None:
            await exporter.stop()
        await rules.stop()
        await sessions.stop()
        state_file.write(connection)
    error = results[0]
    if isinstance(error, BaseException) and not isinstance(error, asyncio.CancelledError):
        raise error


def _metrics_server(
    config: AgentConfig, sessions: SessionRuntime, connection: HubConnection
) -> MetricsServer | None:
    """The local ``/metrics`` and ``/healthz`` when ``metrics_listen`` asks for them."""
    metrics = sessions.metrics
    metrics.watch(
        lambda: sum(1 for s in list(sessions.sessions.values()) if s.alive),
        lambda: connection.state,
    )
    if config.metrics_listen is None:
        return None

    def health() -> dict[str, str]:
        return {"status": "ok", "hub_link": connection.state}

    return MetricsServer(parse_listen(config.metrics_listen), metrics.registry, health)


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    previous: dict[signal.Signals, Any] = {}
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            # Windows, or not the main thread: fall back to a thread-safe plain handler.
            with contextlib.suppress(ValueError, OSError):
                previous[sig] = signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)

    return restore


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Exists but belongs to someone else.
        return True
    except OSError:
        return False
    return True
