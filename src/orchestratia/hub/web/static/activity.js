// Activity feed of a project: newest first, live from task_event messages on /ws/dashboard.
"use strict";

(() => {
  const list = document.getElementById("activity");
  if (!list) return;
  const projectId = list.dataset.projectId;
  const limit = Number(list.dataset.limit) || 200;
  const titles = JSON.parse(document.getElementById("task-titles").textContent || "{}");
  const indicator = document.getElementById("live-indicator");

  function add(e) {
    if (e.project_id !== projectId) return;
    if (!insertByTime(list, eventItem(e, titles), true)) return;
    while (list.children.length > limit) list.lastElementChild.remove();
    document.getElementById("activity-empty").hidden = true;
  }

  function retitle(task) {
    if (titles[task.id] === task.title) return;
    titles[task.id] = task.title;
    list.querySelectorAll(`.event-task[href="/tasks/${task.id}"]`).forEach((a) => {
      a.textContent = task.title;
    });
  }

  async function resync() {
    const url = `/api/v1/projects/${encodeURIComponent(projectId)}/activity?limit=${limit}`;
    const res = await fetch(url, { credentials: "same-origin" });
    if (res.ok) (await res.json()).events.forEach(add);
  }

  followProject(
    projectId,
    indicator,
    (msg) => {
      // The title first: a new task's "created" event names it.
      if (msg.type === "task_update") retitle(msg.task);
      else if (msg.type === "task_event") add(msg.event);
    },
    resync,
  );
})();
