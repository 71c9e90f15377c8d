// Session page actions: close, kill, text view, read-only share link. The terminal is terminal.js.
"use strict";

(() => {
  const host = document.getElementById("terminal");
  if (!host) return;
  const sessionId = host.dataset.sessionId;
  const api = `/api/v1/sessions/${sessionId}`;
  const $ = (id) => document.getElementById(id);
  const toast = (message, kind) => (window.orcToast ? window.orcToast(message, kind) : alert(message));

  async function detail(res) {
    return apiErrorText(await res.json().catch(() => ({})), res.status);
  }

  async function end(kind) {
    const res = await postJson(`${api}/${kind}`);
    if (res.ok) toast(kind === "kill" ? "Kill sent" : "Close sent", "info");
    else toast(await detail(res));
  }

  const closeBtn = $("close-session");
  if (closeBtn) closeBtn.addEventListener("click", () => end("close"));
  const killBtn = $("kill-session");
  if (killBtn) {
    killBtn.addEventListener("click", () => {
      const name = $("session-name").textContent;
      if (confirm(`Kill session "${name}"? Every process in it is ended at once.`)) end("kill");
    });
  }

  // Why a session ended (a missing directory, a failed command) is on the session, not in the
  // viewer channel's status frame.
  async function showError() {
    const res = await fetch(api, { credentials: "same-origin" });
    if (!res.ok) return;
    const s = await res.json();
    const el = $("session-error");
    el.textContent = s.error || "";
    el.hidden = !s.error;
  }

  // Close and kill only make sense while the session is live.
  let wasLive = null;
  document.addEventListener("orc:session-status", (ev) => {
    const live = ["starting", "running"].includes(ev.detail.status);
    for (const btn of [closeBtn, killBtn]) if (btn) btn.disabled = !live;
    if (!live && wasLive !== false) showError();
    wasLive = live;
  });

  wireCloseButtons();

  const textDialog = $("text-dialog");
  $("text-view").addEventListener("click", async () => {
    const body = $("text-view-body");
    const note = $("text-view-note");
    body.textContent = "Loading…";
    note.hidden = true;
    textDialog.showModal();
    const res = await fetch(`${api}/scrollback`, { credentials: "same-origin" });
    if (res.ok) {
      // The pane's empty rows below the cursor are noise in a text view.
      body.textContent = (await res.text()).replace(/\s+$/, "\n");
      body.scrollTop = body.scrollHeight;
    } else {
      body.textContent = await detail(res);
      note.hidden = false;
    }
  });

  const shareBtn = $("share-link");
  if (shareBtn) {
    shareBtn.addEventListener("click", async () => {
      const res = await postJson(`${api}/share`, {});
      if (!res.ok) {
        toast(await detail(res));
        return;
      }
      const link = await res.json();
      $("share-url").textContent = link.url;
      const expires = new Date(link.expires_at);
      $("share-expiry").textContent = `Expires ${expires.toLocaleString()}. Click the link to copy it.`;
      $("share-dialog").showModal();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(link.url).then(() => toast("Link copied", "info"), () => {});
      }
    });
  }
})();
