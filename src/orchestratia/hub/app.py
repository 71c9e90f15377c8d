"""``create_app(settings)``: routers, WebSocket routes, static files, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from orchestratia import __version__
from orchestratia.hub import chores as chore_timers
from orchestratia.hub import integrations
from orchestratia.hub.actions import fleet
from orchestratia.hub.api import (
    agent_approvals,
    agent_tasks,
    agent_unsupported,
    api_keys,
    health,
    metrics,
    openapi_security,
    palette,
    projects,
    second_factor,
    servers,
    sessions,
    stop_all,
    tunnels,
    usage,
)
from orchestratia.hub.api import approvals as approvals_api
from orchestratia.hub.api import audit as audit_api
from orchestratia.hub.api import auth as auth_api
from orchestratia.hub.api import inbox as inbox_api
from orchestratia.hub.api import invites as invites_api
from orchestratia.hub.api import mail_settings as mail_settings_api
from orchestratia.hub.api import notification_prefs as notification_prefs_api
from orchestratia.hub.api import overview as overview_api
from orchestratia.hub.api import tasks as tasks_api
from orchestratia.hub.api import telegram as telegram_api
from orchestratia.hub.api import webhooks as webhooks_api
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.errors import HubError, TooManyRequests
from orchestratia.hub.metrics_scrape import ScrapeTarget
from orchestratia.hub.middleware import (
    BodyLimitMiddleware,
    NulInUrlMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from orchestratia.hub.sealing import SealingError
from orchestratia.hub.services.access.throttle import LoginThrottle
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.state import HubState
from orchestratia.hub.validation_messages import human_message
from orchestratia.hub.web import (
    account_pages,
    api_key_pages,
    audit_pages,
    inbox_pages,
    overview_pages,
    pages,
    permission_pages,
    task_pages,
    team_pages,
    telegram_pages,
    usage_pages,
    webhook_pages,
)
from orchestratia.hub.ws import replicas
from orchestratia.hub.ws.dashboard_channel import dashboard_channel
from orchestratia.hub.ws.server_channel import server_channel
from orchestratia.hub.ws.viewer_channel import viewer_channel
from orchestratia.rules import shell_commands

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "web" / "static"


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def hub_error(_request: Request, exc: HubError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(SealingError)
    async def unopenable(_request: Request, exc: SealingError) -> JSONResponse:
        # The operator's doing (a key retired too early, a value altered in the database), not
        # the caller's: say so, and keep the hub serving everything else.
        log.error("a sealed secret did not open: %s", exc)
        detail = (
            f"a secret this hub stored cannot be opened ({exc}); "
            "the hub's operator must restore its encryption key"
        )
        return JSONResponse({"detail": detail}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Drop the echoed input: it may be huge or hold a password. ``message`` is for people.
        errors = [
            {
                "loc": list(e.get("loc", ())),
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
                "message": human_message(e),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)


def create_app(settings: HubSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if unset := settings.unshared_keys():
            # Said at every start: a replica with its own keys fails quietly (403s on writes).
            log.warning(
                "%s not set on a PostgreSQL hub: keys come from %s; every replica must have "
                "the same ones (set these alike everywhere, or share the data dir)",
                " and ".join(unset),
                settings.data_dir,
            )
        engine = build_engine(settings.resolved_database_url())
        hub = HubState(
            settings=settings,
            engine=engine,
            sessionmaker=build_sessionmaker(engine),
            secret_key=settings.resolved_secret_key(),
            keyring=settings.keyring(),
            throttle=LoginThrottle(
                settings.login_failures_per_account,
                settings.login_failures_per_ip,
                settings.login_window_seconds,
            ),
        )
        app.state.hub = hub
        app.state.metrics_target = ScrapeTarget(hub)
        hub.output_writer.start()
        stop = asyncio.Event()
        chores = [
            *await replicas.join(hub, stop),
            *chore_timers.start(hub, stop),
            *integrations.chores(hub, stop),
            # The rule tester parses unusual shell commands with bashlex: pay its import (up to
            # a second) off the event loop now, not inside the first such request.
            asyncio.create_task(asyncio.to_thread(shell_commands.load_parser)),
        ]
        try:
            yield
        finally:
            # Let an in-flight sweep finish rather than cancel it mid-query: a cancelled query
            # strands its connection (aiosqlite's worker thread then calls into a closed loop).
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*chores), 5)
            await hub.output_writer.stop()  # what daemons sent is stored (and acked) first
            with contextlib.suppress(Exception):
                await fleet.flush_heartbeats(hub)  # the last second's heartbeats
            await hub.bus.close()
            await engine.dispose()

    app = FastAPI(title="Orchestratia hub", version=__version__, lifespan=lifespan)
    _error_handlers(app)
    for router in (
        auth_api.router,
        second_factor.router,
        projects.router,
        servers.router,
        sessions.router,
        stop_all.router,
        tasks_api.router,
        agent_tasks.router,
        agent_unsupported.router,
        approvals_api.router,
        agent_approvals.router,
        inbox_api.router,
        api_keys.router,
        audit_api.router,
        invites_api.router,
        mail_settings_api.router,
        notification_prefs_api.router,
        usage.router,
        palette.router,
        overview_api.router,
        webhooks_api.reads,
        webhooks_api.writes,
        telegram_api.router,
        health.router,
        metrics.router,
        pages.router,
        task_pages.router,
        inbox_pages.router,
        permission_pages.router,
        account_pages.router,
        api_key_pages.router,
        audit_pages.router,
        team_pages.router,
        usage_pages.router,
        overview_pages.router,
        webhook_pages.router,
        tunnels.router,
        telegram_pages.router,
    ):
        app.include_router(router)
    openapi_security.install(app)
    app.add_api_websocket_route("/ws/server", server_channel)
    app.add_api_websocket_route("/ws/dashboard", dashboard_channel)
    app.add_api_websocket_route("/ws/sessions/{session_id}/view", viewer_channel)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(NulInUrlMiddleware)
    app.add_middleware(RequestIdMiddleware)
    # Outside the body limit and NUL check, so their own refusals carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.trusted_proxies:
        # Outermost, so every layer (and uvicorn's access log) sees the forwarded client. The
        # app does this rather than uvicorn so no way of serving it trusts loopback by default.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
