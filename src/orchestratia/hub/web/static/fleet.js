// Fleet page: live server rows over /ws/dashboard, with reconnect and ticking "last contact" ages.
"use strict";

(() => {
  const table = document.getElementById("fleet");
  if (!table) return;
  // A refused hub URL comes back as a 422 holding the dialog and its error: show it (htmx swaps
  // only 2xx by default).
  document.body.addEventListener("htmx:beforeSwap", (evt) => {
    if (evt.detail.xhr.status === 422 && evt.detail.target.id === "register-panel") {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  const projectId = table.dataset.projectId;
  const body = document.getElementById("fleet-body");
  const indicator = document.getElementById("live-indicator");
  // Servers whose row is being fetched, with the newest update seen meanwhile: a new server often
  // sends several updates in a burst, and each must not fetch (and append) its own copy of the row.
  const fetching = new Map();

  const pct = (v) => (typeof v === "number" ? `${Math.round(v)}%` : "–");

  function age(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }

  function tickAges() {
    body.querySelectorAll("[data-last-seen]").forEach((td) => {
      td.textContent = age(td.dataset.lastSeen);
    });
  }

  function setField(row, name, text) {
    const el = row.querySelector(`[data-field="${name}"]`);
    if (el) el.textContent = text;
  }

  function applyUpdate(server) {
    const row = document.getElementById(`server-${server.id}`);
    if (!row) {
      // Unknown server: let the hub render the row so markup lives in one template.
      const already = fetching.has(server.id);
      fetching.set(server.id, server);
      if (already) return;
      const landed = () => {
        const newest = fetching.get(server.id);
        fetching.delete(server.id);
        if (!document.getElementById(`server-${server.id}`)) return; // failed: next update retries
        document.getElementById("fleet-empty").hidden = true;
        applyUpdate(newest);
      };
      htmx.ajax("GET", `/ui/servers/${server.id}/row`, { target: "#fleet-body", swap: "beforeend" })
        .then(landed, landed);
      return;
    }
    row.dataset.status = server.status;
    const badge = row.querySelector('[data-field="status"]');
    badge.textContent = server.status;
    badge.className = `badge ${server.status}`;
    const seen = row.querySelector('[data-field="last_seen"]');
    seen.dataset.lastSeen = server.last_seen || "";
    setField(row, "name", server.name);
    setField(row, "hostname", `${server.hostname} · ${server.os}`);
    const info = server.system_info || {};
    setField(row, "cpu", pct(info.cpu_percent));
    setField(row, "memory", pct(info.memory_percent));
    setField(row, "disk", pct(info.disk_percent));
    setField(row, "capabilities", (server.capabilities || []).join(", ") || "–");
    setField(row, "agent_version", server.agent_version || "–");
    tickAges();
  }

  tickAges();
  setInterval(tickAges, 1000);
  followProject(projectId, indicator, (msg) => {
    if (msg.type === "server_update") applyUpdate(msg.server);
  });
})();
