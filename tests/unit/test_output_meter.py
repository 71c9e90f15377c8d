"""The overview's output counter and how the page draws and words its numbers."""

from __future__ import annotations

from orchestratia.hub.services.fleet.throughput import BUCKET_SECONDS, BUCKETS, OutputMeter
from orchestratia.hub.web.overview_pages import SPARK_H, ago, rate, sparkline


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_buckets_add_up_per_project_and_age_out() -> None:
    clock = Clock()
    meter = OutputMeter(clock)
    meter.add("a", 100)
    meter.add("a", 50)
    meter.add("b", 7)
    assert len(meter.series(["a"])) == BUCKETS
    assert meter.series(["a"])[-1] == 150 and sum(meter.series(["a"])) == 150
    assert meter.series(["a", "b"])[-1] == 157
    assert sum(meter.series(["c"])) == 0 and sum(meter.series([])) == 0

    clock.now += BUCKET_SECONDS
    meter.add("a", 1)
    assert meter.series(["a"])[-2:] == [150, 1]

    # Ten minutes later the first bucket has left the window, and the ring holds no more than
    # the window (plus the one bucket pruned on the next write).
    for _ in range(BUCKETS):
        clock.now += BUCKET_SECONDS
        meter.add("a", 2)
    assert sum(meter.series(["a"])) == 2 * BUCKETS
    assert len(meter._rings["a"]) <= BUCKETS + 1


def test_sparkline_scales_to_the_peak() -> None:
    points = [tuple(map(float, p.split(","))) for p in sparkline([0, 5, 10]).split()]
    assert [x for x, _ in points] == [0.0, 150.0, 300.0]
    assert points[0][1] == SPARK_H - 2 and points[2][1] == 2.0  # bottom and top margins
    assert all(
        y == SPARK_H - 2
        for _, y in (tuple(map(float, p.split(","))) for p in sparkline([0, 0]).split())
    )


def test_ages_and_rates_read_as_people_say_them() -> None:
    assert [ago(s) for s in (None, 0.4, 59, 60, 3599, 7200, 90000)] == [
        "-", "0 s", "59 s", "1 min", "59 min", "2 h", "1 d",
    ]  # fmt: skip
    assert [rate(r) for r in (0, 999, 1500, 2_500_000)] == [
        "0 B/s",
        "999 B/s",
        "1.5 kB/s",
        "2.5 MB/s",
    ]
