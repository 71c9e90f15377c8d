// Task board: one column per state, cards moved between columns as task_update messages arrive
// over /ws/dashboard (no reload), filters, and the create / edit / assign / cancel actions.
"use strict";

(() => {
  const board = document.getElementById("board");
  if (!board) return;
  const projectId = board.dataset.projectId;
  const indicator = document.getElementById("live-indicator");
  const filters = JSON.parse(document.getElementById("board-filters").textContent);
  const skeleton = document.getElementById("task-card-template").content.querySelector(".task-card");
  const RANK = { critical: 0, high: 1, normal: 2, low: 3 };
  const TERMINAL = new Set(["done", "failed", "cancelled"]);
  const LIMIT = 500;

  // The same test the hub applied to the page's first render (status, text, priority, session).
  function matches(t) {
    if (t.project_id !== projectId) return false;
    if (filters.statuses.length && !filters.statuses.includes(t.status)) return false;
    if (filters.priority && t.priority !== filters.priority) return false;
    if (filters.session && t.assigned_session_id !== filters.session) return false;
    if (filters.q) {
      const q = filters.q.toLowerCase();
      const hit =
        t.title.toLowerCase().includes(q) ||
        (t.spec || "").toLowerCase().includes(q) ||
        t.id.startsWith(filters.q);
      if (!hit) return false;
    }
    return true;
  }

  function field(card, name) {
    return card.querySelector(`[data-field="${name}"]`);
  }

  function setText(card, name, text) {
    const el = field(card, name);
    if (el) el.textContent = text;
  }

  function show(card, name, visible) {
    const el = field(card, name);
    if (el) el.hidden = !visible;
  }

  // Keep in step with templates/_task_card.html.
  function fillCard(card, t) {
    card.id = `task-${t.id}`;
    card.dataset.taskId = t.id;
    card.dataset.status = t.status;
    card.dataset.priority = t.priority;
    card.dataset.updated = t.updated_at;
    card.dataset.blocked = String(t.blocked);
    card.dataset.pendingApproval = String(t.pending_approval);
    card.dataset.sessionLost = String(t.session_lost);
    const title = field(card, "title");
    title.textContent = t.title;
    title.href = `/tasks/${t.id}`;
    setText(card, "short-id", t.id.slice(0, 8));
    setText(card, "priority", t.priority);
    field(card, "priority").dataset.priority = t.priority;
    setText(card, "type", t.type);
    show(card, "assignee", Boolean(t.target_session_name));
    setText(card, "session", t.target_session_name || "");
    setText(card, "server", t.assigned_server_name ? ` @ ${t.assigned_server_name}` : "");
    show(card, "blocked", t.blocked);
    setText(card, "blockers", t.blocked_by.map((b) => b.title).join(", "));
    show(card, "session-lost", t.session_lost);
    setText(card, "lost-session", t.lost_session_name ? `: ${t.lost_session_name}` : "");
    show(card, "approval", t.pending_approval);
    show(card, "actions", !TERMINAL.has(t.status));
  }

  // Most urgent first, then the most recently touched (as the hub orders the first render).
  function before(a, b) {
    const ra = RANK[a.dataset.priority] ?? 9;
    const rb = RANK[b.dataset.priority] ?? 9;
    if (ra !== rb) return ra < rb;
    return Date.parse(a.dataset.updated) > Date.parse(b.dataset.updated);
  }

  function place(card, status) {
    const column = document.getElementById(`col-${status}`);
    if (!column) return;
    const cards = field(column, "cards");
    const next = [...cards.children].find((other) => other !== card && before(card, other)) || null;
    cards.insertBefore(card, next);
  }

  function refreshCounts() {
    let total = 0;
    board.querySelectorAll(".column").forEach((column) => {
      const n = field(column, "cards").children.length;
      total += n;
      setText(column, "count", String(n));
      show(column, "empty", n === 0);
    });
    document.getElementById("task-count").textContent = String(total);
  }

  function apply(t) {
    const card = document.getElementById(`task-${t.id}`);
    // Updates can overtake each other (a resync racing the feed): never go back in time.
    if (card && Date.parse(card.dataset.updated) > Date.parse(t.updated_at)) return;
    if (!matches(t)) {
      if (card) card.remove();
    } else {
      const el = card || skeleton.cloneNode(true);
      fillCard(el, t);
      place(el, t.status);
    }
    refreshCounts();
  }

  // Changes made while the socket was down are not replayed: read the board again.
  async function resync() {
    const params = new URLSearchParams({ project_id: projectId, limit: String(LIMIT) });
    filters.statuses.forEach((s) => params.append("status", s));
    if (filters.q) params.set("q", filters.q);
    const res = await fetch(`/api/v1/tasks?${params}`, { credentials: "same-origin" });
    if (!res.ok) return;
    const body = await res.json();
    body.tasks.forEach(apply);
    if (body.count < LIMIT) {
      const present = new Set(body.tasks.map((t) => t.id));
      board.querySelectorAll(".task-card").forEach((card) => {
        if (!present.has(card.dataset.taskId)) card.remove();
      });
      refreshCounts();
    }
  }

  // --- columns, filters, actions --------------------------------------------------------------

  board.querySelectorAll(".column").forEach((column) => {
    const key = `orc-board-collapsed-${column.dataset.status}`;
    const toggle = column.querySelector("[data-toggle-column]");
    const set = (collapsed) => {
      column.dataset.collapsed = String(collapsed);
      toggle.setAttribute("aria-expanded", String(!collapsed));
    };
    set(localStorage.getItem(key) === "1");
    toggle.addEventListener("click", () => {
      const collapsed = column.dataset.collapsed !== "true";
      set(collapsed);
      localStorage.setItem(key, collapsed ? "1" : "0");
    });
  });

  const filterForm = document.getElementById("task-filters");
  filterForm.querySelectorAll("select").forEach((select) => {
    select.addEventListener("change", () => filterForm.requestSubmit());
  });

  if (typeof TaskDialogs !== "undefined" && TaskDialogs) {
    TaskDialogs.onChange(apply);
    const create = document.getElementById("new-task");
    if (create) create.addEventListener("click", () => TaskDialogs.openCreate());
    board.addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-action]");
      if (!button) return;
      const card = button.closest(".task-card");
      const id = card.dataset.taskId;
      if (button.dataset.action === "assign") TaskDialogs.openAssign(id);
      else if (button.dataset.action === "edit") TaskDialogs.openEdit(id);
      else if (button.dataset.action === "cancel") {
        TaskDialogs.cancelTask(id, field(card, "title").textContent);
      }
    });
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
