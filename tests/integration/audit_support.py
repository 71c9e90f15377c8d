"""A project with some audited history."""

from __future__ import annotations

import httpx


async def make_tasks(admin: httpx.AsyncClient, project_id: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        res = await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": f"t{i}"})
        assert res.status_code == 201, res.text
        ids.append(res.json()["id"])
    return ids
