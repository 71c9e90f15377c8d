"""The audit log as downloads: JSON Lines (one event per line, every field) and CSV (for a
spreadsheet, safe to open in one)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

from orchestratia.protocol.audit import AuditEventPublic, ExportFormat

MEDIA_TYPES: dict[ExportFormat, str] = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}
CSV_COLUMNS = (
    "id",
    "created_at",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "project_id",
    "ip",
    "request_id",
    "details",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): an actor
# name or a detail like "=HYPERLINK(...)" must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_row(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def _csv_values(event: AuditEventPublic) -> list[str]:
    data = event.model_dump(mode="json")
    data["details"] = json.dumps(event.details, sort_keys=True, default=str)
    return [safe_cell(data[c]) for c in CSV_COLUMNS]


async def render(
    batches: AsyncIterator[list[AuditEventPublic]], fmt: ExportFormat
) -> AsyncIterator[str]:
    if fmt == "csv":
        yield _csv_row(list(CSV_COLUMNS))
    async for batch in batches:
        if fmt == "csv":
            yield "".join(_csv_row(_csv_values(e)) for e in batch)
        else:
            yield "".join(e.model_dump_json() + "\n" for e in batch)
