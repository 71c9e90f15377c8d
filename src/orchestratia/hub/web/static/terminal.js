// Live terminal: xterm.js on the viewer channel /ws/sessions/{id}/view (docs/protocol.md).
//
// Output arrives as binary frames [8-byte big-endian absolute offset][bytes]. We remember the offset
// just past the last byte written (`expected`): a reconnect asks to resume from there, so nothing is
// lost or written twice, and any byte before it that still arrives is skipped.
"use strict";

(() => {
  const host = document.getElementById("terminal");
  if (!host || typeof Terminal === "undefined") return;

  const sessionId = host.dataset.sessionId;
  const shareToken = host.dataset.shareToken || "";
  const pageReadOnly = host.dataset.readOnly === "1";
  const ENDED = ["exited", "lost"];
  const REPLAY_BYTES = 1024 * 1024;
  const MAX_BACKOFF_MS = 30000;
  const UNAUTHORIZED = 4401;
  const FORBIDDEN = 4403; // removed from the project while watching
  const SNAPSHOT_GRACE_MS = 1000;
  let fallbackTimer = 0;
  const $ = (id) => document.getElementById(id);
  const ui = {
    conn: $("conn-state"),
    control: $("control-state"),
    take: $("take-control"),
    viewers: $("viewer-count"),
    size: $("term-size"),
    status: $("session-status"),
    exit: $("exit-code"),
    readOnly: $("readonly-badge"),
    toasts: $("toasts"),
  };

  function toast(message, kind = "error") {
    if (!ui.toasts) return;
    const el = document.createElement("div");
    el.className = `toast ${kind}`;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = message;
    ui.toasts.append(el);
    setTimeout(() => el.remove(), 5000);
  }
  window.orcToast = toast;

  const term = new Terminal({
    cols: Number(host.dataset.cols) || 80,
    rows: Number(host.dataset.rows) || 24,
    cursorBlink: true,
    scrollback: 10000,
    disableStdin: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace',
    fontSize: window.matchMedia("(max-width: 700px)").matches ? 12 : 14,
    // Each row clips its glyphs, and at lineHeight 1 the row is exactly the font's ascent plus
    // descent rounded: the underscore, drawn at the bottom of the descent, fell outside at 1x
    // device scale (DejaVu Sans Mono, 14 px). The extra height is split above and below the text.
    lineHeight: 1.2,
    theme: {
      background: "#0b0d11",
      foreground: "#e6e8ee",
      cursor: "#e6e8ee",
      selectionBackground: "#5b8cff66",
      scrollbarSliderBackground: "rgba(139, 147, 167, 0.18)",
      scrollbarSliderHoverBackground: "rgba(139, 147, 167, 0.35)",
      scrollbarSliderActiveBackground: "rgba(139, 147, 167, 0.5)",
    },
  });
  const fit = new FitAddon.FitAddon();
  const search = new SearchAddon.SearchAddon();
  term.loadAddon(fit);
  term.loadAddon(search);
  term.loadAddon(new WebLinksAddon.WebLinksAddon());
  term.open(host);

  // The stream is the program's raw output, so it carries the program's terminal queries (device
  // attributes, cursor position, mode and colour reports). tmux is the program's terminal and
  // answers them already; if xterm.js answered too, its reply would arrive as typed input (and a
  // replayed recording would answer queries asked long ago). Swallow them here.
  const swallow = () => true;
  for (const id of [
    { final: "c" }, // DA1
    { prefix: ">", final: "c" }, // DA2
    { prefix: "=", final: "c" }, // DA3
    { final: "n" }, // DSR, cursor position report
    { prefix: "?", final: "n" },
    { intermediates: "$", final: "p" }, // DECRQM
    { prefix: "?", intermediates: "$", final: "p" },
    { prefix: ">", final: "q" }, // XTVERSION
    { final: "t" }, // window reports
  ]) {
    term.parser.registerCsiHandler(id, swallow);
  }
  term.parser.registerDcsHandler({ intermediates: "$", final: "q" }, swallow); // DECRQSS
  for (const osc of [4, 10, 11, 12]) {
    term.parser.registerOscHandler(osc, (data) => data.includes("?")); // colour queries only
  }

  const state = {
    ws: null,
    expected: null, // absolute offset of the next byte we need; null: no screen to resume
    written: 0, // bytes written from output frames (for tests and debugging)
    joins: 0, // join frames sent: 1 + reconnects
    driving: false,
    readOnly: pageReadOnly,
    status: host.dataset.status,
    cols: term.cols,
    rows: term.rows,
    attempt: 0,
    stopped: false,
  };
  // Tests and the browser console read the terminal through these.
  window.term = term;
  window.orcViewer = state;

  function send(frame) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
  }

  // --- size -----------------------------------------------------------------------------------

  // The terminal always has the PTY's size, so lines wrap exactly as the program drew them. The
  // driver asks the PTY to match its window; observers scroll if the PTY is bigger than theirs.
  function applySize(cols, rows) {
    state.cols = cols;
    state.rows = rows;
    ui.size.textContent = `${cols}×${rows}`;
    if (term.cols !== cols || term.rows !== rows) term.resize(cols, rows);
  }

  // The host fills the window below the toolbar, so the page itself never needs to scroll.
  function fillHeight() {
    const top = host.getBoundingClientRect().top + window.scrollY;
    const frame = host.parentElement.getBoundingClientRect().bottom - host.getBoundingClientRect().bottom;
    const main = host.closest("main");
    const pad = main ? parseFloat(getComputedStyle(main).paddingBottom) || 0 : 0;
    const height = Math.max(160, window.innerHeight - top - frame - pad);
    host.style.height = `${Math.floor(height)}px`;
  }

  function proposeSize() {
    if (!state.driving) return;
    const dims = fit.proposeDimensions();
    if (!dims || !Number.isFinite(dims.cols) || !Number.isFinite(dims.rows)) return;
    const cols = Math.min(1000, Math.max(2, dims.cols));
    const rows = Math.min(500, Math.max(2, dims.rows));
    if (cols !== state.cols || rows !== state.rows) send({ type: "resize", cols, rows });
  }

  let resizeTimer = 0;
  function scheduleResize(delay = 150) {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(proposeSize, delay);
  }

  window.addEventListener("resize", () => {
    fillHeight();
    scheduleResize();
  });
  // The toolbar above re-wraps as its texts change (viewers, size) or on a narrow screen.
  new ResizeObserver(() => fillHeight()).observe(document.getElementById("term-bar"));

  // --- frames ---------------------------------------------------------------------------------

  function writeOutput(buffer) {
    const offset = Number(new DataView(buffer).getBigUint64(0));
    let data = new Uint8Array(buffer, 8);
    if (state.expected === null) state.expected = offset; // first bytes after a reset
    const start = Math.max(offset, state.expected);
    if (start >= offset + data.length) return; // all of it already written
    // start > expected only where the hub's retention dropped bytes; nothing to do but go on.
    data = data.subarray(start - offset);
    term.write(data);
    state.expected = start + data.length;
    state.written += data.length;
  }

  function decodeBase64(text) {
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  // A redraw starts with RIS (ESC c). Anything else is taken as plain `capture-pane -e` lines: a
  // bare LF would not return the cursor to column 0, and a final one would scroll the screen.
  function fromCapture(bytes) {
    const out = [0x1b, 0x5b, 0x48]; // ESC [ H
    const end = bytes.length && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
    for (let i = 0; i < end; i++) {
      if (bytes[i] === 0x0a && (i === 0 || bytes[i - 1] !== 0x0d)) out.push(0x0d);
      out.push(bytes[i]);
    }
    return Uint8Array.from(out);
  }

  function applySnapshot(f) {
    applySize(f.cols, f.rows);
    let screen = decodeBase64(f.screen);
    if (!(screen[0] === 0x1b && screen[1] === 0x63)) screen = fromCapture(screen);
    term.write(screen);
    // Place the cursor, unless the screen already ends by doing so: it then knows better (in
    // origin mode the row is relative to the scroll region, which the frame does not carry).
    const tail = String.fromCharCode(...screen.subarray(Math.max(0, screen.length - 16)));
    if (!/\x1b\[\d+;\d+H$/.test(tail)) term.write(`\x1b[${f.cursor_y + 1};${f.cursor_x + 1}H`);
    state.expected = f.offset;
  }

  function showStatus(status, exitCode) {
    state.status = status;
    if (ui.status) {
      ui.status.textContent = status;
      ui.status.className = `badge ${status}`;
    }
    if (ui.exit) ui.exit.textContent = exitCode === null || exitCode === undefined ? "" : `exit code ${exitCode}`;
    document.dispatchEvent(new CustomEvent("orc:session-status", { detail: { status, exitCode } }));
  }

  let lastControl = null;
  function showControl(f) {
    lastControl = f;
    state.readOnly = pageReadOnly || f.read_only;
    state.driving = f.you && !state.readOnly;
    term.options.disableStdin = !state.driving;
    const ended = ENDED.includes(state.status);
    let text = "Observing";
    if (ended) text = "Session ended";
    else if (state.readOnly) text = "Read-only";
    else if (state.driving) text = "You are driving";
    else if (!f.driver) text = "Nobody is driving";
    ui.control.textContent = text;
    let role = state.driving ? "driver" : "observer";
    if (ended) role = "ended";
    else if (state.readOnly) role = "read-only";
    ui.control.dataset.role = role;
    ui.take.hidden = state.readOnly || state.driving || ended;
    if (ui.readOnly) ui.readOnly.hidden = !state.readOnly;
    if (state.driving && !ended) scheduleResize(0);
  }

  function onText(f) {
    switch (f.type) {
      case "reset":
        term.reset();
        state.expected = null;
        // A snapshot follows at once when the daemon can take one. When it cannot (server
        // offline) the hub has only its memory ring, often empty: show the recording's tail.
        clearTimeout(fallbackTimer);
        if (!shareToken) {
          fallbackTimer = setTimeout(() => {
            if (state.expected === null) replayRecording();
          }, SNAPSHOT_GRACE_MS);
        }
        break;
      case "snapshot":
        applySnapshot(f);
        break;
      case "control":
        showControl(f);
        break;
      case "status":
        applySize(f.cols, f.rows);
        showStatus(f.status, f.exit_code);
        if (lastControl) showControl(lastControl);
        else if (state.driving) scheduleResize();
        break;
      case "viewers":
        ui.viewers.textContent = f.count === 1 ? "1 viewer" : `${f.count} viewers`;
        break;
      case "error":
        toast(f.message || f.code);
        break;
      default:
        break;
    }
  }

  // --- connection -----------------------------------------------------------------------------

  function setConn(stateName, text) {
    ui.conn.dataset.state = stateName;
    ui.conn.textContent = text;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = shareToken ? `?share=${encodeURIComponent(shareToken)}` : "";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/sessions/${sessionId}/view${query}`);
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => {
      const join = { type: "join" };
      if (state.expected !== null) join.resume_offset = state.expected;
      ws.send(JSON.stringify(join));
      state.joins += 1;
    };
    ws.onmessage = (ev) => {
      if (state.attempt !== 0 || ui.conn.dataset.state !== "live") {
        state.attempt = 0;
        setConn("live", "live");
      }
      if (typeof ev.data === "string") onText(JSON.parse(ev.data));
      else writeOutput(ev.data);
    };
    ws.onclose = (ev) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.driving = false;
      term.options.disableStdin = true;
      if (ev.code === UNAUTHORIZED || ev.code === FORBIDDEN) {
        state.stopped = true;
        setConn("offline", "not allowed");
        let message = "Your login ended; log in again.";
        if (shareToken) message = "This share link is no longer valid.";
        else if (ev.code === FORBIDDEN) message = "You no longer have access to this project.";
        toast(message);
        return;
      }
      if (state.stopped) return;
      setConn("offline", "reconnecting…");
      // Full jitter: a hub restart is not met by every open terminal at the same instant.
      const delay = Math.random() * Math.min(MAX_BACKOFF_MS, 1000 * 2 ** state.attempt++);
      setTimeout(connect, delay);
    };
  }

  // An ended session has no live screen to snapshot: show the tail of its recording instead and
  // join from the recording's end.
  async function replayRecording() {
    const end = Number(host.dataset.outputOffset) || 0;
    // From the page's idea of the end: if more was recorded since, the reply just runs longer.
    const from = Math.max(0, end - REPLAY_BYTES);
    try {
      const res = await fetch(`/api/v1/sessions/${sessionId}/output?offset=${from}`, {
        credentials: "same-origin",
      });
      if (!res.ok) return;
      const start = Number(res.headers.get("X-Orchestratia-Offset"));
      const bytes = new Uint8Array(await res.arrayBuffer());
      // Live bytes that arrived meanwhile win: writing older ones after them would scramble.
      if (!Number.isFinite(start) || state.expected !== null) return;
      term.write(bytes);
      state.expected = start + bytes.length;
    } catch (err) {
      console.warn("replay failed", err);
    }
  }

  // --- input, control, search -----------------------------------------------------------------

  term.onData((data) => {
    if (state.driving) send({ type: "input", data });
  });

  ui.take.addEventListener("click", () => {
    send({ type: "take_control" });
    term.focus();
  });

  const searchForm = $("term-search");
  const searchInput = $("search-input");
  const searchOpts = { caseSensitive: false };
  searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (searchInput.value) search.findNext(searchInput.value, searchOpts);
  });
  $("search-prev").addEventListener("click", () => {
    if (searchInput.value) search.findPrevious(searchInput.value, searchOpts);
  });
  searchInput.addEventListener("input", () => {
    if (searchInput.value) search.findNext(searchInput.value, { ...searchOpts, incremental: true });
    else search.clearDecorations();
  });
  searchInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.shiftKey) {
      ev.preventDefault();
      if (searchInput.value) search.findPrevious(searchInput.value, searchOpts);
    } else if (ev.key === "Escape") {
      searchInput.value = "";
      search.clearDecorations();
      term.focus();
    }
  });

  fillHeight();
  (async () => {
    if (!shareToken && ENDED.includes(state.status)) await replayRecording();
    connect();
  })();
})();
