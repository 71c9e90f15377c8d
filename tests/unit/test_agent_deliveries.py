"""Delivery gating, order, exactly-once and acks, on a fake clock and a fake terminal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.delivery.gate import HumanLine, QuietWatch
from orchestratia.agent.delivery.log import FILE_NAME, TypedLog
from orchestratia.agent.delivery.queue import DeliveryQueue
from orchestratia.agent.link.routing import FrameRouter
from tests.unit.delivery_fakes import FakeClock, FakeLink, FakeTerminal, note, settle


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.link = FakeLink()
        self.terminals: dict[str, FakeTerminal] = {}
        self.tmp_path = tmp_path
        self.add("s1")
        self.queue = self.new_queue()

    def add(self, sid: str) -> FakeTerminal:
        directory = self.tmp_path / sid
        directory.mkdir(exist_ok=True)
        self.terminals[sid] = FakeTerminal(directory, self.clock)
        return self.terminals[sid]

    def new_queue(self) -> DeliveryQueue:
        return DeliveryQueue(
            self.terminals.get,
            self.link.send,
            idle_seconds=3.0,
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    async def receive(self, raw: dict[str, Any]) -> None:
        """A hub frame, routed to the queue as the daemon routes it."""
        await FrameRouter(self.queue.routes()).dispatch(raw)

    @property
    def s1(self) -> FakeTerminal:
        return self.terminals["s1"]


@pytest.fixture
async def rig(tmp_path: Path) -> Any:
    rig = Rig(tmp_path)
    yield rig
    await rig.queue.stop()


async def spin(steps: int = 300) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


async def test_normal_delivery_waits_for_quiet_output_then_types_and_acks(rig: Rig) -> None:
    rig.s1.busy_until = 10.0
    await rig.receive(note("d1", "use v2"))
    await settle(lambda: rig.link.sent)
    [(at, text), (enter_at, enter)] = rig.s1.typed
    assert at >= 13.0  # 3 s of quiet after the output stopped at 10 s
    assert text == b"[orchestratia] Note on task task1234: use v2" and enter == b"\r"
    assert enter_at - at == pytest.approx(0.15)  # apart, or a TUI takes it for a paste
    assert rig.link.sent == [
        {
            "type": "delivery_ack",
            "delivery_id": "d1",
            "session_id": "s1",
            "status": "delivered",
            "detail": "",
        }
    ]


async def test_quiet_counts_from_the_last_output_seen(rig: Rig) -> None:
    rig.queue.human_input("s1", b"")  # the session is known from now (t=0)
    rig.clock.now = 60.0  # nothing written since
    await rig.receive(note("d1"))
    await settle(lambda: rig.s1.typed)
    assert rig.s1.typed[0][0] == 60.0


async def test_urgent_delivery_does_not_wait_for_quiet(rig: Rig) -> None:
    rig.s1.busy_until = 1000.0
    await rig.receive(note("n1"))
    await rig.receive(note("u1", "stop now", urgent=True))
    await settle(lambda: rig.link.sent)
    assert rig.s1.lines() == [b"[orchestratia] URGENT note on task task1234: stop now"]
    assert rig.s1.typed[0][0] < 1.0
    assert rig.queue.queued("s1") == ["n1"]  # the normal one still waits


async def test_a_half_typed_line_holds_every_delivery(rig: Rig) -> None:
    assert rig.queue.human_input("s1", b"git sta") is False  # typed through, not held
    await rig.receive(note("n1"))
    await rig.receive(note("u1", urgent=True))
    await spin()
    assert rig.clock.now > 10 and rig.s1.typed == []
    rig.queue.human_input("s1", b"tus\r")
    await settle(lambda: len(rig.link.sent) == 2)
    assert rig.link.acks() == [("u1", "delivered"), ("n1", "delivered")]


@pytest.mark.parametrize("clearing", [b"\r", b"\n", b"\x03", b"\x15", b"\x7f" * 3])
async def test_the_line_is_clean_again_after(rig: Rig, clearing: bytes) -> None:
    rig.queue.human_input("s1", b"abc")
    await rig.receive(note("u1", urgent=True))
    await spin()
    assert rig.s1.typed == []
    rig.queue.human_input("s1", clearing)
    await settle(lambda: rig.s1.typed)


async def test_deliveries_keep_their_order(rig: Rig) -> None:
    for i in range(3):
        await rig.receive(note(f"n{i}", f"normal {i}"))
    await rig.receive(note("u0", "urgent", urgent=True))
    await settle(lambda: len(rig.link.sent) == 4)
    assert [a for a, _ in rig.link.acks()] == ["u0", "n0", "n1", "n2"]
    times = [at for at, data in rig.s1.typed if data != b"\r"]
    assert times[2] - times[1] >= 3.0  # each normal one waits for quiet after the last echo


async def test_input_during_a_typed_line_follows_its_enter(rig: Rig) -> None:
    await rig.receive(note("u1", urgent=True))
    await settle(lambda: rig.s1.typed)  # the line is typed, Enter not yet
    assert rig.queue.human_input("s1", b"ls") is True
    await settle(lambda: rig.link.sent)
    assert [data for _, data in rig.s1.typed][1:] == [b"\r", b"ls"]
    assert rig.queue.human_input("s1", b"\r") is False


async def test_a_resent_id_is_acked_but_never_typed_twice(rig: Rig, tmp_path: Path) -> None:
    await rig.receive(note("d1", urgent=True))
    await settle(lambda: rig.link.sent)
    await rig.receive(note("d1", urgent=True))
    assert rig.link.acks() == [("d1", "delivered")] * 2 and len(rig.s1.lines()) == 1

    await rig.queue.stop()
    rig.queue = rig.new_queue()  # a restarted daemon
    await rig.receive(note("d1", urgent=True))
    assert rig.link.acks()[-1] == ("d1", "delivered") and len(rig.s1.lines()) == 1
    path = tmp_path / "s1" / FILE_NAME
    assert json.loads(path.read_text()) == {"typed": ["d1"]}
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_resend_of_a_queued_id_is_not_queued_twice(rig: Rig) -> None:
    rig.s1.busy_until = 5.0
    await rig.receive(note("d1"))
    await rig.receive(note("d1"))
    assert rig.queue.queued("s1") == ["d1"]
    await settle(lambda: rig.link.sent)
    await spin()
    assert rig.link.acks() == [("d1", "delivered")] and len(rig.s1.lines()) == 1


async def test_unknown_and_ended_sessions_fail(rig: Rig) -> None:
    await rig.receive(note("x1", session_id="ghost"))
    rig.add("s2").alive = False
    await rig.receive(note("x2", session_id="s2"))
    assert rig.link.sent[0]["detail"] == "no session ghost on this server"
    assert rig.link.sent[1]["detail"] == "session s2 has ended"
    assert rig.link.acks() == [("x1", "failed"), ("x2", "failed")]


async def test_a_session_ending_fails_what_waits_for_it(rig: Rig) -> None:
    rig.queue.human_input("s1", b"half")
    await rig.receive(note("d1"))
    await spin(20)
    rig.s1.alive = False
    await settle(lambda: rig.link.sent)
    assert rig.link.acks() == [("d1", "failed")] and rig.s1.typed == []


async def test_typing_failure_is_reported_and_not_remembered(rig: Rig) -> None:
    rig.s1.fail = True
    await rig.receive(note("d1", urgent=True))
    await settle(lambda: rig.link.sent)
    assert rig.link.acks() == [("d1", "failed")]
    assert "no such session" in rig.link.sent[0]["detail"]
    rig.s1.fail = False
    await rig.receive(note("d1", urgent=True))  # the hub tries again
    await settle(lambda: len(rig.link.sent) == 2)
    assert rig.link.acks()[-1] == ("d1", "delivered") and len(rig.s1.lines()) == 1


async def test_without_delivery_id_it_is_typed_but_not_acked(rig: Rig) -> None:
    await rig.receive(note(None, "old hub", urgent=True))
    await settle(lambda: len(rig.s1.typed) == 2)
    await spin()
    assert rig.link.sent == []
    await rig.receive(note(None, "ghost", session_id="ghost"))
    assert rig.link.sent == []


async def test_acks_wait_for_the_link(rig: Rig) -> None:
    rig.link.up = False
    await rig.receive(note("x1", session_id="ghost"))
    await rig.receive(note("d1", urgent=True))
    await settle(lambda: len(rig.queue.unsent) == 2)
    rig.queue.link_changed(False)
    rig.link.up = True
    rig.queue.link_changed(True)
    await settle(lambda: len(rig.link.sent) == 2)
    assert rig.link.acks() == [("x1", "failed"), ("d1", "delivered")]
    assert not rig.queue.unsent


async def test_malformed_frames_are_refused(rig: Rig) -> None:
    await rig.receive({**note("d1"), "urgent": "very"})
    await rig.receive({"type": "task_note", "content": "no ids"})
    assert rig.link.acks() == [("d1", "failed")]
    assert rig.link.sent[0]["detail"] == "malformed delivery frame"


async def test_stop_finishes_the_line_being_typed(rig: Rig) -> None:
    await rig.receive(note("d1", urgent=True))
    await settle(lambda: rig.s1.typed)
    await rig.queue.stop()
    assert [data for _, data in rig.s1.typed][-1] == b"\r"
    assert "d1" in TypedLog(rig.s1.directory)


def test_typed_log_is_bounded_and_tolerates_a_bad_file(tmp_path: Path) -> None:
    log = TypedLog(tmp_path, limit=5)
    for i in range(8):
        log.add(f"d{i}")
    again = TypedLog(tmp_path, limit=5)
    assert len(again) == 5 and "d2" not in again and "d7" in again
    (tmp_path / FILE_NAME).write_text("{not json")
    assert len(TypedLog(tmp_path)) == 0
    gone = tmp_path / "ended"
    TypedLog(gone).add("d1")  # the session's directory was removed: not recreated
    assert not gone.exists()


# --- the human's line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "dirty"),
    [
        (b"ls", True),
        (b"ls\r", False),
        (b"ab\x7f\x7f", False),  # backspaced away
        (b"ab\x7f", True),
        ("é".encode(), True),
        ("é".encode() + b"\x7f", False),  # one character, two bytes
        (b"\x1b[A", True),  # up: history recall
        (b"\x1bOB", True),  # down, application mode
        (b"\x1b[C\x1b[D\x1b[H\x1b[3~", False),  # moves and delete on an empty line
        (b"\x1b[I\x1b[O", False),  # focus reports
        (b"\x1b[<0;10;5M\x1b[<0;10;5m", False),  # SGR mouse
        (b"\x1b[M !!", False),  # X10 mouse: three raw bytes
        (b"\x1b[200~\x1b[201~", False),  # an empty paste
        (b"\x1b[200~one\rtwo\x1b[201~", True),  # a newline inside a paste does not submit
        (b"\x1b[200~x\x1b[201~\r", False),
        (b"\x1b", False),  # the Escape key alone
        (b"\x1bb", True),  # Alt-b and friends edit the line
        (b"ab\x17", True),  # Ctrl-W: cannot count what it deleted
        (b"\t", False),
        (b"a\t\x7f", True),  # completion inserted an unknown amount
        (b"\x1b[13u", False),  # kitty Enter
        (b"\x1b[97u", True),  # kitty "a"
        (b"x\x03", False),
        (b"abc\x15", False),
    ],
)
def test_human_line(keys: bytes, dirty: bool) -> None:
    line = HumanLine()
    line.feed(keys)
    assert line.dirty is dirty


def test_human_line_across_chunks() -> None:
    line = HumanLine()
    for byte in b"\x1b[200~pa":
        line.feed(bytes([byte]))  # a sequence may arrive split (except a lone ESC)
    assert line.dirty
    line.feed(b"\x1b[201~")
    line.feed(b"\x15")
    assert not line.dirty
    line.feed(b"\x1b")
    line.feed(b"[A")  # ESC ended its chunk: the Escape key, then "[A" typed
    assert line.chars == 2


def test_quiet_watch() -> None:
    watch = QuietWatch(mark=10, now=0.0)
    watch.observe(10, 5.0)
    assert watch.quiet_for(5.0) == 5.0
    watch.observe(11, 6.0)
    assert watch.quiet_for(7.5) == 1.5


def test_idle_seconds_is_a_bounded_setting() -> None:
    base = {"hub_url": "http://hub", "api_key": "k", "server_id": "s", "name": "n"}
    assert AgentConfig(**base).delivery_idle_seconds == 3.0
    assert AgentConfig(**base, delivery_idle_seconds=0).delivery_idle_seconds == 0
    for bad in (-1, 301):
        with pytest.raises(ValidationError):
            AgentConfig(**base, delivery_idle_seconds=bad)
