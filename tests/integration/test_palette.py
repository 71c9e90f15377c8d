"""GET /api/v1/palette: the command palette finds the caller's sessions, tasks and servers by
scattered letters of their names, and never anything of another tenant, of a project the caller
is not a member of, or of a kind the caller's API key does not read."""

from __future__ import annotations

from typing import Any

import httpx

from orchestratia.hub.db.models import TerminalSession
from tests.integration.hub_setup import add_user, register_body, registration_token, tenant_b
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub


async def seed(
    hub: RunningHub, client: httpx.AsyncClient, project: str, word: str
) -> dict[str, Any]:
    """A project named ``project`` holding a task, a server and a session, each named after
    ``word``; their ids."""
    made = await client.post("/api/v1/projects", json={"name": project})
    assert made.status_code == 201, made.text
    project_id = made.json()["id"]
    task = await client.post(
        "/api/v1/tasks", json={"project_id": project_id, "title": f"Rotate the {word} keys"}
    )
    assert task.status_code == 201, task.text
    token = await registration_token(client, project_id)
    body = register_body(token, f"machine-{word}", name=f"{word}-box", hostname=f"{word}.local")
    registered = await client.post("/api/v1/servers/register", json=body)
    assert registered.status_code == 200, registered.text
    server = registered.json()
    me = (await client.get("/api/v1/auth/me")).json()
    async with hub.state.sessionmaker() as db:
        session = TerminalSession(
            tenant_id=me["tenant_id"],
            project_id=project_id,
            server_id=server["id"],
            name=f"{word}-agent",
            working_directory="/srv",
        )
        db.add(session)
        await db.commit()
        session_id = session.id
    return {"project": project_id, "task": task.json()["id"], "server": server["id"],
            "session": session_id}  # fmt: skip


async def labels(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    res = await client.get("/api/v1/palette", params={"q": q, **params})
    assert res.status_code == 200, res.text
    return [f"{e['kind']}:{e['label']}" for e in res.json()["entries"]]


async def test_palette_finds_by_scattered_letters_and_short_id(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    ids = await seed(hub, admin, "alpha", "signing")
    everything = await labels(admin, "signing")
    assert set(everything) == {
        "task:Rotate the signing keys",
        "server:signing-box",
        "session:signing-agent",
    }
    # Letters in order, not contiguous; a prefix ranks above a scattered match.
    assert await labels(admin, "rot sgn") == ["task:Rotate the signing keys"]
    assert (await labels(admin, "sign"))[0] in {"server:signing-box", "session:signing-agent"}
    assert await labels(admin, ids["task"][:8]) == ["task:Rotate the signing keys"]
    # LIKE's wildcards are letters here: "%" and "_" find only names holding them.
    assert await labels(admin, "%") == []
    assert await labels(admin, "_") == []
    res = await admin.get("/api/v1/palette", params={"q": "signing"})
    urls = {e["kind"]: e["url"] for e in res.json()["entries"]}
    assert urls == {
        "task": f"/tasks/{ids['task']}",
        "session": f"/sessions/{ids['session']}",
        "server": f"/servers/{ids['server']}",
    }
    assert len(await labels(admin, "", limit=2)) == 2
    # A removed server is gone from the palette too.
    res = await admin.delete(f"/api/v1/servers/{ids['server']}", params={"force": "true"})
    assert res.status_code in (200, 204), res.text
    assert "server:signing-box" not in await labels(admin, "signing")


async def test_palette_never_returns_what_the_caller_may_not_see(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    await seed(hub, admin, "alpha", "signing")
    bob = await tenant_b(hub)
    await seed(hub, bob, "bravo", "secret")
    # The other tenant: nothing, by name or by any letter of it.
    assert await labels(admin, "secret") == []
    assert not any("secret" in label for label in await labels(admin, "", limit=30))
    assert not any("signing" in label for label in await labels(bob, "", limit=30))

    # A member of another project of the same tenant sees only that project's entries.
    hidden = await seed(hub, admin, "hidden", "private")
    carol = await add_user(hub, admin, "carol@a.example", hidden["project"], "viewer")
    assert set(await labels(carol, "", limit=30)) == {
        "task:Rotate the private keys",
        "server:private-box",
        "session:private-agent",
    }
    dave = await add_user(hub, admin, "dave@a.example")
    assert await labels(dave, "") == []

    # A key reads only the kinds its scopes allow.
    key = await make_key(admin, ["tasks:read"])
    async with key_client(hub, key["key"]) as tasks_only:
        assert await labels(tasks_only, "signing") == ["task:Rotate the signing keys"]
    await bob.aclose()
    await carol.aclose()
    await dave.aclose()


async def test_palette_refuses_oversize_input(admin: httpx.AsyncClient) -> None:
    for params in ({"q": "x" * 101}, {"limit": 0}, {"limit": 31}, {"limit": "many"}):
        res = await admin.get("/api/v1/palette", params=params)
        assert res.status_code == 422, (params, res.text)
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as nobody:
        assert (await nobody.get("/api/v1/palette")).status_code == 401
