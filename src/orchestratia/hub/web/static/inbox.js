// The inbox (SPEC §8): everything waiting for a person, answered inline or in bulk through
// POST /api/v1/inbox/decisions, and kept current over /ws/dashboard. base.html loads this file on
// every page for the nav badge; the list part runs only on /inbox (templates/inbox.html).
//
// Exactly once: each decision gets its own decision_id when the person clicks. If the reply is
// lost (network error, 5xx) the item keeps that decision and "Retry" - or the next
// resubscription of the live feed - sends the very same one again, which the hub reports as
// already_applied if the first attempt got through. A new id is only minted for a new click.
"use strict";

const Inbox = (() => {
  const badge = document.getElementById("inbox-badge");

  function setBadge(n) {
    if (!badge) return;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }

  // crypto.randomUUID only exists in secure contexts (https, localhost); a hub reached over plain
  // http on a LAN still has getRandomValues, so build the same random (v4) UUID from it.
  function newDecisionId() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  return { setBadge, newDecisionId };
})();

// Other pages: count what waits once, at load (the inbox page keeps its own count live).
(() => {
  if (!document.getElementById("inbox-badge") || document.getElementById("inbox")) return;
  fetch("/api/v1/inbox", { credentials: "same-origin" })
    .then((res) => (res.ok ? res.json() : null))
    .then((body) => {
      if (body) Inbox.setBadge(body.items.length);
    })
    .catch(() => {});
})();

(() => {
  const list = document.getElementById("inbox");
  if (!list) return;
  const projects = JSON.parse(list.dataset.projects || "[]");
  const indicator = document.getElementById("live-indicator");
  const empty = document.getElementById("inbox-empty");
  const count = document.getElementById("inbox-count");
  const selectAll = document.getElementById("select-all");
  const selectedCount = document.getElementById("selected-count");
  const bulkApprove = document.getElementById("bulk-approve");
  const bulkDeny = document.getElementById("bulk-deny");
  const clearSettled = document.getElementById("clear-settled");
  const BATCH = 200; // decisions per request, the API's limit
  const MAX_FEEDS = 20; // one socket per project; past this, poll instead
  const POLL_MS = 15000;
  const SETTLED = new Set(["applied", "already_applied", "conflict", "not_found"]);
  const WAITING = new Set(["pending", "sending", "unsent"]);
  const LIVE_TYPES = new Set(["inbox_update", "task_update", "task_event", "permission_decision"]);
  const UNSENT =
    "Not confirmed: the reply was lost. Retry sends the same decision, so it applies at most once.";

  const field = (el, name) => el.querySelector(`[data-field="${name}"]`);
  const items = () => [...list.querySelectorAll(".inbox-item")];
  // Nobody in this tab has acted on it, so a refresh may replace or drop it.
  const pristine = (el) => el.dataset.state === "pending";

  function selectable() {
    return items().filter((el) => field(el, "select") && pristine(el));
  }

  function selectedItems() {
    return selectable().filter((el) => field(el, "select").checked);
  }

  function refreshCounts() {
    const waiting = items().filter((el) => WAITING.has(el.dataset.state)).length;
    count.textContent = String(waiting);
    Inbox.setBadge(waiting);
    empty.hidden = items().length > 0;
    const chosen = selectedItems().length;
    const choosable = selectable().length;
    selectedCount.textContent = `${chosen} selected`;
    bulkApprove.disabled = chosen === 0;
    bulkDeny.disabled = chosen === 0;
    selectAll.disabled = choosable === 0;
    selectAll.checked = choosable > 0 && chosen === choosable;
    clearSettled.hidden = !items().some((el) => SETTLED.has(el.dataset.state));
  }

  // --- ages ---------------------------------------------------------------------------------------

  // The same coarse steps as the hub's `age` filter (hub/web/inbox_pages.py).
  function ageText(iso) {
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
    }
    return `${seconds} s`;
  }

  function tickAges() {
    list.querySelectorAll('[data-field="age"]').forEach((el) => {
      el.textContent = ageText(el.dataset.since);
    });
  }

  // --- decisions ----------------------------------------------------------------------------------

  function showError(el, text) {
    const slot = field(el, "error");
    slot.textContent = text;
    slot.hidden = !text;
  }

  function value(el, name) {
    const input = el.querySelector(`[name="${name}"]`);
    return input ? input.value : "";
  }

  // The decision the item's controls ask for, or null (with the reason shown) when incomplete.
  function decisionFor(el, action) {
    const kind = el.dataset.kind;
    const decision = { kind, id: el.dataset.id, decision_id: Inbox.newDecisionId(), action };
    // A plan is judged as shown: if the task was reassigned since, the hub refuses the decision.
    if (el.dataset.epoch !== undefined) decision.epoch = Number(el.dataset.epoch);
    if (kind === "intervention") {
      if (!value(el, "response").trim()) {
        showError(el, "Type a response first.");
        return null;
      }
      decision.response = value(el, "response");
    } else {
      const feedback = value(el, "feedback").trim();
      if (kind === "plan_review" && action === "deny" && !feedback) {
        showError(el, "Say what should change: a revision request needs feedback.");
        return null;
      }
      if (feedback) decision.feedback = feedback;
    }
    const allowFor = el.querySelector('[name="allow_for"]');
    if (kind === "tool_approval" && action === "approve" && allowFor && allowFor.checked) {
      const minutes = Number(value(el, "allow_minutes"));
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
        showError(el, "Allow it for 1 to 1440 minutes.");
        return null;
      }
      decision.allow_minutes = minutes;
    }
    showError(el, "");
    return decision;
  }

  function outcomeText(result) {
    const detail = result.detail ? `: ${result.detail}` : "";
    const label = {
      applied: "Applied",
      already_applied: "Already applied",
      conflict: "Not applied",
      not_found: "Gone",
    }[result.outcome];
    return `${label || result.outcome}${detail}`;
  }

  function setState(el, state, text) {
    el.dataset.state = state;
    const locked = state !== "pending";
    el.querySelectorAll('[data-field="answer"] :is(button, input, textarea)').forEach((c) => {
      c.disabled = locked;
    });
    const box = field(el, "select");
    if (box) {
      box.disabled = locked;
      if (locked) box.checked = false;
    }
    // A settled item keeps only its outcome; its answer controls no longer mean anything.
    const answer = field(el, "answer");
    if (answer) answer.hidden = SETTLED.has(state);
    field(el, "result").hidden = state === "pending";
    field(el, "outcome").textContent = text || "";
    el.querySelector('[data-action="retry"]').hidden = state !== "unsent";
    el.querySelector('[data-action="dismiss"]').hidden = !SETTLED.has(state);
  }

  async function errorDetail(res) {
    return apiErrorText(await res.json().catch(() => ({})), res.status);
  }

  // Post one request's worth of decisions and show each item's outcome.
  async function post(part) {
    let results;
    try {
      const res = await postJson("/api/v1/inbox/decisions", {
        decisions: part.map((p) => p.decision),
      });
      if (!res.ok && res.status < 500 && res.status !== 429) {
        // Refused before any decision was looked at (login, CSRF, a malformed field): nothing
        // applied, so the item is open for a new decision.
        const text = await errorDetail(res);
        part.forEach(({ el }) => {
          el.decision = null;
          setState(el, "pending");
          showError(el, text);
        });
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      results = (await res.json()).results;
    } catch {
      // The hub may or may not have applied it: keep the decision for a retry with the same id.
      part.forEach(({ el }) => setState(el, "unsent", UNSENT));
      return;
    }
    const byId = new Map(results.map((r) => [r.decision_id, r]));
    part.forEach(({ el, decision }) => {
      const result = byId.get(decision.decision_id);
      if (!result) {
        setState(el, "unsent", UNSENT);
        return;
      }
      el.decision = null;
      setState(el, result.outcome, outcomeText(result));
    });
  }

  async function send(batch) {
    batch.forEach(({ el, decision }) => {
      el.decision = decision;
      setState(el, "sending", "Sending…");
    });
    refreshCounts();
    for (let i = 0; i < batch.length; i += BATCH) await post(batch.slice(i, i + BATCH));
    refreshCounts();
    scheduleRefresh();
  }

  function resendUnsent() {
    const unsent = items().filter((el) => el.dataset.state === "unsent" && el.decision);
    if (unsent.length) send(unsent.map((el) => ({ el, decision: el.decision })));
  }

  function bulk(action) {
    const batch = [];
    for (const el of selectedItems()) {
      const decision = decisionFor(el, action);
      if (decision) batch.push({ el, decision });
    }
    if (batch.length) send(batch);
  }

  list.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const el = button.closest(".inbox-item");
    const action = button.dataset.action;
    if (action === "dismiss") {
      el.remove();
      refreshCounts();
    } else if (action === "retry") {
      if (el.decision) send([{ el, decision: el.decision }]);
    } else {
      const decision = decisionFor(el, action);
      if (decision) send([{ el, decision }]);
    }
  });
  list.addEventListener("change", (ev) => {
    if (ev.target.matches('[data-field="select"]')) refreshCounts();
  });
  selectAll.addEventListener("change", () => {
    selectable().forEach((el) => {
      field(el, "select").checked = selectAll.checked;
    });
    refreshCounts();
  });
  bulkApprove.addEventListener("click", () => bulk("approve"));
  bulkDeny.addEventListener("click", () => bulk("deny"));
  clearSettled.addEventListener("click", () => {
    items().filter((el) => SETTLED.has(el.dataset.state)).forEach((el) => el.remove());
    refreshCounts();
  });

  const filterForm = document.getElementById("inbox-filters");
  filterForm.querySelectorAll("select").forEach((select) => {
    select.addEventListener("change", () => filterForm.requestSubmit());
  });

  // --- live list ----------------------------------------------------------------------------------

  // Fold a fresh rendering of the list into the page: items this tab has acted on stay (with
  // their outcome) until dismissed, untouched ones keep what was typed into them unless the item
  // itself changed, and new ones slot in by age, oldest first like the hub's. An answered item
  // that comes back changed (the plan revised after a revision request) is a new question and
  // replaces the old outcome; one still in flight is never touched.
  function merge(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const fresh = new Map(
      [...template.content.querySelectorAll(".inbox-item")].map((el) => [el.dataset.key, el]),
    );
    for (const el of items()) {
      const next = fresh.get(el.dataset.key);
      fresh.delete(el.dataset.key);
      const changed = next && next.dataset.version !== el.dataset.version;
      if (pristine(el) && !next) el.remove();
      else if ((pristine(el) || SETTLED.has(el.dataset.state)) && changed) el.replaceWith(next);
    }
    for (const el of fresh.values()) {
      const later = items().find((other) => other.dataset.created > el.dataset.created) || null;
      list.insertBefore(el, later);
    }
    tickAges();
    refreshCounts();
  }

  let timer = null;
  let inFlight = false;
  let again = false;

  function scheduleRefresh(delay = 200) {
    clearTimeout(timer);
    timer = setTimeout(refresh, delay);
  }

  async function refresh() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const res = await fetch(`/ui/inbox/items${location.search}`, { credentials: "same-origin" });
      if (res.ok) merge(await res.text());
    } catch {
      // Offline: the next event or resubscription refreshes again.
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        scheduleRefresh();
      }
    }
  }

  // followProject drives one indicator per feed; the page shows them as one.
  const states = new Map();
  function showLive() {
    const all = projects.map((p) => states.get(p) || "connecting");
    const state = all.every((s) => s === "live") ? "live" : all.includes("offline") ? "offline" : "connecting";
    indicator.dataset.state = state;
    indicator.textContent = { live: "live", offline: "reconnecting…", connecting: "connecting…" }[state];
  }

  if (projects.length === 0) {
    indicator.dataset.state = "offline";
    indicator.textContent = "no projects";
  } else if (projects.length > MAX_FEEDS) {
    indicator.dataset.state = "live";
    indicator.textContent = "polling";
    setInterval(() => scheduleRefresh(0), POLL_MS);
  } else {
    projects.forEach((projectId) => {
      const feed = {
        dataset: {},
        set textContent(_text) {
          states.set(projectId, this.dataset.state);
          showLive();
        },
      };
      followProject(
        projectId,
        feed,
        (msg) => {
          if (LIVE_TYPES.has(msg.type)) scheduleRefresh();
        },
        () => {
          // Changes made while the socket was down are not replayed: read the list again, and
          // resend what never got an answer (the same decision ids, so nothing applies twice).
          scheduleRefresh();
          resendUnsent();
        },
      );
    });
  }

  tickAges();
  setInterval(tickAges, POLL_MS);
  refreshCounts();
})();
