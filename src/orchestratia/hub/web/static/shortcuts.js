// Keyboard shortcuts: "g" then a letter opens a page of the top bar, "/" focuses the page's
// filter, "?" lists them all, Ctrl-K / Cmd-K opens the command palette. None fires while the
// person types in a field, and none ever inside the terminal: xterm must get every key (Ctrl-K
// there is the shell's kill-line).
"use strict";

(() => {
  // The letter after "g" for each top-bar page, by the link's first word. Only pages the nav
  // shows get a shortcut, so one that does not exist yet is neither listed nor reachable.
  const GO_KEYS = {
    overview: "o",
    fleet: "f",
    sessions: "s",
    tasks: "t",
    activity: "a",
    inbox: "i",
    permissions: "p",
    team: "m",
  };
  const FILTER = "form.filters input[type=search], form.filters input[type=text], form.filters input:not([type]), input[type=search]";
  const SEQUENCE_MS = 1200;
  let awaitingGo = 0;
  let help = null;

  function goTargets() {
    const targets = {};
    document.querySelectorAll(".topbar .nav a").forEach((a) => {
      const name = a.textContent.trim().split(/\s+/)[0];
      const key = GO_KEYS[name.toLowerCase()];
      if (key) targets[key] = { name, url: a.getAttribute("href") };
    });
    return targets;
  }

  function inTerminal(el) {
    return Boolean(el && el.closest && el.closest(".xterm, .terminal-host"));
  }

  function typing(el) {
    if (!el || !el.closest) return false;
    return Boolean(el.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function row(keys, what) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    keys.forEach((k, i) => {
      if (i) th.append(" then ");
      const kbd = document.createElement("kbd");
      kbd.textContent = k;
      th.appendChild(kbd);
    });
    const td = document.createElement("td");
    td.textContent = what;
    tr.append(th, td);
    return tr;
  }

  function buildHelp() {
    help = document.createElement("dialog");
    help.className = "modal shortcuts";
    help.id = "shortcuts-help";
    help.setAttribute("aria-labelledby", "shortcuts-title");
    const head = document.createElement("div");
    head.className = "modal-head";
    const title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    const close = document.createElement("button");
    close.className = "btn ghost";
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", () => help.close());
    head.append(title, close);
    const table = document.createElement("table");
    table.className = "shortcut-table";
    const body = document.createElement("tbody");
    const mod = /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘" : "Ctrl";
    body.appendChild(row([`${mod}-K`], "Go to a page, session, task or server"));
    Object.entries(goTargets()).forEach(([key, target]) => body.appendChild(row(["g", key], target.name)));
    if (document.querySelector(FILTER)) body.appendChild(row(["/"], "Focus this page's filter"));
    body.appendChild(row(["?"], "Show this list"));
    body.appendChild(row(["Esc"], "Close a dialog"));
    table.appendChild(body);
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = "Shortcuts rest while you type in a field or in a terminal.";
    help.append(head, table, note);
    document.body.appendChild(help);
  }

  function showHelp() {
    if (!help) buildHelp();
    if (!help.open) help.showModal();
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.defaultPrevented || ev.isComposing || inTerminal(ev.target)) return;
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === "k") {
      ev.preventDefault();
      orcPalette.open();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    if (document.querySelector("dialog[open]")) return;
    if (awaitingGo && Date.now() - awaitingGo < SEQUENCE_MS) {
      awaitingGo = 0;
      const target = goTargets()[ev.key];
      if (target) {
        ev.preventDefault();
        window.location.assign(target.url);
      }
      return;
    }
    awaitingGo = 0;
    if (ev.key === "g") {
      awaitingGo = Date.now();
    } else if (ev.key === "?") {
      ev.preventDefault();
      showHelp();
    } else if (ev.key === "/") {
      const filter = document.querySelector(FILTER);
      if (filter) {
        ev.preventDefault();
        filter.focus();
        filter.select();
      }
    }
  });
})();
