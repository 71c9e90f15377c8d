// Task timeline and activity entries. The hub renders the entries a page starts with
// (templates/_event.html); eventItem() renders the same markup for entries that arrive live.
"use strict";

// Mirrors EVENT_CATEGORIES in hub/web/task_pages.py: the category picks the entry's colour.
const EVENT_CATEGORIES = {
  status: "status",
  created: "created",
  note: "note",
  auto_assign: "assign",
  approval: "assign",
  dependency_added: "dependency",
  dependency_removed: "dependency",
  waiting: "dependency",
  unblocked: "dependency",
  input_resolved: "dependency",
  contract_missing: "problem",
  help_requested: "problem",
  help_answered: "note",
};

function eventCategory(kind) {
  if (kind.startsWith("delivery_")) return kind === "delivery_delivered" ? "delivery" : "problem";
  if (kind.startsWith("upstream_")) return "problem";
  return EVENT_CATEGORIES[kind] || "other";
}

function statusLabel(status) {
  return String(status).replace(/_/g, " ");
}

function statusChip(status) {
  const el = document.createElement("span");
  el.className = "tstatus";
  el.dataset.status = status;
  el.textContent = statusLabel(status);
  return el;
}

function eventItem(e, titles) {
  const li = document.createElement("li");
  const category = eventCategory(e.kind);
  li.className = "event";
  li.dataset.eventId = e.id;
  li.dataset.kind = e.kind;
  li.dataset.category = category;
  const time = document.createElement("time");
  time.setAttribute("datetime", e.created_at);
  time.textContent = e.created_at;
  const kind = document.createElement("span");
  kind.className = "event-kind";
  kind.textContent = statusLabel(e.kind);
  li.append(time, " ", kind, " ");
  if (titles && e.task_id) {
    const link = document.createElement("a");
    link.className = "event-task";
    link.href = `/tasks/${e.task_id}`;
    link.dataset.taskId = e.task_id;
    link.textContent = titles[e.task_id] || e.task_id.slice(0, 8);
    li.append(link, " ");
  }
  const summary = document.createElement("span");
  summary.className = "event-summary";
  const details = e.details || {};
  if (category === "status" && details.from_status) {
    summary.append(statusChip(details.from_status), " \u2192 ", statusChip(details.to_status));
  } else {
    summary.textContent = e.summary;
  }
  const actor = document.createElement("span");
  actor.className = "event-actor muted";
  actor.textContent = e.actor;
  li.append(summary, " ", actor);
  localizeTimes(li);
  return li;
}

// Insert `item` into `list` by its time: `newestFirst` for the activity feed, oldest first for a
// task's timeline. Entries that arrive after a reconnect can be older than ones already shown.
function insertByTime(list, item, newestFirst) {
  if (list.querySelector(`[data-event-id="${item.dataset.eventId}"]`)) return false;
  const at = Date.parse(item.querySelector("time").getAttribute("datetime"));
  const after = (other) => {
    const t = Date.parse(other.querySelector("time").getAttribute("datetime"));
    return newestFirst ? t < at : t > at;
  };
  const before = [...list.children].find(after) || null;
  list.insertBefore(item, before);
  return true;
}

document.addEventListener("DOMContentLoaded", () => localizeTimes(document));
