// Pipeline graph: nodes recoloured and edges restyled as the pipeline's tasks change, live from
// task_update messages on /ws/dashboard. The layout itself is the hub's (web/pipeline_layout.py).
"use strict";

(() => {
  const graph = document.getElementById("pipeline-graph");
  if (!graph) return;
  const pipelineId = graph.dataset.pipelineId;
  const projectId = graph.dataset.projectId;
  const indicator = document.getElementById("live-indicator");
  const label = (s) => s.replace(/_/g, " ");

  function refreshCounts() {
    const counts = {};
    graph.querySelectorAll(".pnode").forEach((n) => {
      counts[n.dataset.status] = (counts[n.dataset.status] || 0) + 1;
    });
    const box = document.getElementById("pipeline-counts");
    box.replaceChildren(
      ...Object.entries(counts).flatMap(([status, n]) => {
        const chip = document.createElement("span");
        chip.className = "tstatus";
        chip.dataset.status = status;
        chip.textContent = `${label(status)} ${n}`;
        return [chip, " "];
      }),
    );
  }

  function apply(t) {
    if (t.pipeline_id !== pipelineId) return;
    const node = graph.querySelector(`.pnode[data-task-id="${t.id}"]`);
    if (!node) return;
    node.dataset.status = t.status;
    node.dataset.blocked = String(t.blocked);
    node.querySelector('[data-field="status"]').textContent = label(t.status);
    node.querySelector('[data-field="session"]').textContent = t.target_session_name
      ? `\u2192 ${t.target_session_name}`
      : "";
    node.querySelector("title").textContent = `${t.title} (${t.status})`;
    t.dependencies.forEach((d) => {
      const edge = graph.querySelector(
        `.pedge[data-source="${d.depends_on_task_id}"][data-target="${t.id}"]`,
      );
      if (!edge) return;
      edge.dataset.resolved = String(d.resolved);
      edge.dataset.contractStatus = d.contract_status;
    });
    const row = document.querySelector(`#pipeline-tasks tr[data-task-id="${t.id}"]`);
    if (row) {
      const chip = row.querySelector('[data-field="status"]');
      chip.dataset.status = t.status;
      chip.textContent = label(t.status);
      row.querySelector('[data-field="session"]').textContent = t.target_session_name || "\u2013";
    }
    refreshCounts();
  }

  async function resync() {
    const params = new URLSearchParams({ pipeline_id: pipelineId, limit: "1000" });
    const res = await fetch(`/api/v1/tasks?${params}`, { credentials: "same-origin" });
    if (res.ok) (await res.json()).tasks.forEach(apply);
  }

  followProject(
    projectId,
    indicator,
    (msg) => {
      if (msg.type === "task_update") apply(msg.task);
    },
    resync,
  );
})();
