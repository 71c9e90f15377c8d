// The task dialogs shared by the board and the task page (templates/_task_dialogs.html): create,
// edit, assign / auto-assign and cancel, all through /api/v1/tasks with the CSRF header.
// API errors are shown in the dialog: a 422 entry next to the field its `loc` names, anything
// else (404, 409 and the like carry a string `detail`) in the dialog's general error line.
"use strict";

function clearErrors(form, general) {
  form.querySelectorAll("[data-error-for]").forEach((el) => {
    el.hidden = true;
    el.textContent = "";
  });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  if (general) general.hidden = true;
}

function fieldError(form, field, text) {
  const slot = form.querySelector(`[data-error-for="${field}"]`);
  if (!slot) return false;
  slot.textContent = slot.hidden ? text : `${slot.textContent} ${text}`;
  slot.hidden = false;
  const input = form.querySelector(`[name="${field}"]`);
  if (input) input.setAttribute("aria-invalid", "true");
  return true;
}

// Show the error body of `res` in `form`; returns the text shown in `general` (if any).
async function showApiError(res, form, general) {
  const data = await res.json().catch(() => ({}));
  clearErrors(form, general);
  const loose = [];
  if (Array.isArray(data.detail)) {
    for (const d of data.detail) {
      const loc = (d.loc || []).filter((part) => part !== "body" && part !== "query");
      const text = d.message || (loc.length ? `${loc.join(".")}: ${d.msg}` : d.msg);
      if (!loc.length || !fieldError(form, String(loc[0]), text)) loose.push(text);
    }
  } else if (typeof data.detail === "string") {
    loose.push(data.detail);
  } else {
    loose.push(`Request failed (HTTP ${res.status})`);
  }
  if (general && loose.length) {
    general.textContent = loose.join(" ");
    general.hidden = false;
  }
  return loose.join(" ");
}

function showToast(text, kind) {
  let box = document.querySelector(".toasts");
  if (!box) {
    box = document.createElement("div");
    box.className = "toasts";
    document.body.append(box);
  }
  const toast = document.createElement("div");
  toast.className = `toast ${kind || ""}`;
  toast.setAttribute("role", "status");
  toast.textContent = text;
  box.append(toast);
  setTimeout(() => toast.remove(), 6000);
}

async function errorText(res) {
  return apiErrorText(await res.json().catch(() => ({})), res.status);
}

const TaskDialogs = (() => {
  const root = document.getElementById("task-dialogs");
  if (!root) return null;
  const projectId = root.dataset.projectId;
  const known = JSON.parse(document.getElementById("session-choices").textContent || "[]");
  const serverNames = Object.fromEntries(known.map((s) => [s.server_id, s.server_name]));
  const listeners = [];
  const changed = (task) => listeners.forEach((fn) => fn(task));

  wireCloseButtons();

  // --- create / edit ----------------------------------------------------------------------------

  const dialog = document.getElementById("task-dialog");
  const form = document.getElementById("task-form");
  const general = document.getElementById("task-form-error");
  const submit = document.getElementById("task-submit");
  const field = (name) => form.elements.namedItem(name);
  let editing = null; // the task being edited; null while creating

  const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
  const items = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  function fill(task) {
    field("title").value = task ? task.title : "";
    field("spec").value = task ? task.spec : "";
    field("priority").value = task ? task.priority : "normal";
    field("type").value = task ? task.type : "feature";
    field("target_repo").value = (task && task.target_repo) || "";
    field("target_branch").value = (task && task.target_branch) || "";
    field("acceptance_criteria").value = task ? task.acceptance_criteria.join("\n") : "";
    field("labels").value = task ? task.labels.join(", ") : "";
    const structured = task && task.structured_spec ? JSON.stringify(task.structured_spec, null, 2) : "";
    field("structured_spec").value = structured;
    field("structured_spec").dataset.original = structured;
    form.querySelector("details.advanced").open = Boolean(structured);
    field("require_plan").checked = false;
    field("assign_session_name").value = "";
  }

  function open(task) {
    editing = task;
    clearErrors(form, general);
    fill(task);
    document.getElementById("task-dialog-title").textContent = task ? "Edit task" : "New task";
    submit.textContent = task ? "Save" : "Create";
    form.querySelector("[data-create-only]").hidden = Boolean(task);
    dialog.showModal();
    field("title").focus();
  }

  function openCreate() {
    open(null);
  }

  async function openEdit(taskId) {
    const res = await fetch(`/api/v1/tasks/${taskId}`, { credentials: "same-origin" });
    if (!res.ok) {
      showToast(await errorText(res));
      return;
    }
    open(await res.json());
  }

  function body() {
    const out = {
      title: field("title").value.trim(),
      spec: field("spec").value,
      priority: field("priority").value,
      type: field("type").value,
      acceptance_criteria: lines(field("acceptance_criteria").value),
      labels: items(field("labels").value),
    };
    const repo = field("target_repo").value.trim();
    const branch = field("target_branch").value.trim();
    if (editing) {
      // An emptied field clears the value; PATCH only stores what differs.
      out.target_repo = repo || null;
      out.target_branch = branch || null;
    } else {
      if (repo) out.target_repo = repo;
      if (branch) out.target_branch = branch;
      out.project_id = projectId;
      out.require_plan = field("require_plan").checked;
      const who = field("assign_session_name").value;
      if (who) out.assign_session_name = who;
    }
    const structured = field("structured_spec");
    const text = structured.value.trim();
    // Sending the spec again would re-validate it; only send it when the user changed it.
    if (!editing || text !== (structured.dataset.original || "").trim()) {
      if (text) {
        out.structured_spec = JSON.parse(text); // a SyntaxError is reported by the caller
      } else if (editing) {
        out.structured_spec = null;
      }
    }
    return out;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form, general);
    let payload;
    try {
      payload = body();
    } catch (err) {
      form.querySelector("details.advanced").open = true;
      fieldError(form, "structured_spec", `structured_spec: not valid JSON (${err.message})`);
      return;
    }
    submit.disabled = true;
    try {
      const res = editing
        ? await sendJson("PATCH", `/api/v1/tasks/${editing.id}`, payload)
        : await sendJson("POST", "/api/v1/tasks", payload);
      if (!res.ok) {
        await showApiError(res, form, general);
        return;
      }
      const task = await res.json();
      dialog.close();
      changed(task);
    } finally {
      submit.disabled = false;
    }
  });

  // --- assign -------------------------------------------------------------------------------------

  const assignDialog = document.getElementById("assign-dialog");
  const assignForm = document.getElementById("assign-form");
  const assignError = document.getElementById("assign-error");
  const assignResult = document.getElementById("assign-result");
  const picker = document.getElementById("assign-session");
  const autoBtn = document.getElementById("auto-assign");
  const assignBtn = document.getElementById("assign-submit");
  let assigning = null;

  async function liveSessions() {
    const res = await fetch(`/api/v1/sessions?project_id=${encodeURIComponent(projectId)}`, {
      credentials: "same-origin",
    });
    if (!res.ok) return known.filter((s) => s.live);
    const data = await res.json();
    return data.sessions.filter((s) => s.status === "starting" || s.status === "running");
  }

  async function openAssign(taskId) {
    const res = await fetch(`/api/v1/tasks/${taskId}`, { credentials: "same-origin" });
    if (!res.ok) {
      showToast(await errorText(res));
      return;
    }
    assigning = await res.json();
    clearErrors(assignForm, assignError);
    assignResult.hidden = true;
    document.getElementById("assign-task-name").textContent = assigning.title;
    document.getElementById("assign-require-plan").checked = assigning.require_plan;
    const sessions = await liveSessions();
    picker.replaceChildren(
      ...sessions.map((s) => {
        const o = document.createElement("option");
        o.value = s.id;
        const server = serverNames[s.server_id] || s.server_name || s.server_id.slice(0, 8);
        const extra = [s.agent_type, s.role === "orchestrator" ? "orchestrator" : ""].filter(Boolean);
        o.textContent = `${s.name} @ ${server}${extra.length ? ` (${extra.join(", ")})` : ""}`;
        o.selected = s.id === assigning.assigned_session_id;
        return o;
      }),
    );
    document.getElementById("assign-none").hidden = sessions.length > 0;
    picker.disabled = sessions.length === 0;
    assignBtn.disabled = sessions.length === 0;
    // The hub only places pending tasks; reassigning work already handed out is a human's call.
    autoBtn.disabled = assigning.status !== "pending";
    assignDialog.showModal();
  }

  assignForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(assignForm, assignError);
    assignBtn.disabled = true;
    try {
      const res = await sendJson("POST", `/api/v1/tasks/${assigning.id}/assign`, {
        session_id: picker.value,
        require_plan: document.getElementById("assign-require-plan").checked,
      });
      if (!res.ok) {
        await showApiError(res, assignForm, assignError);
        return;
      }
      const task = await res.json();
      assignDialog.close();
      changed(task);
    } finally {
      assignBtn.disabled = false;
    }
  });

  autoBtn.addEventListener("click", async () => {
    clearErrors(assignForm, assignError);
    assignResult.hidden = true;
    autoBtn.disabled = true;
    try {
      const res = await sendJson("POST", `/api/v1/tasks/${assigning.id}/auto-assign`);
      if (!res.ok) {
        await showApiError(res, assignForm, assignError);
        return;
      }
      const task = await res.json();
      changed(task);
      if (task.assigned_session_id) {
        assignDialog.close();
        const why = (task.assignment_reason || {}).summary;
        showToast(why ? `Auto-assigned: ${why}` : `Auto-assigned to ${task.target_session_name}`, "info");
        return;
      }
      // Not placed: say why, and leave the dialog open to pick a session by hand.
      const why = task.blocked
        ? `blocked by ${task.blocked_by.map((b) => b.title).join(", ")}; auto-assignment waits until they are done`
        : (task.assignment_reason || {}).summary || "no eligible session";
      assignResult.textContent = `Not assigned: ${why}`;
      assignResult.hidden = false;
    } finally {
      autoBtn.disabled = assigning.status !== "pending";
    }
  });

  // --- cancel ---------------------------------------------------------------------------------------

  async function cancelTask(taskId, title) {
    const what = title ? `"${title}"` : "this task";
    if (!window.confirm(`Cancel ${what}? The agent working on it is told to stop.`)) return;
    const res = await sendJson("DELETE", `/api/v1/tasks/${taskId}`);
    if (!res.ok) {
      showToast(await errorText(res));
      return;
    }
    changed((await res.json()).task);
  }

  return {
    openCreate,
    openEdit,
    openAssign,
    cancelTask,
    onChange: (fn) => listeners.push(fn),
  };
})();
