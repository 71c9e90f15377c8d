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
from collections.abc import Mapping
from dataclasses import dataclass
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

from orchestratia.cli.hub_access import CA_FIX, ClientConfig, tls_context
from orchestratia.cli.hub_access import AgentApiError as AgentApiError
from orchestratia.cli.hub_access import AgentOptions as AgentOptions
from orchestratia.cli.hub_access import HubReplyError as HubReplyError
from orchestratia.cli.hub_access import read_daemon_config as read_daemon_config
from orchestratia.cli.hub_access import resolve_config as resolve_config

JsonObject = dict[str, Any]

API_PREFIX = "/api/v1/server/"
SHOWN_ERRORS = 3
M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A hub reply: checked against its model (``data``) and as the hub sent it (``raw``)."""

    data: M
    raw: Any


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
        verify: Any = True  # plain http: nothing to verify, so skip building a context
        if config.hub_url.startswith("https://"):
            verify = tls_context(config.ca_file)
        self._client = httpx.Client(
            verify=verify,
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
            from orchestratia.agent.link.hub_tls import certificate_error, certificate_message

            error = certificate_error(exc)
            if error is not None:
                message = certificate_message(self.config.hub_url, error, CA_FIX)
                raise AgentApiError(message) from exc
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
