"""The daemon's copy of its tenant's approval rules, and decisions made from it (SPEC §8).

The daemon fetches ``GET /api/v1/server/approval-rules`` (a ``RuleSet``) when it connects and
whenever the hub pushes ``{"type": "approval_rules_updated", "version": n}``, retrying with
backoff until it holds at least version ``n``. It keeps the set in ``<policy dir>/rules.json``
(directory 0700, file 0600, replaced atomically) so pre-tool-use hooks can decide from it even
while the hub or the daemon is down. A version only grows: a fetch that returns an older set
than the cached one (a lagging replica, a late reply) never replaces it.

A rule set this daemon cannot use (a field it does not know, a pattern its RE2 refuses) is
cached as *unusable*: every decision becomes ``ask``, never whatever the previous rules said.

The cache file and the decisions made from it are ``cached_rules``'s (the hook imports that
module alone when the daemon does not answer, so none of the daemon's imports here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orchestratia.agent.approvals.cached_rules import (
    CACHE_FORMAT,
    NO_CACHE_REASON,
    RULES_FILE,
    CachedRules,
    build_matcher,
    decide_with,
    read_cache,
)
from orchestratia.agent.files import DIR_MODE, ensure_private_dir, write_private_file
from orchestratia.agent.link.backoff import Backoff
from orchestratia.rules.matching import RuleMatcher
from orchestratia.rules.patterns import CheckedRuleSet

if TYPE_CHECKING:
    import httpx

    from orchestratia.agent.config import AgentConfig

log = logging.getLogger(__name__)

RULES_PATH = "approval-rules"  # under /api/v1/server/


def policy_dir(config: AgentConfig) -> Path:
    """``<state dir>/../policy``: next to the sessions directory, private to this daemon."""
    return config.sessions_dir().parent / "policy"


def prepare_policy_dir(directory: Path) -> None:
    """Create ``directory`` 0700; unlike a shared config directory it is ours, so an existing
    one is tightened too."""
    ensure_private_dir(directory)
    os.chmod(directory, DIR_MODE)


class RuleFetchError(Exception):
    """The hub did not hand over a rule set this time; worth retrying."""


class RuleCache:
    """The daemon's rule set: cache file, compiled matcher, and the fetch loop (``run``).

    ``client`` returns the daemon's HTTP client for the agent API (base URL
    ``<hub>/api/v1/server/``, server key header), so tests can put a mock transport under it.
    """

    def __init__(
        self,
        config: AgentConfig,
        client: Callable[[], httpx.AsyncClient],
        directory: Path | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.directory = directory or policy_dir(config)
        self._client = client
        self._backoff = backoff or Backoff(1.0, 30.0)
        self._wake = asyncio.Event()
        self._pending = False
        self._target = 0  # the newest version the hub announced
        self.cached: CachedRules | None = None
        self._matcher: RuleMatcher | None = None
        self._no_rules = NO_CACHE_REASON

    @property
    def version(self) -> int:
        return self.cached.version if self.cached is not None else -1

    def load(self) -> None:
        """Adopt the cache file left by an earlier run, if it belongs to this server."""
        prepare_policy_dir(self.directory)
        cached = read_cache(self.directory)
        if cached is not None and cached.server_id != self.config.server_id:
            cached = None  # re-registered under another id: its server rules are not ours
        self._adopt(cached)

    def decide(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The verdict for a hook's request (``DecisionServer`` calls this)."""
        return decide_with(self._matcher, self._no_rules, self.config.server_id, request)

    def request(self, version: int | None = None) -> None:
        """Fetch soon: on connect (``None``) or for an announced ``version`` we lack."""
        if version is not None:
            if version <= self.version:
                return  # already cached (a push can arrive after the fetch it announced)
            self._target = max(self._target, version)
        self._pending = True
        self._wake.set()

    async def run(self) -> None:
        """Fetch whenever asked, retrying with backoff, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            try:
                await self.refresh()
            except RuleFetchError as exc:
                # Loud once per outage; the retries after it would only repeat the same line.
                level = logging.WARNING if self._backoff.attempt == 0 else logging.DEBUG
                delay = self._backoff.next_delay()
                log.log(level, "cannot fetch approval rules (%s); retrying in %.1f s", exc, delay)
                await self._pause(delay)
                continue
            if self.version < self._target:  # the hub announced a version it does not serve yet
                await self._pause(self._backoff.next_delay())
                continue
            self._backoff.reset()
            self._pending = False

    async def _pause(self, delay: float) -> None:
        # A new request (the link came back) cuts the wait short; either way we try again.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        self._wake.set()

    async def refresh(self) -> None:
        """One fetch; stores the result unless it is older than what is cached."""
        import httpx

        try:
            response = await self._client().get(RULES_PATH)
        except httpx.HTTPError as exc:
            raise RuleFetchError(str(exc) or type(exc).__name__) from exc
        if response.status_code != 200:
            raise RuleFetchError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise RuleFetchError("reply is not JSON") from exc
        version = payload.get("version") if isinstance(payload, dict) else None
        if not isinstance(version, int) or version < 0:
            raise RuleFetchError("reply has no rule-set version")
        try:
            rule_set: dict[str, Any] | None = CheckedRuleSet.model_validate(payload).model_dump(
                mode="json"
            )
            error = None
        except ValidationError as exc:
            rule_set, error = None, f"rule set version {version} is invalid here: {exc}"
            log.error("%s; every tool call will be asked about", error.splitlines()[0])
        checked = rule_set is not None
        self.store(CachedRules(self.config.server_id, version, rule_set, error, checked))

    def store(self, new: CachedRules) -> bool:
        """Cache ``new`` if it is newer (or fixes an unusable cache of the same version)."""
        old = self.cached
        if old is not None and old.server_id == new.server_id:
            repair = new.version == old.version and old.rule_set is None and new.rule_set
            if new.version < old.version or (new.version == old.version and not repair):
                if new.version < old.version:
                    log.warning(
                        "hub sent approval rules version %d, older than the cached %d; kept",
                        new.version,
                        old.version,
                    )
                return False
        body = {
            "format": CACHE_FORMAT,
            "server_id": new.server_id,
            "version": new.version,
            "fetched_at": datetime.now(UTC).isoformat(),
            "rule_set": new.rule_set,
            "error": new.error,
            "checked": new.checked,
        }
        prepare_policy_dir(self.directory)
        write_private_file(self.directory / RULES_FILE, json.dumps(body).encode("utf-8"))
        self._adopt(new)
        log.info("approval rules version %d cached (%d rules)", new.version, self._rule_count())
        return True

    def _adopt(self, cached: CachedRules | None) -> None:
        self.cached = cached
        self._matcher, self._no_rules = build_matcher(cached)

    def _rule_count(self) -> int:
        return len(self._matcher) if self._matcher is not None else 0
