"""Ids on the agent command line: a full UUID, or a unique prefix of at least ``MIN_PREFIX``
characters matched against what the hub lists."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from orchestratia.cli.agent_api import AgentApi, AgentApiError, Reply

if TYPE_CHECKING:
    from orchestratia.protocol.task_replies import TaskList

MIN_PREFIX = 4


def is_full_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def match_prefix(ref: str, ids: list[str], kind: str = "task") -> str:
    """The one id in ``ids`` that starts with ``ref``; otherwise an error saying why not."""
    prefix = ref.strip().lower()
    matches = sorted({i for i in ids if i.lower().startswith(prefix)})
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AgentApiError(
            f"no {kind} id starts with {ref!r} (only recent {kind}s are searched; use the full id)"
        )
    shown = ", ".join(m[:12] for m in matches[:5])
    raise AgentApiError(
        f"{kind} id prefix {ref!r} is ambiguous ({len(matches)} match: {shown}); "
        "give more characters"
    )


def _task_ids(reply: Reply[TaskList]) -> list[str]:
    return [t.id for t in reply.data.tasks]


def resolve_task_id(api: AgentApi, ref: str) -> str:
    """A full task id from a full UUID or a unique prefix of at least four characters.

    The prefix is matched against the hub's newest tasks and, failing that, the tasks assigned
    to this session (which may be older than the newest page).
    """
    ref = ref.strip()
    if is_full_uuid(ref):
        return ref.lower()
    if len(ref) < MIN_PREFIX:
        raise AgentApiError(
            f"task id {ref!r} is too short: give at least {MIN_PREFIX} characters or the full id"
        )
    ids = _task_ids(api.list_tasks(project_id=api.config.project_id))
    if not any(i.lower().startswith(ref.lower()) for i in ids) and api.config.session_id:
        ids += _task_ids(api.check_tasks(api.config.session_id))
    return match_prefix(ref, ids)
