// Sessions page: the grid of live sessions (state, screen miniature, type a line) over
// /ws/dashboard, its filters, and the "Start session" dialog.
"use strict";

(() => {
  const grid = document.getElementById("session-grid");
  if (!grid) return;
  // One project, or every project the user sees ("All projects"): one feed per project, each
  // subscription checked by the hub.
  const projectIds = grid.dataset.projectIds.trim().split(/\s+/).filter(Boolean);
  const cardQuery = "allProjects" in grid.dataset ? "?all_projects=true" : "";
  const empty = document.getElementById("grid-empty");
  const indicator = document.getElementById("live-indicator");
  const fetching = new Map(); // session id -> newest update seen while its card is fetched

  // --- tiles ----------------------------------------------------------------------------------

  // What needs a person first, then what is busy, quiet, ended (hub/services/fleet/activity.py).
  const ORDER = { waiting: 0, working: 1, idle: 2, exited: 3, lost: 3 };
  const screens = new Map(); // session id -> newest lines, drawn on the next animation frame
  let drawQueued = false;
  let sortQueued = false;

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
    grid.querySelectorAll("[data-created]").forEach((el) => {
      el.textContent = `started ${age(el.dataset.created)}`;
    });
  }

  const filters = {
    server: document.getElementById("filter-server"),
    state: document.getElementById("filter-state"),
    agent: document.getElementById("filter-agent"),
  };

  function applyFilters() {
    const server = filters.server.value;
    const state = filters.state.value;
    const agent = filters.agent.value;
    let shown = 0;
    grid.querySelectorAll(".session-card").forEach((card) => {
      const hide =
        (server && card.dataset.serverId !== server) ||
        (state && card.dataset.state !== state) ||
        (agent && (card.dataset.agent || "shell") !== agent);
      card.hidden = Boolean(hide);
      if (!hide) shown++;
    });
    empty.hidden = shown > 0;
  }

  function sortTiles() {
    sortQueued = false;
    const cards = [...grid.querySelectorAll(".session-card")];
    const key = (c) => [ORDER[c.dataset.state] ?? 4, c.dataset.name];
    const sorted = [...cards].sort((a, b) => {
      const [sa, na] = key(a);
      const [sb, nb] = key(b);
      return sa - sb || na.localeCompare(nb);
    });
    // Move nothing when the order holds: moving a tile loses the focus of its input.
    if (sorted.every((c, i) => c === cards[i])) return;
    const focused = document.activeElement;
    grid.append(...sorted);
    if (focused && grid.contains(focused)) focused.focus();
  }

  function queueSort() {
    if (sortQueued) return;
    sortQueued = true;
    requestAnimationFrame(() => {
      sortTiles();
      applyFilters();
    });
  }

  function drawScreens() {
    drawQueued = false;
    screens.forEach((lines, id) => {
      const pre = document.querySelector(`#session-${id} [data-field="screen"]`);
      if (pre) pre.textContent = lines.join("\n");
    });
    screens.clear();
  }

  function applyScreen(id, lines) {
    screens.set(id, lines);
    if (!drawQueued) {
      drawQueued = true;
      requestAnimationFrame(drawScreens);
    }
  }

  function applyActivity(id, state) {
    const card = document.getElementById(`session-${id}`);
    if (!card || card.dataset.state === state) return;
    card.dataset.state = state;
    const badge = card.querySelector('[data-field="state"]');
    badge.textContent = state;
    badge.className = `badge state-${state}`;
    queueSort();
  }

  function applySession(s) {
    const card = document.getElementById(`session-${s.id}`);
    if (!card) {
      const already = fetching.has(s.id);
      fetching.set(s.id, s);
      if (already) return;
      // The hub renders the tile so its markup lives in one template.
      fetch(`/ui/sessions/${s.id}/card${cardQuery}`, { credentials: "same-origin" })
        .then((res) => (res.ok ? res.text() : ""))
        .then((html) => {
          const newest = fetching.get(s.id);
          fetching.delete(s.id);
          if (!html || document.getElementById(`session-${s.id}`)) return;
          grid.insertAdjacentHTML("afterbegin", html);
          tickAges();
          applySession(newest);
          queueSort();
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
    if (s.status === "exited" || s.status === "lost") {
      card.querySelector('[data-field="type"]')?.remove();
      applyActivity(s.id, s.status);
    }
  }

  function applyServer(server) {
    const option = document.querySelector(`#start-server option[value="${server.id}"]`);
    if (option) {
      const online = server.status === "online";
      option.disabled = !online;
      option.textContent = online ? server.name : `${server.name} (${server.status})`;
      option.dataset.repos = JSON.stringify(server.repos || {});
    }
  }

  // Changes between rendering the page and subscribing are not replayed by the feed: re-read once.
  async function resync(projectId) {
    const res = await fetch(`/api/v1/sessions?project_id=${encodeURIComponent(projectId)}`, {
      credentials: "same-origin",
    });
    if (!res.ok) return;
    const body = await res.json();
    body.sessions.forEach(applySession);
  }

  // Typing a line into a tile goes the way the terminal page types: a viewer socket that takes
  // the driver lock (the hub refuses it to read-only members), sends, and lets go.
  function typeLine(id, line, input) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/sessions/${id}/view`);
    const done = (problem) => {
      input.disabled = false;
      input.setCustomValidity(problem || "");
      if (problem) input.reportValidity();
      else input.value = "";
      ws.close();
    };
    input.disabled = true;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "join" }));
      ws.send(JSON.stringify({ type: "take_control" }));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      const msg = JSON.parse(ev.data);
      if (msg.type === "control" && msg.you) {
        ws.send(JSON.stringify({ type: "input", data: `${line}\r` }));
        ws.send(JSON.stringify({ type: "release_control" }));
        done();
      } else if (msg.type === "error") {
        done(msg.message);
      }
    };
    ws.onerror = () => done("Could not reach the session.");
  }

  grid.addEventListener("submit", (ev) => {
    const form = ev.target.closest(".session-type");
    if (!form) return;
    ev.preventDefault();
    const input = form.querySelector("input");
    const card = form.closest(".session-card");
    if (input.value) typeLine(card.dataset.sessionId, input.value, input);
  });
  grid.addEventListener("input", (ev) => {
    if (ev.target.matches(".session-type input")) ev.target.setCustomValidity("");
  });
  Object.values(filters).forEach((f) => f.addEventListener("change", applyFilters));

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
  const onEvent = (msg) => {
    if (msg.type === "session_screen") applyScreen(msg.session_id, msg.lines);
    else if (msg.type === "session_activity") applyActivity(msg.session_id, msg.state);
    else if (msg.type === "session_update") applySession(msg.session);
    else if (msg.type === "server_update") applyServer(msg.server);
  };
  projectIds.forEach((id) =>
    followProject(id, indicator, onEvent, () => resync(id), { screens: true }),
  );
})();
