// Task page: the status-dependent panel is re-rendered by the hub (/ui/tasks/{id}/panel) when a
// task_update for this task arrives; timeline entries are appended from task_event messages.
"use strict";

(() => {
  const panel = document.getElementById("task-panel");
  if (!panel) return;
  const taskId = panel.dataset.taskId;
  const projectId = panel.dataset.projectId;
  const timeline = document.getElementById("timeline");
  const indicator = document.getElementById("live-indicator");
  let fetching = false;
  let again = false;

  function swap(html) {
    // Keep what the reviewer is typing (plan feedback, a rejection reason) across re-renders.
    const kept = {};
    panel.querySelectorAll("[data-keep][id]").forEach((el) => {
      kept[el.id] = el.value;
    });
    const focused = document.activeElement && panel.contains(document.activeElement)
      ? document.activeElement.id
      : "";
    panel.innerHTML = html;
    Object.entries(kept).forEach(([id, value]) => {
      const el = document.getElementById(id);
      if (el) el.value = value;
    });
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    localizeTimes(panel);
    const title = document.getElementById("task-title");
    if (title) document.title = `${title.textContent} · Tasks · Orchestratia`;
  }

  // One fetch at a time; updates landing meanwhile cause exactly one more, so the panel always
  // ends on the newest state without a request per update.
  async function refresh() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      do {
        again = false;
        const res = await fetch(`/ui/tasks/${taskId}/panel`, { credentials: "same-origin" });
        if (res.ok) swap(await res.text());
      } while (again);
    } finally {
      fetching = false;
    }
  }

  function addEvent(e) {
    if (e.task_id !== taskId) return;
    if (insertByTime(timeline, eventItem(e), false)) {
      document.getElementById("timeline-count").textContent = String(timeline.children.length);
    }
  }

  async function resync() {
    const res = await fetch(`/api/v1/tasks/${taskId}/events`, { credentials: "same-origin" });
    if (res.ok) (await res.json()).events.forEach(addEvent);
    refresh();
  }

  async function decide(url, body, errorEl) {
    errorEl.hidden = true;
    const res = await sendJson("POST", url, body);
    if (!res.ok) {
      errorEl.textContent = await errorText(res);
      errorEl.hidden = false;
      return;
    }
    refresh();
  }

  panel.addEventListener("click", (ev) => {
    const button = ev.target.closest("button");
    if (!button) return;
    if (button.dataset.decision) {
      const reason = document.getElementById("approval-reason").value.trim();
      decide(
        `/api/v1/tasks/${taskId}/approval`,
        { approve: button.dataset.decision === "approve", reason: reason || null },
        document.getElementById("approval-error"),
      );
    } else if (button.dataset.plan) {
      const feedback = document.getElementById("plan-feedback");
      decide(
        `/api/v1/tasks/${taskId}/plan-decision`,
        { approve: button.dataset.plan === "approve", feedback: feedback.value.trim() || null },
        document.getElementById("plan-error"),
      ).then(() => {
        if (document.getElementById("plan-error").hidden) feedback.value = "";
      });
    } else if (button.dataset.action && typeof TaskDialogs !== "undefined" && TaskDialogs) {
      const action = button.dataset.action;
      if (action === "assign") TaskDialogs.openAssign(taskId);
      else if (action === "edit") TaskDialogs.openEdit(taskId);
      else if (action === "cancel") {
        TaskDialogs.cancelTask(taskId, document.getElementById("task-title").textContent);
      }
    }
  });

  const noteForm = document.getElementById("note-form");
  if (noteForm) {
    const content = document.getElementById("note-content");
    const error = document.getElementById("note-error");
    const submit = document.getElementById("note-submit");
    noteForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(noteForm, error);
      submit.disabled = true;
      try {
        const res = await sendJson("POST", `/api/v1/tasks/${taskId}/notes`, {
          content: content.value,
          urgent: document.getElementById("note-urgent").checked,
        });
        if (!res.ok) {
          await showApiError(res, noteForm, error);
          return;
        }
        content.value = "";
        document.getElementById("note-urgent").checked = false;
        refresh();
      } finally {
        submit.disabled = false;
      }
    });
  }

  if (typeof TaskDialogs !== "undefined" && TaskDialogs) TaskDialogs.onChange(() => refresh());

  followProject(
    projectId,
    indicator,
    (msg) => {
      if (msg.type === "task_update" && msg.task.id === taskId) refresh();
      else if (msg.type === "task_event") addEvent(msg.event);
    },
    resync,
  );
})();
