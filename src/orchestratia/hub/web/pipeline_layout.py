"""A layered drawing of a pipeline for the dashboard: each task sits in the column of its depth
(the longest chain of in-pipeline dependencies above it), and dependencies are drawn left to
right. Pure: no I/O, so the page renders it as inline SVG without any script."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from orchestratia.protocol.task_replies import DependencyPublic, TaskPublic

NODE_W = 230
NODE_H = 70
COL_GAP = 110
ROW_GAP = 26
PAD = 16
TITLE_CHARS = 26  # what fits NODE_W at the node title's font size


@dataclass(frozen=True)
class Node:
    task: TaskPublic
    layer: int
    x: float
    y: float

    @property
    def label(self) -> str:
        title = self.task.title
        return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    dependency: DependencyPublic
    path: str
    label_x: float
    label_y: float

    @property
    def label(self) -> str:
        dep = self.dependency
        if dep.dependency_type == "input" and dep.contract_key:
            return f"input: {dep.contract_key}"
        return dep.dependency_type


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    # Dependencies on tasks outside the pipeline: listed under the graph rather than drawn.
    external: list[DependencyPublic]


def _depths(tasks: Sequence[TaskPublic], ids: set[str]) -> dict[str, int]:
    """Longest-path depth by Kahn's algorithm; the hub refuses cycles, but a cycle that slipped
    in anyway lands one layer past the rest instead of hanging the page."""
    ups: dict[str, list[str]] = {
        t.id: [d.depends_on_task_id for d in t.dependencies if d.depends_on_task_id in ids]
        for t in tasks
    }
    downs: dict[str, list[str]] = defaultdict(list)
    for tid, parents in ups.items():
        for parent in parents:
            downs[parent].append(tid)
    waiting = {tid: len(parents) for tid, parents in ups.items()}
    depth = dict.fromkeys(ids, 0)
    ready = [t.id for t in tasks if waiting[t.id] == 0]
    placed: set[str] = set()
    while ready:
        tid = ready.pop()
        placed.add(tid)
        for child in downs[tid]:
            depth[child] = max(depth[child], depth[tid] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    stuck = ids - placed
    if stuck:
        top = max((depth[t] for t in placed), default=-1) + 1
        for tid in stuck:
            depth[tid] = top
    return depth


def layout(tasks: Sequence[TaskPublic]) -> Layout:
    """Place ``tasks`` (oldest first reads best) in layers and route their dependencies."""
    ids = {t.id for t in tasks}
    order = {t.id: i for i, t in enumerate(sorted(tasks, key=lambda t: t.created_at))}
    depth = _depths(tasks, ids)
    layers: dict[int, list[TaskPublic]] = defaultdict(list)
    for task in tasks:
        layers[depth[task.id]].append(task)
    rows: dict[str, float] = {}
    for layer in sorted(layers):
        # Barycentre ordering: sit each task near the tasks it depends on, so edges cross less.
        def weight(t: TaskPublic) -> tuple[float, int]:
            ups = [
                rows[d.depends_on_task_id] for d in t.dependencies if d.depends_on_task_id in rows
            ]
            return (sum(ups) / len(ups) if ups else float(order[t.id]), order[t.id])

        layers[layer].sort(key=weight)
        for row, task in enumerate(layers[layer]):
            rows[task.id] = row
    tallest = max((len(v) for v in layers.values()), default=0)
    nodes: dict[str, Node] = {}
    for layer, members in layers.items():
        offset = (tallest - len(members)) * (NODE_H + ROW_GAP) / 2
        for row, task in enumerate(members):
            x = PAD + layer * (NODE_W + COL_GAP)
            y = PAD + offset + row * (NODE_H + ROW_GAP)
            nodes[task.id] = Node(task, layer, x, y)
    edges: list[Edge] = []
    external: list[DependencyPublic] = []
    for task in tasks:
        for dep in task.dependencies:
            upstream = nodes.get(dep.depends_on_task_id)
            if upstream is None:
                external.append(dep)
                continue
            edges.append(_edge(upstream, nodes[task.id], dep))
    width = PAD * 2 + (max(layers, default=0) + 1) * NODE_W + max(layers, default=0) * COL_GAP
    height = PAD * 2 + tallest * NODE_H + max(tallest - 1, 0) * ROW_GAP
    ordered = sorted(nodes.values(), key=lambda n: (n.layer, n.y))
    return Layout(ordered, edges, width, height, external)


def _edge(upstream: Node, dependent: Node, dep: DependencyPublic) -> Edge:
    sx, sy = upstream.x + NODE_W, upstream.y + NODE_H / 2
    tx, ty = dependent.x, dependent.y + NODE_H / 2
    bend = max((tx - sx) / 2, 30)
    path = (
        f"M{sx:.1f},{sy:.1f} C{sx + bend:.1f},{sy:.1f} {tx - bend:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"
    )
    return Edge(upstream.task.id, dependent.task.id, dep, path, (sx + tx) / 2, (sy + ty) / 2 - 6)
