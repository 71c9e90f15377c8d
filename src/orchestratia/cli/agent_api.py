"""A small typed client for the hub's agent API (``/api/v1/server/…``, docs/tasks.md).

Each method checks the hub's reply against its protocol model and returns both (``Reply``):
commands read the model, ``--json`` prints the JSON exactly as the hub sent it. Reply models
ignore fields they do not know, so a newer hub's additions pass.

Agents run the CLI many times a minute, so this module imports nothing heavy at import time:
``httpx``, ``yaml``, pydantic models and the daemon's config module load only when a call needs
them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

    from orchestratia.protocol.agent_status import AgentStatus, ServerBriefList, SessionBriefList
    from orchestratia.protocol.pipelines import PipelineResult
    from orchestratia.protocol.task_replies import (
        CancelResponse,
        DependencyPublic,
        HelpResponse,
        InterventionList,
        InterventionPublic,
        NoteList,
        NotePublic,
        TaskList,
        TaskPublic,
    )

JsonObject = dict[str, Any]

API_PREFIX = "/api/v1/server/"
DEFAULT_TIMEOUT = 15.0
SHOWN_ERRORS = 3
ENV_HUB_URL = "ORCHESTRATIA_HUB_URL"
ENV_API_KEY = "ORCHESTRATIA_API_KEY"
ENV_SESSION_ID = "ORCHESTRATIA_SESSION_ID"
ENV_PROJECT_ID = "ORCHESTRATIA_PROJECT_ID"
ENV_ROLE = "ORCHESTRATIA_ROLE"
ENV_TIMEOUT = "ORCHESTRATIA_TIMEOUT"


class AgentApiError(Exception):
    """A failed call, already phrased as the one line the user sees."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HubReplyError(AgentApiError):
    """The hub answered, but not with the shape this CLI knows."""


M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A hub reply: checked against its model (``data``) and as the hub sent it (``raw``)."""

    data: M
    raw: Any


@dataclass
class AgentOptions:
    """What the command line said explicitly; it wins over environment and config file.

    ``transport`` lets tests put an ``httpx.MockTransport`` under the real client.
    """

    hub_url: str | None = None
    api_key: str | None = None
    session_id: str | None = None
    project_id: str | None = None
    role: str | None = None
    timeout: float | None = None
    config_path: Path | None = None
    as_json: bool = False
    transport: Any = None


@dataclass(frozen=True)
class ClientConfig:
    hub_url: str
    api_key: str
    session_id: str | None
    project_id: str | None
    role: str | None
    timeout: float


def read_daemon_config(path: Path) -> dict[str, str]:
    """``hub_url`` and ``api_key`` from the daemon's YAML config; ``{}`` when there is none."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise AgentApiError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AgentApiError(f"config file {path} is not a YAML mapping")
    return {k: str(data[k]) for k in ("hub_url", "api_key") if data.get(k)}


def _parse_timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise AgentApiError(f"{ENV_TIMEOUT} must be a number of seconds in (0, 3600], not {raw!r}")
    return value


def resolve_config(
    options: AgentOptions,
    env: Mapping[str, str] | None = None,
    default_timeout: float = DEFAULT_TIMEOUT,
) -> ClientConfig:
    """Explicit option > environment > the daemon's config file, field by field."""
    env = os.environ if env is None else env
    hub_url = options.hub_url or env.get(ENV_HUB_URL) or None
    api_key = options.api_key or env.get(ENV_API_KEY) or None
    if not (hub_url and api_key):
        path = options.config_path
        if path is None:
            # Imported here: the daemon config module pulls in pydantic, and inside a session
            # the environment already has everything.
            from orchestratia.agent.config import default_config_path

            path = default_config_path()
        stored = read_daemon_config(path)
        hub_url = hub_url or stored.get("hub_url")
        api_key = api_key or stored.get("api_key")
    if not hub_url:
        raise AgentApiError(
            f"no hub URL: set {ENV_HUB_URL}, pass --hub-url, or register this machine's daemon"
        )
    if not hub_url.startswith(("http://", "https://")):
        raise AgentApiError(f"hub URL must start with http:// or https://, not {hub_url!r}")
    if not api_key:
        raise AgentApiError(f"no API key: set {ENV_API_KEY} or pass --api-key")
    if options.timeout is not None:
        timeout = _parse_timeout(str(options.timeout))
    elif env.get(ENV_TIMEOUT):
        timeout = _parse_timeout(env[ENV_TIMEOUT])
    else:
        timeout = default_timeout
    return ClientConfig(
        hub_url=hub_url.rstrip("/"),
        api_key=api_key,
        session_id=options.session_id or env.get(ENV_SESSION_ID) or None,
        project_id=options.project_id or env.get(ENV_PROJECT_ID) or None,
        role=options.role or env.get(ENV_ROLE) or None,
        timeout=timeout,
    )


def render_detail(detail: Any) -> str:
    """A hub ``detail`` on one line: text as is, pydantic errors as ``a.b: msg; c: msg``."""
    if isinstance(detail, str):
        return " ".join(detail.split())
    if isinstance(detail, list) and all(isinstance(e, dict) and "msg" in e for e in detail):
        parts = []
        for error in detail:
            loc = [str(p) for p in error.get("loc") or []]
            if loc and loc[0] == "body":  # FastAPI's prefix says nothing the user can act on
                loc = loc[1:]
            parts.append(f"{'.'.join(loc)}: {error['msg']}" if loc else str(error["msg"]))
        return "; ".join(parts)
    return json.dumps(detail, default=str)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = render_detail(body["detail"])
    else:
        text = " ".join(response.text.split())
        detail = text[:300] if text else response.reason_phrase
    return f"HTTP {response.status_code}: {detail}"


def _dump(body: BaseModel) -> JsonObject:
    return body.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


def _seg(value: str) -> str:
    return quote(value, safe="")


class AgentApi:
    """One hub, one key. Every method returns the checked reply or raises ``AgentApiError``."""

    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        from orchestratia import __version__

        self.config = config
        self._client = httpx.Client(
            base_url=config.hub_url + API_PREFIX,
            headers={"X-API-Key": config.api_key, "User-Agent": f"orchestratia-cli/{__version__}"},
            timeout=config.timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AgentApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | None] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        import httpx

        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client.request(method, path, params=query, json=body)
        except httpx.TimeoutException as exc:
            raise AgentApiError(
                f"hub at {self.config.hub_url} did not answer within {self.config.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise AgentApiError(f"cannot reach hub at {self.config.hub_url}: {reason}") from exc
        if response.is_error:
            raise AgentApiError(_error_message(response), response.status_code)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise AgentApiError(
                f"hub sent a reply that is not JSON (HTTP {response.status_code})"
            ) from exc

    def fetch(
        self,
        model: type[M],
        method: str,
        path: str,
        params: Mapping[str, str | None] | None = None,
        body: JsonObject | None = None,
    ) -> Reply[M]:
        """``call``, with the reply checked against ``model``."""
        from pydantic import ValidationError

        raw = self.call(method, path, params, body)
        try:
            return Reply(model.model_validate(raw), raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            # A list of wrong items repeats one mistake per item: the first few say it.
            more = f" (and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
            raise HubReplyError(
                f"the hub's reply to {method} {path} is not what this CLI expects: "
                f"{render_detail(errors[:SHOWN_ERRORS])}{more}"
            ) from None

    # --- tasks ---------------------------------------------------------------------------------

    def list_tasks(
        self, status: str | None = None, project_id: str | None = None
    ) -> Reply[TaskList]:
        from orchestratia.protocol.task_replies import TaskList

        return self.fetch(TaskList, "GET", "tasks", {"status": status, "project_id": project_id})

    def check_tasks(self, session_id: str | None) -> Reply[TaskList]:
        from orchestratia.protocol.task_replies import TaskList

        return self.fetch(TaskList, "GET", "tasks/check", {"session_id": session_id})

    def get_task(self, task_id: str) -> Reply[TaskPublic]:
        from orchestratia.protocol.task_replies import TaskPublic

        return self.fetch(TaskPublic, "GET", f"tasks/{_seg(task_id)}")

    def create_task(self, body: BaseModel) -> Reply[TaskPublic]:
        from orchestratia.protocol.task_replies import TaskPublic

        return self.fetch(TaskPublic, "POST", "tasks", body=_dump(body))

    def update_task(self, task_id: str, body: BaseModel) -> Reply[TaskPublic]:
        from orchestratia.protocol.task_replies import TaskPublic

        return self.fetch(TaskPublic, "PUT", f"tasks/{_seg(task_id)}", body=_dump(body))

    def cancel_task(self, task_id: str) -> Reply[CancelResponse]:
        from orchestratia.protocol.task_replies import CancelResponse

        return self.fetch(CancelResponse, "DELETE", f"tasks/{_seg(task_id)}")

    def task_action(self, task_id: str, action: str, body: BaseModel) -> Reply[TaskPublic]:
        """``start``, ``complete``, ``fail``, ``plan`` or ``assign``: each answers the task."""
        from orchestratia.protocol.task_replies import TaskPublic

        return self.fetch(TaskPublic, "POST", f"tasks/{_seg(task_id)}/{action}", body=_dump(body))

    def ask_help(self, task_id: str, body: BaseModel) -> Reply[HelpResponse]:
        from orchestratia.protocol.task_replies import HelpResponse

        return self.fetch(HelpResponse, "POST", f"tasks/{_seg(task_id)}/help", body=_dump(body))

    def list_notes(self, task_id: str) -> Reply[NoteList]:
        from orchestratia.protocol.task_replies import NoteList

        return self.fetch(NoteList, "GET", f"tasks/{_seg(task_id)}/notes")

    def add_note(self, task_id: str, body: BaseModel) -> Reply[NotePublic]:
        from orchestratia.protocol.task_replies import NotePublic

        return self.fetch(NotePublic, "POST", f"tasks/{_seg(task_id)}/notes", body=_dump(body))

    def add_dependency(self, task_id: str, body: BaseModel) -> Reply[DependencyPublic]:
        from orchestratia.protocol.task_replies import DependencyPublic

        path = f"tasks/{_seg(task_id)}/dependencies"
        return self.fetch(DependencyPublic, "POST", path, body=_dump(body))

    def remove_dependency(self, task_id: str, depends_on: str) -> None:
        self.call("DELETE", f"tasks/{_seg(task_id)}/dependencies/{_seg(depends_on)}")

    # --- fleet, pipelines, interventions -------------------------------------------------------

    def status(self, session_id: str | None) -> Reply[AgentStatus]:
        from orchestratia.protocol.agent_status import AgentStatus

        return self.fetch(AgentStatus, "GET", "status", {"session_id": session_id})

    def servers(self) -> Reply[ServerBriefList]:
        from orchestratia.protocol.agent_status import ServerBriefList

        return self.fetch(ServerBriefList, "GET", "servers")

    def sessions(self, project_id: str) -> Reply[SessionBriefList]:
        from orchestratia.protocol.agent_status import SessionBriefList

        return self.fetch(SessionBriefList, "GET", "sessions", {"project_id": project_id})

    def create_pipeline(self, body: JsonObject) -> Reply[PipelineResult]:
        from orchestratia.protocol.pipelines import PipelineResult

        return self.fetch(PipelineResult, "POST", "pipelines", body=body)

    def interventions(
        self, task_id: str | None = None, status: str | None = None
    ) -> Reply[InterventionList]:
        from orchestratia.protocol.task_replies import InterventionList

        params = {"task_id": task_id, "status": status}
        return self.fetch(InterventionList, "GET", "interventions", params)

    def respond_intervention(
        self, intervention_id: str, response: str
    ) -> Reply[InterventionPublic]:
        from orchestratia.protocol.task_replies import InterventionPublic

        path = f"interventions/{_seg(intervention_id)}/respond"
        return self.fetch(InterventionPublic, "POST", path, body={"response": response})
