"""CSV cells a spreadsheet would run as formulas stay text; cursors are bound to their filters."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from orchestratia.hub.errors import Invalid
from orchestratia.hub.services import audit_export, audit_log
from orchestratia.protocol.audit import AuditEventPublic, AuditFilters

SECRET = b"k" * 32


def _event(**fields: object) -> AuditEventPublic:
    values: dict[str, object] = {
        "id": 7, "created_at": datetime(2026, 1, 2, tzinfo=UTC), "actor_type": "user",
        "actor_id": "a@x.example", "action": "task.created", "target_type": "task",
        "target_id": "t1", "project_id": "p1", "ip": "10.0.0.1", "request_id": "r1",
        "details": {}, "prev_hash": "0" * 64, "hash": "1" * 64,
    }  # fmt: skip
    return AuditEventPublic.model_validate({**values, **fields})


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_prefixed(value: str) -> None:
    assert audit_export.safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["alice@a.example", "task.created", "", "1-2"])
def test_plain_cells_are_untouched(value: str) -> None:
    assert audit_export.safe_cell(value) == value


async def test_csv_export_neutralises_every_column() -> None:
    async def batches() -> AsyncIterator[list[AuditEventPublic]]:
        yield [_event(actor_id='=HYPERLINK("http://evil")', target_id="@x", details={"a": 1})]

    text = "".join([chunk async for chunk in audit_export.render(batches(), "csv")])
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["actor_id"] == '\'=HYPERLINK("http://evil")'
    assert row["target_id"] == "'@x" and row["details"] == '{"a": 1}'


def test_cursor_is_bound_to_its_filters() -> None:
    tasks = AuditFilters(action="task.")
    cursor = audit_log.make_cursor(SECRET, 42, tasks)
    assert audit_log.read_cursor(SECRET, cursor, AuditFilters(action="task.")) == 42
    for filters, secret in ((AuditFilters(action="auth."), SECRET), (tasks, b"other" * 8)):
        with pytest.raises(Invalid):
            audit_log.read_cursor(secret, cursor, filters)
    forged = audit_log.make_cursor(b"guess", 1, tasks)
    with pytest.raises(Invalid):
        audit_log.read_cursor(SECRET, forged, tasks)
