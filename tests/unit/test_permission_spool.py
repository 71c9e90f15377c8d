"""The permission spool: concurrent appends stay whole lines, rotation never loses a line, and
shipping deletes entries only after the hub stored them (batches of at most 200)."""

from __future__ import annotations

import fcntl
import json
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestratia.agent.approvals.permission_shipping import SpoolShipper
from orchestratia.agent.approvals.permission_spool import (
    REJECTED_FILE,
    SENDING_GLOB,
    SPOOL_FILE,
    append_entry,
    new_entry,
    rotate,
)
from orchestratia.agent.link.backoff import Backoff


def entry(n: int, **extra: Any) -> dict[str, Any]:
    fields = {"session_id": "sess-1", "project_id": None, "agent": "claude", "tool": "Bash",
              "tool_input": {"command": f"echo {n}"}, "decision": "allowed",
              "matched_rule_id": "r1", "decided_by": "rule", "reason": "ok"}  # fmt: skip
    return new_entry(**{**fields, **extra})


class LogHub:
    """``POST permissions/log`` via MockTransport; ``status`` scripts the replies in turn."""

    def __init__(self, *status: int) -> None:
        self.status = list(status)
        self.batches: list[list[dict[str, Any]]] = []
        self.stored: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/server/permissions/log"
        entries = json.loads(request.content)["entries"]
        self.batches.append(entries)
        code = self.status.pop(0) if self.status else 201
        if code == 422:
            return httpx.Response(422, json={"detail": "entries[1].session_id: no such session"})
        if code != 201:
            return httpx.Response(code, text="down")
        for e in entries:
            self.stored.setdefault(e["id"], e)
        return httpx.Response(201, json={"stored": len(entries), "duplicates": 0})


def shipper(directory: Path, hub: LogHub, patterns: tuple[str, ...] = ()) -> SpoolShipper:
    client = httpx.AsyncClient(base_url="http://hub.test/api/v1/server/",
                               transport=httpx.MockTransport(hub))  # fmt: skip
    return SpoolShipper(directory, lambda: client, redact_patterns=patterns,
                        backoff=Backoff(0.01, 0.02))  # fmt: skip


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_append_is_private_and_whole_lines_under_concurrency(tmp_path: Path) -> None:
    directory = tmp_path / "policy"
    big = "x" * 200_000  # far past PIPE_BUF: only the lock keeps such lines apart

    def hook(worker: int) -> None:
        for n in range(20):
            append_entry(directory, entry(n, tool_input={"command": big, "w": worker}))

    threads = [threading.Thread(target=hook, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / SPOOL_FILE).stat().st_mode) == 0o600
    written = lines(directory / SPOOL_FILE)
    assert len(written) == 120 and len({e["id"] for e in written}) == 120
    assert all(e["tool_input"]["command"] == big for e in written)


def test_appends_after_a_rotation_go_to_the_new_file(tmp_path: Path) -> None:
    append_entry(tmp_path, entry(1))
    rotated = rotate(tmp_path)
    assert rotated is not None and Path(rotated).match(SENDING_GLOB)
    append_entry(tmp_path, entry(2))
    assert [e["tool_input"]["command"] for e in lines(Path(rotated))] == ["echo 1"]
    assert [e["tool_input"]["command"] for e in lines(tmp_path / SPOOL_FILE)] == ["echo 2"]
    assert rotate(tmp_path / "missing") is None


def test_a_hook_that_opened_the_spool_before_a_rotation_writes_to_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_entry(tmp_path, entry(1))
    real_flock = fcntl.flock
    rotated: list[str | None] = []

    def rotation_sneaks_in(fd: int, operation: int) -> None:
        # The daemon rotates right between the hook's open() and its lock.
        if not rotated:
            rotated.append(None)
            rotated[0] = rotate(tmp_path)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", rotation_sneaks_in)
    append_entry(tmp_path, entry(2))
    monkeypatch.undo()
    assert rotated[0] is not None
    assert [e["tool_input"]["command"] for e in lines(Path(rotated[0]))] == ["echo 1"]
    assert [e["tool_input"]["command"] for e in lines(tmp_path / SPOOL_FILE)] == ["echo 2"]


async def test_ships_in_batches_and_deletes_only_what_was_stored(tmp_path: Path) -> None:
    for n in range(450):
        append_entry(tmp_path, entry(n))
    hub = LogHub(201, 503)  # the second batch fails: the hub went down
    ship = shipper(tmp_path, hub)
    assert not await ship.ship_once()
    [pending] = list(tmp_path.glob(SENDING_GLOB))
    assert len(lines(pending)) == 250 and ship.shipped == 200
    append_entry(tmp_path, entry(999))  # a hook keeps writing while the hub is down
    assert await ship.ship_once()  # the hub is back: the pending file first
    assert not list(tmp_path.glob(SENDING_GLOB))
    assert await ship.ship_once()  # then the newly rotated spool
    assert [len(b) for b in hub.batches] == [200, 200, 200, 50, 1]
    assert len(hub.stored) == 451 and ship.shipped == 451
    assert not list(tmp_path.glob(SENDING_GLOB))
    assert await ship.ship_once()  # nothing left, nothing sent
    assert len(hub.batches) == 5


async def test_entries_are_redacted_clipped_and_bad_lines_dropped(tmp_path: Path) -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    append_entry(tmp_path, entry(1, tool_input={"command": f"git push https://{token}@x",
                                                "content": "y" * 50_000}))  # fmt: skip
    append_entry(tmp_path, entry(2, decision="maybe"))  # not a valid entry
    with (tmp_path / SPOOL_FILE).open("ab") as spool:
        spool.write(b"not json\n" + b'{"torn": ')  # a hook died mid-write
    hub = LogHub()
    assert await shipper(tmp_path, hub).ship_once()
    [[sent]] = hub.batches
    assert token not in json.dumps(sent) and "REDACTED" in sent["tool_input"]["command"]
    assert len(sent["tool_input"]["content"]) < 3_000


async def test_a_batch_refused_for_one_entry_ships_the_rest(tmp_path: Path) -> None:
    for n in range(3):
        append_entry(tmp_path, entry(n))
    hub = LogHub(422)
    assert await shipper(tmp_path, hub).ship_once()
    assert [len(b) for b in hub.batches] == [3, 2]
    assert sorted(e["tool_input"]["command"] for e in hub.stored.values()) == ["echo 0", "echo 2"]
    [parked] = lines(tmp_path / REJECTED_FILE)
    assert parked["tool_input"]["command"] == "echo 1"


@pytest.mark.parametrize("status", [401, 500, 429])
async def test_retryable_failures_keep_everything(tmp_path: Path, status: int) -> None:
    append_entry(tmp_path, entry(1))
    hub = LogHub(status)
    ship = shipper(tmp_path, hub)
    assert not await ship.ship_once()
    assert len(lines(next(tmp_path.glob(SENDING_GLOB)))) == 1
    assert await ship.ship_once()
    assert len(hub.stored) == 1
