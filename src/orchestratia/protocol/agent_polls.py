"""Replies to what the public v0.20 agent polls for features this hub does not have yet (see
``hub/api/agent_unsupported.py``): the hub answers an empty list, typed with the fields the
public agent reads from an item (tests/fixtures/public_agent_v020/http/)."""

from __future__ import annotations

from pydantic import BaseModel


class PendingUpload(BaseModel):
    """A file the hub wants the daemon to fetch (``GET /files/pending``)."""

    upload_id: str
    filename: str
    download_url: str
    sha256: str | None


class PendingPull(BaseModel):
    """A file the hub wants the daemon to send (``GET /files/pulls/pending``)."""

    download_id: str
    path: str


class AccessGrant(BaseModel):
    """An SSH access grant (``GET /access-grants``), as the public CLI and daemon read it."""

    grant_id: str
    role: str
    local_bind_port: int
    target_port: int
    privilege_level: str
    ssh_username: str
    ssh_private_key: str
    ssh_public_key: str
