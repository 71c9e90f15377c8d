// The Permission dashboard (SPEC §8, §9; templates/permissions.html): the approval rules editor
// (create / edit / delete through /api/v1/approval-rules, a 422 shown next to the field it names),
// the "would this match?" tester, and the decision log with its counts and chart, which grow live
// from permission_decision messages on /ws/dashboard. Uses the helpers of task_dialogs.js
// (showApiError, clearErrors, fieldError, showToast, errorText) and of app.js
// (sendJson, localizeTimes, wireCloseButtons, followProject).
"use strict";

(() => {
  const rulesBox = document.getElementById("rules");
  if (!rulesBox) return;
  const projectId = rulesBox.dataset.projectId;
  const meta = JSON.parse(document.getElementById("log-meta").textContent);
  const indicator = document.getElementById("live-indicator");

  wireCloseButtons();

  // --- rules --------------------------------------------------------------------------------------

  const dialog = document.getElementById("rule-dialog");
  const form = document.getElementById("rule-form");
  const general = document.getElementById("rule-form-error");
  const submit = document.getElementById("rule-submit");
  const scope = document.getElementById("rule-scope");
  const field = (name) => form.elements.namedItem(name);
  let editing = null; // the rule being edited; null while creating

  function syncScope() {
    document.getElementById("rule-server-box").hidden = scope.value !== "server";
  }
  scope.addEventListener("change", syncScope);

  function open(rule) {
    editing = rule;
    clearErrors(form, general);
    field("name").value = rule ? rule.name : "";
    // A new rule asks a person until someone chooses otherwise: the safe default.
    field("action").value = rule ? rule.action : "ask";
    field("priority").value = rule ? String(rule.priority) : "0";
    scope.value = rule ? rule.scope : "project";
    if (rule && rule.scope === "server") field("scope_id").value = rule.scope_id;
    field("agent_filter").value = rule && rule.agent_filter ? rule.agent_filter.join(", ") : "";
    field("pattern_syntax").value = rule ? rule.pattern_syntax : "glob";
    field("tool_pattern").value = rule ? rule.tool_pattern : "";
    field("param_pattern").value = (rule && rule.param_pattern) || "";
    field("is_active").checked = rule ? rule.is_active : true;
    syncScope();
    document.getElementById("rule-dialog-title").textContent = rule ? "Edit rule" : "New rule";
    submit.textContent = rule ? "Save" : "Create";
    dialog.showModal();
    field("name").focus();
  }

  // The whole rule, for create and edit alike: the hub re-validates an edited rule as a whole,
  // and an emptied optional field must clear the stored value (null), not keep it.
  function body() {
    const agents = field("agent_filter").value.split(",").map((s) => s.trim()).filter(Boolean);
    const priority = field("priority").value.trim();
    const where = scope.value;
    return {
      name: field("name").value.trim(),
      action: field("action").value,
      scope: where,
      scope_id: where === "project" ? projectId : where === "server" ? field("scope_id").value || null : null,
      agent_filter: agents.length ? agents : null,
      pattern_syntax: field("pattern_syntax").value,
      tool_pattern: field("tool_pattern").value,
      param_pattern: field("param_pattern").value || null,
      is_active: field("is_active").checked,
      // Not a number is sent as is, so the hub's 422 names the field.
      priority: priority === "" ? 0 : Number.isNaN(Number(priority)) ? priority : Number(priority),
    };
  }

  async function reloadRules() {
    const url = `/ui/permissions/rules?project_id=${encodeURIComponent(projectId)}`;
    const res = await fetch(url, { credentials: "same-origin" });
    if (!res.ok) return;
    rulesBox.innerHTML = await res.text();
    rulesBox.querySelectorAll("tr[data-rule]").forEach((row) => {
      const rule = JSON.parse(row.dataset.rule);
      meta.rule_names[rule.id] = rule.name;
    });
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form, general);
    submit.disabled = true;
    try {
      const res = editing
        ? await sendJson("PATCH", `/api/v1/approval-rules/${editing.id}`, body())
        : await sendJson("POST", "/api/v1/approval-rules", body());
      if (!res.ok) {
        await showApiError(res, form, general);
        return;
      }
      const rule = await res.json();
      dialog.close();
      showToast(`${editing ? "Saved" : "Created"} rule "${rule.name}"`, "info");
      await reloadRules();
    } finally {
      submit.disabled = false;
    }
  });

  const create = document.getElementById("new-rule");
  if (create) create.addEventListener("click", () => open(null));

  rulesBox.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-rule-action]");
    if (!button) return;
    const rule = JSON.parse(button.closest("tr[data-rule]").dataset.rule);
    if (button.dataset.ruleAction === "edit") {
      open(rule);
      return;
    }
    if (!window.confirm(`Delete rule "${rule.name}"? Daemons stop applying it at once.`)) return;
    const res = await sendJson("DELETE", `/api/v1/approval-rules/${rule.id}`);
    if (!res.ok) {
      showToast(await errorText(res));
      return;
    }
    showToast(`Deleted rule "${rule.name}"`, "info");
    await reloadRules();
  });

  // --- "would this match?" ----------------------------------------------------------------------

  const tester = document.getElementById("tester-form");
  const testerError = document.getElementById("tester-error");
  const testTool = document.getElementById("test-tool");
  const result = document.getElementById("tester-result");
  const mainKey = (tool) => (meta.main_parameter[tool] || [null])[0];

  function syncParamKey() {
    const key = mainKey(testTool.value.trim());
    document.getElementById("test-param-key").textContent = key
      ? `(${key})`
      : "(this tool has no main parameter rules read; use the JSON input)";
  }
  testTool.addEventListener("input", syncParamKey);
  syncParamKey();

  tester.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(tester, testerError);
    const tool = testTool.value.trim();
    const raw = document.getElementById("test-input").value.trim();
    let input = {};
    if (raw) {
      try {
        input = JSON.parse(raw);
      } catch (err) {
        fieldError(tester, "tool_input", `tool_input: not valid JSON (${err.message})`);
        return;
      }
      if (input === null || typeof input !== "object" || Array.isArray(input)) {
        fieldError(tester, "tool_input", "tool_input: must be a JSON object");
        return;
      }
    } else {
      const key = mainKey(tool);
      const param = document.getElementById("test-param").value;
      if (key && param) input = { [key]: param };
    }
    const request = {
      agent: document.getElementById("test-agent").value.trim().toLowerCase(),
      tool,
      tool_input: input,
      project_id: projectId,
    };
    const server = document.getElementById("test-server").value;
    if (server) request.server_id = server;
    const res = await postJson("/api/v1/approval-rules/test", request);
    if (!res.ok) {
      result.hidden = true;
      await showApiError(res, tester, testerError);
      return;
    }
    const verdict = await res.json();
    const action = document.getElementById("tester-action");
    action.textContent = verdict.action;
    action.dataset.decision = verdict.action;
    result.dataset.action = verdict.action;
    document.getElementById("tester-rule").textContent = verdict.rule_id
      ? `matched rule "${verdict.rule_name || verdict.rule_id.slice(0, 8)}"`
      : "no rule matched";
    document.getElementById("tester-reason").textContent = verdict.reason;
    result.hidden = false;
  });

  // --- decision log -------------------------------------------------------------------------------

  const rows = document.getElementById("log-rows");
  const skeleton = document.getElementById("log-row-template").content.querySelector("tr");
  const chart = document.getElementById("log-chart");
  const seen = new Set([...rows.children].map((tr) => tr.dataset.entryId));
  const size = meta.bucket_seconds * 1000;
  let counts = { ...meta.counts };
  let buckets = meta.buckets.map((b) => ({ ...b, t: Date.parse(b.start) }));

  // A display version of rule_matching.main_parameters: the values its keys hold.
  function mainParameter(tool, input) {
    const values = [];
    for (const key of meta.main_parameter[tool] || []) {
      const v = input[key];
      if (typeof v === "string") values.push(v);
      else if (Array.isArray(v) && v.every((x) => typeof x === "string")) values.push(v.join(" "));
    }
    return values.join("\n");
  }

  // Keep in step with templates/_permission_row.html and log_row() in hub/web/permission_pages.py.
  function rowFor(e) {
    const tr = skeleton.cloneNode(true);
    tr.dataset.entryId = e.id;
    tr.dataset.decision = e.decision;
    const set = (name, text) => {
      const el = tr.querySelector(`[data-field="${name}"]`);
      el.textContent = text;
      return el;
    };
    set("time", e.created_at).setAttribute("datetime", e.created_at);
    set("decision", e.decision).dataset.decision = e.decision;
    set("tool", e.tool);
    set("param", mainParameter(e.tool, e.tool_input || {})).title = JSON.stringify(e.tool_input || {});
    const session = e.session_name || (e.session_id || "").slice(0, 8) || "no session";
    set("who", `${session} @ ${e.server_name || e.server_id.slice(0, 8)}`);
    set("agent", e.agent);
    let by = e.decided_by;
    if (by === "rule" && e.matched_rule_id) {
      by = `rule ${meta.rule_names[e.matched_rule_id] || e.matched_rule_id.slice(0, 8)}`;
    }
    set("decided-by", by);
    set("reason", e.reason || "");
    localizeTimes(tr);
    return tr;
  }

  // The filters the hub applied to the first render.
  function matches(e) {
    const f = meta.filters;
    if (e.project_id !== projectId) return false;
    if (f.server_id && e.server_id !== f.server_id) return false;
    if (f.session_id && e.session_id !== f.session_id) return false;
    if (f.tool && e.tool !== f.tool) return false;
    if (f.decision && e.decision !== f.decision) return false;
    return Date.parse(e.created_at) >= Date.parse(meta.since);
  }

  // Newest first; an entry shipped late (the daemon's spool catching up) sorts by its own time.
  function insertRow(e) {
    seen.add(e.id);
    const tr = rowFor(e);
    const t = Date.parse(e.created_at);
    const older = [...rows.children].find(
      (other) => Date.parse(other.querySelector("time").getAttribute("datetime")) <= t,
    );
    rows.insertBefore(tr, older || null);
    while (rows.children.length > meta.limit) rows.lastElementChild.remove();
    document.getElementById("log-empty").hidden = true;
    return tr;
  }

  function bump(t, decision) {
    let last = buckets[buckets.length - 1];
    // Time moved on since the page was drawn: open the buckets up to now.
    while (last && t >= last.t + size) {
      last = { start: new Date(last.t + size).toISOString(), t: last.t + size, allowed: 0, denied: 0, asked: 0 };
      buckets.push(last);
    }
    const slot = buckets.find((b) => t >= b.t && t < b.t + size);
    if (slot) slot[decision] += 1;
  }

  function renderCounts() {
    for (const d of ["allowed", "denied", "asked"]) {
      document.getElementById(`count-${d}`).textContent = String(counts[d]);
    }
  }

  const SVG = "http://www.w3.org/2000/svg";
  const STACK = ["allowed", "asked", "denied"]; // bottom to top

  // Stacked bars of decisions per bucket, as inline SVG scaled to the busiest bucket.
  function drawChart() {
    const n = buckets.length;
    const most = Math.max(1, ...buckets.map((b) => b.allowed + b.denied + b.asked));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${n * 10} 100`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    buckets.forEach((b, i) => {
      let y = 100;
      const total = b.allowed + b.denied + b.asked;
      const g = document.createElementNS(SVG, "g");
      g.setAttribute("class", "chart-bar");
      g.dataset.start = b.start;
      g.dataset.total = String(total);
      const title = document.createElementNS(SVG, "title");
      const when = new Date(b.t).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
      title.textContent = `${when}: ${b.allowed} allowed, ${b.denied} denied, ${b.asked} asked`;
      g.append(title);
      const hit = document.createElementNS(SVG, "rect"); // hover target for empty buckets too
      hit.setAttribute("x", String(i * 10));
      hit.setAttribute("y", "0");
      hit.setAttribute("width", "10");
      hit.setAttribute("height", "100");
      hit.setAttribute("class", "chart-hit");
      g.append(hit);
      for (const d of STACK) {
        if (!b[d]) continue;
        const h = (b[d] / most) * 96;
        y -= h;
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", String(i * 10 + 1));
        rect.setAttribute("y", String(y));
        rect.setAttribute("width", "8");
        rect.setAttribute("height", String(h));
        rect.setAttribute("class", `chart-${d}`);
        g.append(rect);
      }
      svg.append(g);
    });
    const caption = document.createElement("figcaption");
    caption.className = "muted small";
    const from = new Date(buckets[0] ? buckets[0].t : Date.parse(meta.since));
    const step = meta.bucket_seconds >= 3600 ? `${meta.bucket_seconds / 3600} h` : `${meta.bucket_seconds / 60} min`;
    caption.textContent = `Since ${from.toLocaleString([], { dateStyle: "short", timeStyle: "short" })}, one bar per ${step}; the tallest is ${most}.`;
    chart.replaceChildren(svg, caption);
  }

  function add(e) {
    if (!matches(e) || seen.has(e.id)) return;
    insertRow(e).classList.add("fresh");
    counts[e.decision] += 1;
    bump(Date.parse(e.created_at), e.decision);
    renderCounts();
    drawChart();
  }

  // Entries logged while the socket was down are not replayed: read the same window again.
  async function resync() {
    const f = meta.filters;
    const params = new URLSearchParams({ project_id: projectId, since: meta.since, limit: String(meta.limit) });
    for (const [key, val] of Object.entries(f)) if (val) params.set(key, val);
    const res = await fetch(`/api/v1/permissions?${params}`, { credentials: "same-origin" });
    if (!res.ok) return;
    const page = await res.json();
    // Oldest first, so each lands above the one before it.
    page.entries.slice().reverse().forEach((e) => {
      if (matches(e) && !seen.has(e.id)) insertRow(e);
    });
    counts = { ...page.counts };
    buckets = page.buckets.map((b) => ({ ...b, t: Date.parse(b.start) }));
    renderCounts();
    drawChart();
  }

  document.getElementById("log-filters").querySelectorAll("select").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });

  localizeTimes(rows);
  drawChart();
  followProject(
    projectId,
    indicator,
    (msg) => {
      if (msg.type === "permission_decision" && msg.entry) add(msg.entry);
    },
    resync,
  );
})();
