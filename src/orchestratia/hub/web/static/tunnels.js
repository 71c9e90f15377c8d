// Fleet page, servers over SSH: live tunnel rows (re-rendered by the hub on each tunnel_update
// that fleet.js's socket brings), the "Add over SSH" dialog, and the owners' row actions, all
// through /api/v1/tunnels.
"use strict";

(() => {
  const section = document.getElementById("tunnels-section");
  if (!section) return;
  const body = document.getElementById("tunnels-body");
  const $ = (id) => document.getElementById(id);
  const errorOf = async (res) => apiErrorText(await res.json().catch(() => ({})), res.status);
  // Tunnels whose row is being fetched: a burst of updates fetches it once, then once more.
  const fetching = new Map();

  function refreshRow(id) {
    if (fetching.has(id)) {
      fetching.set(id, true);
      return;
    }
    fetching.set(id, false);
    fetch(`/ui/tunnels/${id}/row`, { credentials: "same-origin" })
      .then((res) => (res.ok ? res.text() : null))
      .then((html) => {
        if (html === null) return;
        const tpl = document.createElement("template");
        tpl.innerHTML = html.trim();
        const row = tpl.content.firstElementChild;
        const old = document.getElementById(`tunnel-${id}`);
        if (old) old.replaceWith(row);
        else body.appendChild(row);
        section.hidden = false;
      })
      .finally(() => {
        const again = fetching.get(id);
        fetching.delete(id);
        if (again) refreshRow(id);
      });
  }

  // As tunnel_pages.STATE_LABELS words them.
  const LABELS = {
    pending_confirmation: "confirm host key",
    host_key_mismatch: "host key changed",
  };
  // The mode badge on the fleet row of the server behind a tunnel.
  function showState(tunnel) {
    document.querySelectorAll(`[data-tunnel-state="${tunnel.id}"]`).forEach((el) => {
      el.textContent = LABELS[tunnel.status] || tunnel.status;
    });
  }

  document.addEventListener("orc:dashboard-event", (ev) => {
    const msg = ev.detail;
    if (msg.type !== "tunnel_update") return;
    if (msg.removed) {
      const row = document.getElementById(`tunnel-${msg.tunnel.id}`);
      if (row) row.remove();
      section.hidden = !body.querySelector("tr");
      return;
    }
    showState(msg.tunnel);
    refreshRow(msg.tunnel.id);
  });

  // --- the owners' row actions -----------------------------------------------------------------
  body.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button");
    const row = button && button.closest("tr[data-tunnel-id]");
    if (!row) return;
    const id = row.dataset.tunnelId;
    const api = `/api/v1/tunnels/${id}`;
    let res = null;
    if (button.dataset.confirmKey) {
      res = await sendJson("POST", `${api}/confirm-host-key`, { fingerprint: button.dataset.confirmKey });
    } else if (button.dataset.enable) {
      res = await sendJson("PATCH", api, { enabled: button.dataset.enable === "true" });
    } else if (button.hasAttribute("data-remove")) {
      if (!window.confirm("Remove this tunnel? The hub closes it; the server's row stays.")) return;
      res = await sendJson("DELETE", api);
      if (res.ok) row.remove();
    } else if (button.hasAttribute("data-setup")) {
      res = await sendJson("POST", `${api}/setup`);
      if (res.ok) showSetup(await res.json(), null, null);
      return;
    }
    if (res && !res.ok) window.alert(await errorOf(res));
    else if (res && res.status !== 204) refreshRow(id);
  });

  // --- "Add over SSH" --------------------------------------------------------------------------
  const dialog = $("tunnel-dialog");
  if (!dialog) return; // not an owner
  const form = $("tunnel-form");
  const result = $("tunnel-result");
  const keyBox = $("tunnel-key");
  wireCloseButtons();

  $("add-over-ssh").addEventListener("click", () => {
    form.reset();
    keyBox.hidden = true;
    form.hidden = false;
    result.hidden = true;
    $("tunnel-error").hidden = true;
    dialog.showModal();
    $("tunnel-name").focus();
  });
  // /fleet#add-over-ssh opens the dialog (a link from docs or a bookmark).
  const openFromHash = () => {
    if (window.location.hash === "#add-over-ssh" && !dialog.open) $("add-over-ssh").click();
  };
  openFromHash();
  window.addEventListener("hashchange", openFromHash);
  form.addEventListener("change", () => {
    keyBox.hidden = form.elements.key_mode.value !== "paste";
  });

  function showSetup(setup, publicKey, username) {
    $("tunnel-public-key-step").hidden = !publicKey;
    $("tunnel-public-key").textContent = publicKey || "";
    $("tunnel-result-user").textContent = username || "";
    $("tunnel-command-step").textContent = publicKey ? "2." : "";
    $("tunnel-command").textContent = setup.install_command;
    $("tunnel-local-url").textContent = setup.hub_url;
    form.hidden = true;
    result.hidden = false;
    if (!dialog.open) dialog.showModal();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const generate = data.get("key_mode") === "generate";
    const payload = {
      project_id: dialog.dataset.projectId,
      name: data.get("name"),
      host: data.get("host"),
      port: Number(data.get("port") || 22),
      username: data.get("username"),
      remote_port: Number(data.get("remote_port") || 8765),
    };
    if (generate) payload.generate = true;
    else payload.private_key = data.get("private_key");
    $("tunnel-submit").disabled = true;
    try {
      const res = await sendJson("POST", "/api/v1/tunnels", payload);
      if (!res.ok) {
        $("tunnel-error").textContent = await errorOf(res);
        $("tunnel-error").hidden = false;
        return;
      }
      const made = await res.json();
      showSetup(made.setup, generate ? made.public_key : null, `${made.username}@${made.host}`);
      refreshRow(made.id);
    } finally {
      $("tunnel-submit").disabled = false;
    }
  });
})();
