// Server page: ticking ages, and the owners' actions (rename, labels, revoke key, remove)
// through /api/v1/servers/{id}.
"use strict";

(() => {
  const root = document.getElementById("server-page");
  if (!root) return;
  const serverId = root.dataset.serverId;
  const api = `/api/v1/servers/${serverId}`;
  const $ = (id) => document.getElementById(id);

  function age(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }
  function tickAges() {
    document.querySelectorAll("[data-age]").forEach((el) => {
      el.textContent = age(el.dataset.age);
      el.title = new Date(el.dataset.age).toLocaleString();
    });
  }
  tickAges();
  setInterval(tickAges, 1000);
  localizeTimes(document);
  wireCloseButtons();

  function say(slot, text) {
    for (const id of ["server-error", "server-notice"]) $(id).hidden = true;
    $(slot).textContent = text;
    $(slot).hidden = false;
  }

  const errorOf = async (res) => apiErrorText(await res.json().catch(() => ({})), res.status);

  const dialog = $("server-dialog");
  if (!dialog) return; // not an owner: nothing to manage
  const form = $("server-form");
  let editing = "name";

  function open(what) {
    editing = what;
    $("server-dialog-title").textContent = what === "name" ? "Rename server" : "Server labels";
    $("name-field").hidden = what !== "name";
    $("labels-field").hidden = what !== "labels";
    $("server-form-error").hidden = true;
    dialog.showModal();
    (what === "name" ? $("server-name-input") : $("server-labels-input")).focus();
  }
  $("rename-server").addEventListener("click", () => open("name"));
  $("edit-labels").addEventListener("click", () => open("labels"));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body =
      editing === "name"
        ? { name: $("server-name-input").value.trim() }
        : { labels: $("server-labels-input").value.split(/[\s,]+/).filter(Boolean) };
    const res = await sendJson("PATCH", api, body);
    if (!res.ok) {
      $("server-form-error").textContent = await errorOf(res);
      $("server-form-error").hidden = false;
      return;
    }
    const server = await res.json();
    $("server-name").textContent = server.name;
    document.title = `${server.name} · Fleet · Orchestratia`;
    const labels = $("server-labels");
    labels.replaceChildren();
    for (const label of server.labels) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = label;
      labels.append(chip, " ");
    }
    if (!server.labels.length) labels.innerHTML = '<span class="muted">none</span>';
    dialog.close();
    say("server-notice", editing === "name" ? "Renamed." : "Labels saved.");
  });

  $("revoke-key").addEventListener("click", async () => {
    const name = $("server-name").textContent;
    const sure = confirm(
      `Revoke the key of "${name}"? Its daemon is disconnected at once and stays out until the ` +
        "machine is registered again with a new token.",
    );
    if (!sure) return;
    const res = await sendJson("POST", `${api}/revoke-keys`);
    if (res.ok) say("server-notice", "Key revoked: the daemon was disconnected.");
    else say("server-error", await errorOf(res));
  });

  $("remove-server").addEventListener("click", async () => {
    const name = $("server-name").textContent;
    const sure = confirm(
      `Remove "${name}" from the project? Its key is revoked and its daemon disconnected; ` +
        "its past sessions and tasks keep their history.",
    );
    if (!sure) return;
    let res = await sendJson("DELETE", api);
    if (res.status === 409) {
      const why = await errorOf(res);
      if (!confirm(`${why}.\n\nRemove it anyway and mark those sessions lost?`)) return;
      res = await sendJson("DELETE", `${api}?force=true`);
    }
    if (res.ok) window.location.assign(`/fleet?project_id=${root.dataset.projectId}`);
    else say("server-error", await errorOf(res));
  });
})();
