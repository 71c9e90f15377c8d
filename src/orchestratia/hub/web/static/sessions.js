// Sessions page: live session cards per server over /ws/dashboard, and the "Start session" dialog.
"use strict";

(() => {
  const groups = document.getElementById("session-groups");
  if (!groups) return;
  const projectId = groups.dataset.projectId;
  const indicator = document.getElementById("live-indicator");
  const fetching = new Map(); // session id -> newest update seen while its card is fetched

  // --- cards ----------------------------------------------------------------------------------

  function setField(el, name, text) {
    const field = el.querySelector(`[data-field="${name}"]`);
    if (field) field.textContent = text;
  }

  function detailText(s) {
    if (s.exit_code !== null && s.exit_code !== undefined) return `exit code ${s.exit_code}`;
    return s.error || "";
  }

  function age(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }

  function tickAges() {
    groups.querySelectorAll("[data-created]").forEach((el) => {
      el.textContent = `started ${age(el.dataset.created)}`;
    });
  }

  function refreshEmpty(group) {
    const empty = group.querySelector('[data-field="empty"]');
    if (empty) empty.hidden = group.querySelector(".session-card") !== null;
  }

  function applySession(s) {
    const card = document.getElementById(`session-${s.id}`);
    if (!card) {
      const group = document.getElementById(`group-${s.server_id}`);
      if (!group) return; // a server this page does not know yet; it shows on the next load
      const already = fetching.has(s.id);
      fetching.set(s.id, s);
      if (already) return;
      // The hub renders the card so its markup lives in one template; newest first, like the list.
      const grid = group.querySelector('[data-field="grid"]');
      fetch(`/ui/sessions/${s.id}/card`, { credentials: "same-origin" })
        .then((res) => (res.ok ? res.text() : ""))
        .then((html) => {
          const newest = fetching.get(s.id);
          fetching.delete(s.id);
          if (!html || document.getElementById(`session-${s.id}`)) return;
          grid.insertAdjacentHTML("afterbegin", html);
          refreshEmpty(group);
          tickAges();
          applySession(newest);
        });
      return;
    }
    card.dataset.status = s.status;
    card.dataset.name = s.name;
    const badge = card.querySelector('[data-field="status"]');
    badge.textContent = s.status;
    badge.className = `badge ${s.status}`;
    setField(card, "name", s.name);
    setField(card, "detail", detailText(s));
  }

  function applyServer(server) {
    const group = document.getElementById(`group-${server.id}`);
    if (group) {
      const badge = group.querySelector('[data-field="server-status"]');
      badge.textContent = server.status;
      badge.className = `badge ${server.status}`;
    }
    const option = document.querySelector(`#start-server option[value="${server.id}"]`);
    if (option) {
      const online = server.status === "online";
      option.disabled = !online;
      option.textContent = online ? server.name : `${server.name} (${server.status})`;
      option.dataset.repos = JSON.stringify(server.repos || {});
    }
  }

  // Changes between rendering the page and subscribing are not replayed by the feed: re-read once.
  async function resync() {
    const res = await fetch(`/api/v1/sessions?project_id=${encodeURIComponent(projectId)}`, {
      credentials: "same-origin",
    });
    if (!res.ok) return;
    const body = await res.json();
    body.sessions.forEach(applySession);
  }

  // --- start dialog ---------------------------------------------------------------------------

  const dialog = document.getElementById("start-dialog");
  const openBtn = document.getElementById("start-session");
  if (dialog && openBtn) {
    const form = document.getElementById("start-form");
    const server = document.getElementById("start-server");
    const preset = document.getElementById("start-preset");
    const commandField = document.getElementById("start-command-field");
    const command = document.getElementById("start-command");
    const name = document.getElementById("start-name");
    const cwdOptions = document.getElementById("start-cwd-options");
    const error = document.getElementById("start-error");
    const submit = document.getElementById("start-submit");
    let nameTouched = false;

    const takenNames = () =>
      new Set(
        [...document.querySelectorAll(".session-card")]
          .filter((c) => ["starting", "running"].includes(c.dataset.status))
          .map((c) => c.dataset.name),
      );

    function suggestName() {
      if (nameTouched) return;
      const base = preset.value === "custom" ? "session" : preset.value;
      const taken = takenNames();
      let n = 1;
      while (taken.has(`${base}-${n}`)) n++;
      name.value = `${base}-${n}`;
    }

    function fillDirectories() {
      const option = server.selectedOptions[0];
      let repos = {};
      try {
        repos = JSON.parse((option && option.dataset.repos) || "{}");
      } catch (err) {
        repos = {};
      }
      cwdOptions.replaceChildren(
        ...Object.entries(repos).map(([label, path]) => {
          const o = document.createElement("option");
          o.value = path;
          o.label = label;
          return o;
        }),
      );
    }

    function firstOnline() {
      if (server.selectedOptions[0] && !server.selectedOptions[0].disabled) return;
      const online = [...server.options].find((o) => !o.disabled);
      if (online) server.value = online.value;
    }

    openBtn.addEventListener("click", () => {
      error.hidden = true;
      firstOnline();
      fillDirectories();
      suggestName();
      dialog.showModal();
      name.focus();
    });
    document.getElementById("start-cancel").addEventListener("click", () => dialog.close());
    server.addEventListener("change", fillDirectories);
    name.addEventListener("input", () => {
      nameTouched = name.value !== "";
    });
    preset.addEventListener("change", () => {
      commandField.hidden = preset.value !== "custom";
      command.required = preset.value === "custom";
      suggestName();
    });

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const chosen = preset.selectedOptions[0];
      if (!server.value || server.selectedOptions[0].disabled) {
        error.textContent = "Pick a server that is online.";
        error.hidden = false;
        return;
      }
      if (!form.reportValidity()) return;
      const body = {
        server_id: server.value,
        name: name.value.trim(),
        working_directory: document.getElementById("start-cwd").value.trim(),
      };
      const cmd = preset.value === "custom" ? command.value.trim() : chosen.dataset.command;
      if (cmd) body.command = cmd;
      if (chosen.dataset.agentType) body.agent_type = chosen.dataset.agentType;
      submit.disabled = true;
      try {
        const res = await postJson("/api/v1/sessions", body);
        if (res.ok) {
          const created = await res.json();
          window.location.assign(`/sessions/${created.id}`);
          return;
        }
        error.textContent = apiErrorText(await res.json().catch(() => ({})), res.status);
        error.hidden = false;
      } finally {
        submit.disabled = false;
      }
    });
  }

  tickAges();
  setInterval(tickAges, 15000);
  followProject(
    projectId,
    indicator,
    (msg) => {
      if (msg.type === "session_update") applySession(msg.session);
      else if (msg.type === "server_update") applyServer(msg.server);
    },
    resync,
  );
})();
