"""SSH tunnels over the API (issue 16, build point 2): owners add them with a key the hub seals,
bad input gets a precise 4xx, other roles and tenants are kept out, every change is audited;
against a real sshd the hub reports a refused key, and comes up once the key is authorized."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from orchestratia.hub.db.tunnel_models import SshTunnel
from orchestratia.hub.sealed_columns import SSH_PRIVATE_KEY
from orchestratia.hub.services.fleet import ssh_keys
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import cast_of
from tests.integration.running_hub import RunningHub
from tests.sshd_support import running_sshd
from tests.support import free_port, wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {
        "tunnel_backoff_base": 0.1,
        "tunnel_backoff_cap": 0.5,
        "tunnel_keepalive_interval": 1,
        "tunnel_lease_seconds": 3,
    }


def body(project_id: str, **extra: Any) -> dict[str, Any]:
    return {"project_id": project_id, "name": "edge", "host": "127.0.0.1", "port": 2222,
            "username": "deploy", "generate": True, **extra}  # fmt: skip


async def created(client: httpx.AsyncClient, **values: Any) -> dict[str, Any]:
    res = await client.post("/api/v1/tunnels", json=values)
    assert res.status_code == 201, res.text
    return dict(res.json())


async def test_owners_add_tunnels_with_sealed_keys_and_precise_refusals(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    pasted = ssh_keys.generate_key("pasted")
    refusals = {
        "not a key": body(project_id, generate=False, private_key="hello"),
        "public half": body(project_id, generate=False, private_key=pasted.public_line),
        "both": body(project_id, private_key=pasted.private_pem),
        "neither": body(project_id, generate=False),
        "bad host": body(project_id, host="exa mple.com"),
        "numeric host": body(project_id, host="300.1.2.3"),
        "port 0": body(project_id, port=0),
        "port huge": body(project_id, port=70000),
        "remote port": body(project_id, remote_port=10**12),
        "user": body(project_id, username="root; rm -rf /"),
        "huge key": body(project_id, generate=False, private_key="A" * 20_000),
        "long name": body(project_id, name="n" * 500),
        "unknown field": body(project_id, password="hunter2"),
    }
    for what, values in refusals.items():
        res = await admin.post("/api/v1/tunnels", json=values)
        assert res.status_code == 422, (what, res.text)
        assert "PRIVATE KEY" not in res.text, what
    res = await admin.post("/api/v1/tunnels", json=body("no-such-project"))
    assert res.status_code == 404

    made = await created(admin, **body(project_id))
    assert made["public_key"].startswith("ssh-ed25519 ")
    assert made["setup"]["token"].startswith("orcreg_")
    assert made["setup"]["hub_url"] == made["local_hub_url"] == "http://127.0.0.1:8765"
    assert made["status"] == "pending_confirmation" and made["server_id"] is None
    dup = await admin.post("/api/v1/tunnels", json=body(project_id))
    assert dup.status_code == 409
    mine = await created(
        admin, **body(project_id, name="own key", generate=False, private_key=pasted.private_pem)
    )
    assert mine["public_key"] == pasted.public_line

    # Sealed at rest, bound to its row; never in a reply.
    async with hub.state.sessionmaker() as db:
        row = await db.scalar(select(SshTunnel).where(SshTunnel.id == mine["id"]))
    assert row is not None and row.private_key_sealed.startswith("v1.")
    assert "PRIVATE KEY" not in row.private_key_sealed
    opened = hub.state.keyring.open(row.private_key_sealed, SSH_PRIVATE_KEY.aad(row.id))
    assert opened == pasted.private_pem
    listed = await admin.get("/api/v1/tunnels", params={"project_id": project_id})
    assert [t["name"] for t in listed.json()["tunnels"]] == ["edge", "own key"]
    assert "PRIVATE KEY" not in listed.text and "private_key" not in listed.text

    res = await admin.patch(f"/api/v1/tunnels/{made['id']}", json={"enabled": False})
    assert res.status_code == 200 and res.json()["status"] == "disabled"
    res = await admin.patch(f"/api/v1/tunnels/{made['id']}", json={"enabled": "maybe"})
    assert res.status_code == 422
    res = await admin.post(
        f"/api/v1/tunnels/{made['id']}/confirm-host-key", json={"fingerprint": "md5:aa"}
    )
    assert res.status_code == 422
    setup = await admin.post(f"/api/v1/tunnels/{made['id']}/setup")
    assert setup.status_code == 201 and setup.json()["token"] != made["setup"]["token"]
    assert (await admin.delete(f"/api/v1/tunnels/{made['id']}")).status_code == 204
    assert (await admin.get(f"/api/v1/tunnels/{made['id']}")).status_code == 404

    actions = [e.action for e in await audit_rows(hub) if e.target_type == "ssh_tunnel"]
    assert actions == ["tunnel.created", "tunnel.created", "tunnel.disabled", "tunnel.deleted"]
    for event in await audit_rows(hub, "tunnel.created"):
        assert "PRIVATE" not in str(event.details) and event.details["host"] == "127.0.0.1"


async def test_only_owners_change_tunnels_and_other_tenants_see_nothing(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with cast_of(hub, admin, project_id) as cast:
        made = await created(cast.owner, **body(project_id))
        one = f"/api/v1/tunnels/{made['id']}"
        for client in (cast.member, cast.viewer):
            res = await client.post("/api/v1/tunnels", json=body(project_id, name="x"))
            assert res.status_code == 403, res.text
            assert (await client.patch(one, json={"enabled": False})).status_code == 403
            assert (await client.delete(one)).status_code == 403
            assert (await client.get(one)).status_code == 200  # the fleet view shows tunnels
        for client in (cast.outsider, cast.other_tenant):
            calls = [
                ("POST", "/api/v1/tunnels", body(project_id, name="y")),
                ("GET", f"/api/v1/tunnels?project_id={project_id}", None),
                ("GET", one, None),
                ("PATCH", one, {"enabled": False}),
                ("POST", f"{one}/confirm-host-key", {"fingerprint": "SHA256:" + "A" * 43}),
                ("POST", f"{one}/setup", None),
                ("DELETE", one, None),
                ("GET", f"/ui/tunnels/{made['id']}/row", None),
            ]
            for method, url, payload in calls:
                res = await client.request(method, url, json=payload)
                assert res.status_code == 404, (method, url, res.status_code, res.text)
                assert made["public_key"] not in res.text
        assert (await admin.get(one)).json()["enabled"] is True


async def test_a_refused_key_is_reported_and_an_authorized_one_comes_up(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    # The forwards lead to where this in-process hub really listens.
    hub.settings.port = urlsplit(hub.url).port or 0
    with running_sshd() as (sshd, fingerprint):
        made = await created(
            admin, **body(project_id, port=sshd.port, username=sshd.user, remote_port=free_port())
        )
        one = f"/api/v1/tunnels/{made['id']}"

        async def state() -> dict[str, Any]:
            return dict((await admin.get(one)).json())

        await wait_until(lambda: _offered(state), 15, "the host key offered")
        res = await admin.post(f"{one}/confirm-host-key", json={"fingerprint": fingerprint})
        assert res.status_code == 200, res.text
        refused = await wait_until(
            lambda: _with(state, "down", "refused the key"), 15, "the refused key reported"
        )
        assert refused["connected_at"] is None and sshd.accepted_logins() == 0

        sshd.authorize(made["public_key"])
        up = await wait_until(lambda: _with(state, "up", None), 15, "the tunnel up")
        assert up["last_error"] is None and sshd.accepted_logins() == 1
        async with hub.state.sessionmaker() as db:
            row = await db.get(SshTunnel, made["id"])
        assert row is not None and row.lease_owner == hub.state.replica_id

        # Disabled: the replica closes it and lets go of the lease.
        assert (await admin.patch(one, json={"enabled": False})).status_code == 200
        await wait_until(lambda: _released(hub, made["id"]), 15, "the lease given up")
        assert (await state())["status"] == "disabled"


State = Callable[[], Awaitable[dict[str, Any]]]


async def _offered(state: State) -> bool:
    return bool((await state())["offered_fingerprint"])


async def _with(state: State, status: str, error: str | None) -> dict[str, Any] | bool:
    now = await state()
    if now["status"] != status:
        return False
    if error is not None and error not in (now["last_error"] or ""):
        return False
    return dict(now)


async def _released(hub: RunningHub, tunnel_id: str) -> bool:
    async with hub.state.sessionmaker() as db:
        row = await db.get(SshTunnel, tunnel_id)
    return row is not None and row.lease_owner is None
