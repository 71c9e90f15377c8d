"""The server page's load history as server-side SVG: no script, no library, readable as soon
as the page arrives. Percentages share one chart (0 to 100 %); the load average gets its own,
scaled to its largest value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestratia.hub.db.fleet_models import ServerSample

WIDTH = 720
HEIGHT = 180
LOAD_HEIGHT = 110
PAD_LEFT = 58
PAD_RIGHT = 8
PAD_Y = 10
# A missed minute or two is normal; a longer silence (the server was off) breaks the line.
GAP = timedelta(minutes=5)
SPAN = timedelta(hours=24)


@dataclass(frozen=True)
class Series:
    key: str  # the CSS class and the legend's name for it
    label: str
    paths: list[str]  # one polyline's points per unbroken run
    latest: float | None


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


@dataclass(frozen=True)
class LoadHistory:
    percent: Chart
    load: Chart
    points: int


def _x(at: datetime, start: datetime) -> float:
    share = (at - start) / SPAN
    return round(PAD_LEFT + share * (WIDTH - PAD_LEFT - PAD_RIGHT), 1)


def _y(value: float, top: float, height: int) -> float:
    share = min(max(value / top, 0.0), 1.0) if top > 0 else 0.0
    return round(height - PAD_Y - share * (height - 2 * PAD_Y), 1)


def _series(
    rows: Sequence[ServerSample],
    key: str,
    label: str,
    value: Callable[[ServerSample], float | None],
    start: datetime,
    top: float,
    height: int,
) -> Series:
    paths: list[str] = []
    run: list[str] = []
    previous: datetime | None = None
    latest: float | None = None
    for row in rows:
        figure = value(row)
        if figure is None:
            continue
        if previous is not None and row.created_at - previous > GAP and run:
            paths.append(" ".join(run))
            run = []
        run.append(f"{_x(row.created_at, start)},{_y(figure, top, height)}")
        previous = row.created_at
        latest = figure
    if run:
        paths.append(" ".join(run))
    return Series(key, label, paths, latest)


def _x_ticks(start: datetime) -> list[Tick]:
    return [
        Tick(_x(start + timedelta(hours=h), start), "now" if h == 24 else f"-{24 - h} h")
        for h in range(0, 25, 6)
    ]


def _y_ticks(top: float, height: int, unit: str) -> list[Tick]:
    return [
        Tick(_y(top * share, top, height), f"{top * share:g}{unit}")
        for share in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]


def _load_top(rows: Sequence[ServerSample]) -> float:
    # A round ceiling above the highest load seen, so the axis reads 0, 0.5, 1, … not 0.37.
    highest = max((r.load1 for r in rows if r.load1 is not None), default=0.0)
    top = 1.0
    while top < highest:
        top *= 2
    return top


def history(rows: Sequence[ServerSample], now: datetime) -> LoadHistory:
    """The last 24 h of ``rows`` (oldest first) as two charts."""
    start = now - SPAN
    shown = [r for r in rows if r.created_at >= start]
    percent = Chart(
        WIDTH,
        HEIGHT,
        PAD_LEFT,
        WIDTH - PAD_RIGHT,
        [
            _series(shown, "cpu", "CPU", lambda r: r.cpu_percent, start, 100, HEIGHT),
            _series(shown, "memory", "Memory", lambda r: r.memory_percent, start, 100, HEIGHT),
            _series(shown, "disk", "Disk", lambda r: r.disk_percent, start, 100, HEIGHT),
        ],
        _y_ticks(100, HEIGHT, "%"),
        _x_ticks(start),
    )
    top = _load_top(shown)
    load = Chart(
        WIDTH,
        LOAD_HEIGHT,
        PAD_LEFT,
        WIDTH - PAD_RIGHT,
        [_series(shown, "load", "Load (1 min)", lambda r: r.load1, start, top, LOAD_HEIGHT)],
        [t for i, t in enumerate(_y_ticks(top, LOAD_HEIGHT, "")) if i % 2 == 0],
        _x_ticks(start),
    )
    return LoadHistory(percent, load, len(shown))
