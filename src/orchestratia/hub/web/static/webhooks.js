// The Webhooks pages: make an endpoint (its secret shown once), change, pause, re-enable, rotate
// and delete it, send a test event and redeliver. Every change goes through /api/v1/webhooks with
// the login cookie and the CSRF header, like any API client.
"use strict";

// "All events" stands for an empty filter; while it is ticked the single events are moot.
function wireEventChoices(form) {
  const all = form.querySelector("[data-all-events]");
  if (!all) return;
  const singles = form.querySelectorAll("input[name=events]");
  const sync = () => singles.forEach((box) => (box.disabled = all.checked));
  all.addEventListener("change", sync);
  sync();
}

// The form's event filter ([] = every event), or null when nothing is ticked at all.
function eventsOf(form) {
  if (form.querySelector("[data-all-events]").checked) return [];
  const picked = [...form.querySelectorAll("input[name=events]:checked")].map((box) => box.value);
  return picked.length ? picked : null;
}

function formFailure(form) {
  const slot = form.querySelector("[data-form-error]");
  return (text) => {
    slot.textContent = text;
    slot.hidden = !text;
  };
}

function showSecret(secret, overlapUntil) {
  const card = document.getElementById("secret-shown");
  document.getElementById("new-secret").textContent = secret;
  const overlap = document.getElementById("secret-overlap");
  if (overlapUntil) {
    overlap.textContent = `The previous secret keeps signing until ${new Date(overlapUntil).toLocaleString()}.`;
    overlap.hidden = false;
  }
  card.hidden = false;
  card.scrollIntoView({ block: "start" });
}

function wireCreate() {
  const form = document.getElementById("webhook-form");
  if (!form) return;
  const fail = formFailure(form);
  wireEventChoices(form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    fail("");
    const data = new FormData(form);
    const url = (data.get("url") || "").trim();
    if (!url) return fail("Give the URL the hub should POST to.");
    const events = eventsOf(form);
    if (events === null) return fail("Tick at least one event, or all events.");
    const body = {
      project_id: data.get("project_id"),
      url,
      events,
      description: (data.get("description") || "").trim(),
      ordered: data.get("ordered") === "1",
    };
    const { ok, status, data: reply } = await callApi("POST", "/api/v1/webhooks", body);
    if (!ok) return fail(apiErrorText(reply, status));
    form.reset();
    wireEventChoices(form);
    const link = document.getElementById("created-link");
    link.querySelector("a").href = `/webhooks/${encodeURIComponent(reply.id)}`;
    link.hidden = false;
    showSecret(reply.secret, null);
  });
}

function refreshLog() {
  const log = document.getElementById("delivery-log");
  if (!log || !window.htmx) return;
  const status = document.getElementById("log-status").value;
  const query = status ? `?status=${encodeURIComponent(status)}` : "";
  window.htmx.ajax("GET", log.dataset.src + query, { target: "#delivery-log", swap: "innerHTML" });
}

function say(text, bad) {
  const slot = document.getElementById("action-outcome");
  slot.textContent = text;
  slot.classList.toggle("error", Boolean(bad));
  slot.hidden = false;
}

function testOutcome(r) {
  const answer = r.status_code ? `HTTP ${r.status_code}` : r.error || "no answer";
  const took = r.latency_ms === null || r.latency_ms === undefined ? "" : ` in ${r.latency_ms} ms`;
  return [`${r.ok ? "Delivered" : "Failed"}: the receiver answered ${answer}${took}.`, !r.ok];
}

function wireEndpoint(root) {
  const base = `/api/v1/webhooks/${encodeURIComponent(root.dataset.hookId)}`;
  const edit = document.getElementById("hook-edit");
  const failEdit = formFailure(edit);
  wireEventChoices(edit);
  edit.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    failEdit("");
    const data = new FormData(edit);
    const events = eventsOf(edit);
    if (events === null) return failEdit("Tick at least one event, or all events.");
    const body = { url: (data.get("url") || "").trim(), description: (data.get("description") || "").trim(),
      events, ordered: data.get("ordered") === "1" };
    const { ok, status, data: reply } = await callApi("PATCH", base, body);
    if (!ok) return failEdit(apiErrorText(reply, status));
    window.location.reload();
  });

  document.getElementById("send-test").addEventListener("click", async (ev) => {
    ev.target.disabled = true;
    say("Sending a test event…", false);
    const { ok, status, data: reply } = await callApi("POST", `${base}/test`);
    ev.target.disabled = false;
    if (!ok) return say(apiErrorText(reply, status), true);
    say(...testOutcome(reply));
    refreshLog();
  });

  document.getElementById("redeliver-failed").addEventListener("click", async () => {
    const { ok, status, data: reply } = await callApi("POST", `${base}/redeliver-failed`);
    if (!ok) return say(apiErrorText(reply, status), true);
    say(reply.queued ? `${reply.queued} failed deliveries will be sent again now.` : "No failed deliveries to send again.", false);
    refreshLog();
  });

  document.getElementById("rotate-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const hours = Number(new FormData(ev.target).get("overlap_hours"));
    const when = hours ? `keeps signing for ${hours} hours` : "stops working at once";
    if (!window.confirm(`Make a new signing secret? The current one ${when}.`)) return;
    const { ok, status, data: reply } = await callApi("POST", `${base}/rotate-secret`, { overlap_hours: hours });
    if (!ok) return say(apiErrorText(reply, status), true);
    showSecret(reply.secret, reply.previous_secret_expires_at);
  });

  document.getElementById("delete-hook").addEventListener("click", async (ev) => {
    if (!window.confirm(`Delete the endpoint ${ev.target.dataset.url}? Its delivery log goes with it.`)) return;
    const { ok, status, data: reply } = await callApi("DELETE", base);
    if (!ok) return say(apiErrorText(reply, status), true);
    window.location.assign("/webhooks");
  });

  root.addEventListener("click", async (ev) => {
    const again = ev.target.closest("[data-redeliver]");
    const toggle = ev.target.closest("[data-set-enabled]");
    if (again) {
      const { ok, status, data: reply } = await callApi("POST", `${base}/deliveries/${encodeURIComponent(again.dataset.redeliver)}/redeliver`);
      if (!ok) return say(apiErrorText(reply, status), true);
      say("The delivery will be sent again now, with the same webhook-id.", false);
      refreshLog();
    } else if (toggle) {
      const { ok, status, data: reply } = await callApi("PATCH", base, { enabled: toggle.dataset.setEnabled === "true" });
      if (!ok) return say(apiErrorText(reply, status), true);
      window.location.reload();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  wireCreate();
  const root = document.getElementById("webhook");
  if (root) wireEndpoint(root);
  document.body.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-reenable]");
    if (!btn) return;
    btn.disabled = true;
    const { ok, status, data: reply } = await callApi("PATCH", `/api/v1/webhooks/${encodeURIComponent(btn.dataset.reenable)}`, { enabled: true });
    if (!ok) {
      btn.disabled = false;
      btn.after(Object.assign(document.createElement("span"), { className: "error", textContent: ` ${apiErrorText(reply, status)}` }));
      return;
    }
    window.location.reload();
  });
  document.addEventListener("htmx:afterSwap", (ev) => localizeTimes(ev.detail.target));
});
