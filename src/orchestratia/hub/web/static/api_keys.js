// The API keys page: create a key (shown once), copy it, revoke keys. Uses the same REST API
// as any client, with the login cookie and the CSRF header.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("key-form");
  const error = form.querySelector("[data-form-error]");
  const created = document.getElementById("key-created");
  const shown = document.getElementById("new-key");

  function fail(text) {
    error.textContent = text;
    error.hidden = false;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    const body = { name: (data.get("name") || "").trim(), scopes: data.getAll("scopes") };
    if (!body.name) return fail("Give the key a name.");
    if (!body.scopes.length) return fail("Tick at least one scope.");
    if (data.get("project_id")) body.project_id = data.get("project_id");
    // A date means "until the end of that day" in the reader's zone.
    if (data.get("expires_on")) body.expires_at = new Date(`${data.get("expires_on")}T23:59:59`).toISOString();
    const res = await postJson("/api/v1/api-keys", body);
    const reply = await res.json().catch(() => ({}));
    if (!res.ok) return fail(apiErrorText(reply, res.status));
    shown.textContent = reply.key;
    created.hidden = false;
    form.reset();
    created.scrollIntoView({ block: "start" });
  });

  document.body.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-revoke]");
    if (!btn || !window.confirm(`Revoke the key "${btn.dataset.name}"? Tools using it stop at once.`)) return;
    const res = await fetch(`/api/v1/api-keys/${encodeURIComponent(btn.dataset.revoke)}`, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
    });
    if (res.ok) {
      btn.replaceWith(Object.assign(document.createElement("span"), { className: "muted", textContent: "revoked" }));
    }
  });
});
