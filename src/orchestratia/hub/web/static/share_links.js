// Session page: the session's active read-only links (who made them, until when), each with a
// revoke button. Refreshed whenever the share dialog opens, including right after a new link.
"use strict";

(() => {
  const host = document.getElementById("terminal");
  const dialog = document.getElementById("share-dialog");
  if (!host || !dialog) return;
  const sessionId = host.dataset.sessionId;
  const list = document.getElementById("share-links");
  const empty = document.getElementById("share-links-empty");
  const count = document.getElementById("share-links-count");

  function row(link) {
    const li = document.createElement("li");
    li.dataset.linkId = link.id;
    const what = document.createElement("span");
    const expires = new Date(link.expires_at).toLocaleString();
    what.textContent = `${link.mode} · by ${link.created_by || "a removed user"} · expires ${expires}`;
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "btn small-btn danger";
    revoke.textContent = "Revoke";
    revoke.addEventListener("click", async () => {
      if (!confirm("Revoke this link? Anyone watching through it is cut off at once.")) return;
      const res = await fetch(`/api/v1/share-links/${link.id}`, {
        method: "DELETE",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken() },
      });
      if (res.ok || res.status === 404) refresh();
      else alert(apiErrorText(await res.json().catch(() => ({})), res.status));
    });
    li.append(what, revoke);
    return li;
  }

  async function refresh() {
    const res = await fetch(`/api/v1/sessions/${sessionId}/share-links`, { credentials: "same-origin" });
    if (!res.ok) return;
    const { links } = await res.json();
    list.replaceChildren(...links.map(row));
    empty.hidden = links.length > 0;
    count.textContent = links.length ? `(${links.length})` : "";
  }

  // A new link opens the dialog with its URL; "Links" opens it on the list alone.
  new MutationObserver(() => {
    if (dialog.open) refresh();
  }).observe(dialog, { attributes: true, attributeFilter: ["open"] });
  document.getElementById("show-share-links").addEventListener("click", () => {
    document.getElementById("share-new").hidden = true;
    dialog.showModal();
  });
  document.getElementById("share-link").addEventListener("click", () => {
    document.getElementById("share-new").hidden = false;
  });
})();
