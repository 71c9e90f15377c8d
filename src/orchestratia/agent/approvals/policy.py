"""The daemon's side of approval rules: rule cache, decision socket and permission-log shipping.

``PolicyService`` is what ``daemon.run`` wires in: ``start()`` before connecting (so hooks get
answers from the cached rules at once), ``link_changed`` on every connect and disconnect (a
connect fetches the rule set), ``routes`` for the hub's ``approval_rules_updated`` push,
``stop()`` on the way out. All three parts share one HTTP client for the agent API, with the
server key and a timeout on every request; TLS is verified.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from orchestratia import __version__
from orchestratia.agent.approvals.decision_server import DecisionServer
from orchestratia.agent.approvals.permission_shipping import SpoolShipper
from orchestratia.agent.approvals.rule_cache import RuleCache, policy_dir
from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.hub_tls import HubTlsError
from orchestratia.agent.link.routing import Route, route
from orchestratia.agent.link.secure_link import tls_context
from orchestratia.protocol import PROTOCOL_HEADER, PROTOCOL_VERSION
from orchestratia.protocol.approvals import ApprovalRulesUpdatedFrame
from orchestratia.rules.shell_commands import load_parser

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 10.0


class PolicyService:
    def __init__(
        self,
        config: AgentConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        ship_interval: float = 2.0,
    ) -> None:
        self.config = config
        self.directory = policy_dir(config)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self.rules = RuleCache(config, self.client, self.directory)
        self.socket = DecisionServer(self.directory, self.rules.decide)
        self.shipper = SpoolShipper(
            self.directory,
            self.client,
            redact_patterns=config.redact_patterns,
            interval=ship_interval,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=f"{self.config.hub_url}/api/v1/server/",
                headers={
                    "X-API-Key": self.config.api_key,
                    "User-Agent": f"orchestratia-agent/{__version__}",
                    PROTOCOL_HEADER: str(PROTOCOL_VERSION),  # the RuleSet, not the public list
                },
                timeout=HTTP_TIMEOUT,
                transport=self._transport,
                verify=self._verify(),
            )
        return self._http

    def _verify(self) -> ssl.SSLContext:
        try:
            return tls_context(self.config)
        except HubTlsError as exc:
            # The hub connection reports this (and keeps retrying); here the system trust
            # store still verifies, so nothing is ever accepted unverified.
            log.error("%s; rule fetches use the system trust store", exc)
            return ssl.create_default_context()

    async def start(self) -> None:
        """Load the cached rules, open the socket, start fetching and shipping."""
        await asyncio.to_thread(self.rules.load)
        # The matcher parses unusual shell commands with bashlex, on the event loop: pay its
        # import (up to a second) here, off the loop, not in the first hook's decision.
        await asyncio.to_thread(load_parser)
        await self.socket.start()
        self._tasks = [
            asyncio.create_task(self.rules.run(), name="approval-rules"),
            asyncio.create_task(self.shipper.run(), name="permission-log"),
        ]

    def link_changed(self, connected: bool) -> None:
        if connected:
            self.rules.request()  # rules may have changed while we were away

    def routes(self) -> list[Route]:
        """The hub frames this service acts on: the ``approval_rules_updated`` push."""
        return [route(ApprovalRulesUpdatedFrame, self._rules_updated, self._malformed_push)]

    async def _rules_updated(self, frame: ApprovalRulesUpdatedFrame) -> None:
        self.rules.request(frame.version)

    async def _malformed_push(self, raw: Mapping[str, Any], _exc: ValidationError) -> None:
        # Still a sign the rules changed: fetch whatever the hub serves now.
        log.warning("malformed approval_rules_updated frame: %.200s", raw)
        self.rules.request()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.socket.stop()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
