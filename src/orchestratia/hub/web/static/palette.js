// The command palette (Ctrl-K / Cmd-K, or the ⌘ button in the top bar): jump to a page, or to a
// session, task or server found by GET /api/v1/palette. Pages come from the top bar's links (so
// a page appears here once it is in the nav) and the admin pages.
"use strict";

const orcPalette = (() => {
  const ADMIN_PAGES = [
    ["API keys", "/api-keys"],
    ["Audit log", "/audit"],
    ["Usage", "/usage"],
    ["Security (password, two-step login)", "/account"],
  ];
  const MAX_PAGES = 6;
  let dialog = null;
  let input = null;
  let list = null;
  let entries = [];
  let active = 0;
  let pending = null;
  let asked = 0;

  function pages() {
    const seen = new Set();
    const found = [];
    const navLinks = [...document.querySelectorAll(".topbar .nav a")].map((a) => [
      a.textContent.trim().split(/\s+/)[0],
      a.getAttribute("href"),
    ]);
    for (const [label, url] of [...navLinks, ...ADMIN_PAGES]) {
      if (seen.has(url)) continue;
      seen.add(url);
      found.push({ kind: "page", label, detail: url, url });
    }
    return found;
  }

  // Fuzzy-ish: the query's letters in order; a prefix beats a substring beats scattered letters.
  function score(text, query) {
    const t = text.toLowerCase();
    if (!query) return 1;
    if (t.startsWith(query)) return 3;
    if (t.includes(query)) return 2;
    const letters = query.replace(/\s+/g, "");
    let i = 0;
    for (const ch of t) if (ch === letters[i]) i++;
    return i === letters.length ? 1 : 0;
  }

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "modal palette";
    dialog.id = "palette";
    dialog.setAttribute("aria-label", "Go to a page, session, task or server");
    input = document.createElement("input");
    input.type = "text";
    input.id = "palette-input";
    input.autocomplete = "off";
    input.spellcheck = false;
    input.placeholder = "Go to… (page, session, task title or id, server)";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-controls", "palette-list");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-label", "Search pages, sessions, tasks and servers");
    list = document.createElement("ul");
    list.id = "palette-list";
    list.className = "palette-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Matches");
    const hint = document.createElement("p");
    hint.className = "muted small palette-hint";
    hint.textContent = "↑↓ to choose · Enter to open · Esc to close";
    dialog.append(input, list, hint);
    document.body.appendChild(dialog);
    input.addEventListener("input", refresh);
    input.addEventListener("keydown", onKey);
    list.addEventListener("click", (ev) => {
      const li = ev.target.closest("li[data-index]");
      if (li) go(Number(li.dataset.index));
    });
    // A click on the backdrop (outside the box) closes the palette, as Esc does.
    dialog.addEventListener("click", (ev) => {
      if (ev.target === dialog) dialog.close();
    });
  }

  function render() {
    list.replaceChildren();
    if (!entries.length) {
      const li = document.createElement("li");
      li.className = "muted palette-empty";
      li.textContent = "Nothing matches.";
      list.appendChild(li);
      input.removeAttribute("aria-activedescendant");
      return;
    }
    entries.forEach((entry, index) => {
      const li = document.createElement("li");
      li.id = `palette-option-${index}`;
      li.dataset.index = String(index);
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(index === active));
      const kind = document.createElement("span");
      kind.className = "palette-kind";
      kind.textContent = entry.kind;
      const label = document.createElement("span");
      label.className = "palette-label";
      label.textContent = entry.label;
      const detail = document.createElement("span");
      detail.className = "palette-detail muted";
      detail.textContent = entry.detail;
      li.append(kind, label, detail);
      list.appendChild(li);
    });
    input.setAttribute("aria-activedescendant", `palette-option-${active}`);
    list.children[active].scrollIntoView({ block: "nearest" });
  }

  function refresh() {
    const query = input.value.trim().toLowerCase();
    const local = pages()
      .map((p) => [score(p.label, query), p])
      .filter(([s]) => s > 0)
      .sort((a, b) => b[0] - a[0])
      .slice(0, MAX_PAGES)
      .map(([, p]) => p);
    entries = local;
    active = 0;
    render();
    clearTimeout(pending);
    // A short pause so a word typed quickly asks the hub once, not once per letter.
    pending = setTimeout(() => fetchRemote(query, local), 120);
  }

  async function fetchRemote(query, local) {
    const ticket = ++asked;
    let found = [];
    try {
      const res = await fetch(`/api/v1/palette?q=${encodeURIComponent(query)}`, { credentials: "same-origin" });
      if (res.ok) found = (await res.json()).entries;
    } catch (_) {
      return; // offline: the pages still work
    }
    if (ticket !== asked || !dialog.open) return; // an answer to an older query
    entries = [...local, ...found];
    active = Math.min(active, entries.length - 1);
    render();
  }

  function go(index) {
    const entry = entries[index];
    if (!entry) return;
    dialog.close();
    window.location.assign(entry.url);
  }

  function onKey(ev) {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      if (!entries.length) return;
      const step = ev.key === "ArrowDown" ? 1 : -1;
      active = (active + step + entries.length) % entries.length;
      render();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      go(active);
    } else if (ev.key === "Tab") {
      // The input is the dialog's one control: focus stays in it (the list is read through
      // aria-activedescendant), so Tab must not walk out to the page behind.
      ev.preventDefault();
    }
  }

  function open() {
    if (!dialog) build();
    if (dialog.open) return;
    input.value = "";
    dialog.showModal();
    input.focus();
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("palette-open");
    if (button) button.addEventListener("click", open);
  });
  return { open };
})();
