"""What must happen once a transaction commits (``Outbox``): services record it here while they
work, and the action that ran them carries it out after the commit (``hub.actions.effects``),
so nobody is told about a change that rolled back."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Delivery, Task, TaskEvent
from orchestratia.protocol.dashboard_events import DashboardEvent
from orchestratia.protocol.revocations import Revocation


@dataclass
class Outbox:
    # Rows are kept, not rendered: their dashboard events are built from what was committed.
    tasks: set[str] = field(default_factory=set)
    events: list[TaskEvent] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    sessions: list[TerminalSession] = field(default_factory=list)
    notices: list[tuple[str, DashboardEvent]] = field(default_factory=list)  # (project id, event)
    deliveries: list[Delivery] = field(default_factory=list)
    auto_assign: set[str] = field(default_factory=set)  # project ids due an assignment pass
    rule_versions: list[tuple[str, int]] = field(default_factory=list)  # (tenant id, version)
    rules_sync: bool = False  # a rule version moved without a push (a session rule)
    revocations: list[Revocation] = field(default_factory=list)
    keys_revoked: list[str] = field(default_factory=list)  # servers whose daemon must hang up
    transitions: list[tuple[str, str]] = field(default_factory=list)  # task (from, to), metered

    def touched(self, task: Task) -> None:
        self.tasks.add(task.id)

    def notify(self, project_id: str, event: DashboardEvent) -> None:
        self.notices.append((project_id, event))
