"""The sessions grid with 50 sessions printing: update lag, page frame time, hub CPU.

50 sessions each print a line stamped with the wall clock every second (same machine); one
grid page is open in headless Chromium. In the page, a MutationObserver reads the newest stamp
of each tile's miniature when it changes: lag = when the text is in the page minus the stamp.
requestAnimationFrame deltas give the frame time. Baselines in the same run: the grid page
with all sessions quiet (the printers wait for a start file: frame time, idle CPU), and the
sessions printing with no grid open (the hub's CPU for relaying and recording alone, and the
lag of a terminal viewer's socket on one of them, which the grid's lag builds on).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import Any

from playwright.async_api import Page, async_playwright

from harness import Stack, emit, percentile, run, stack
from orchestratia.protocol.viewer import unpack_output
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "50"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
# Seconds between a session's lines. At 0.2 (250 lines/s in all) the hub's recording path (one
# commit per output frame) falls behind on a loaded 2-core machine, terminal viewers and grid alike.
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "1.0"))
BASELINE_SECONDS = 5.0

PRINTER = """
import os, random, sys, time
while not os.path.exists("{start}"):
    time.sleep(0.1)
time.sleep(random.random() * {interval})  # out of step with the other sessions, as agents are
i = 0
while True:
    sys.stdout.write(f"{{time.time_ns()}} line {{i:06d}}\\n")
    sys.stdout.flush()
    i += 1
    time.sleep({interval})
"""

# Installed in the page: frame deltas, and per tile the lag of each new stamp seen.
PROBE = """() => {
  window.__frames = [];
  window.__lags = [];
  let last = performance.now();
  const tick = (now) => {
    window.__frames.push(now - last);
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const newest = new Map();
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) {
      const pre = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (!pre || pre.dataset.field !== "screen") continue;
      const stamps = pre.textContent.match(/^\\d{19}(?= line)/gm);
      if (!stamps) continue;
      const stamp = Number(stamps[stamps.length - 1].slice(0, 13));
      const id = pre.closest(".session-card").id;
      if ((newest.get(id) || 0) >= stamp) continue;
      newest.set(id, stamp);
      window.__lags.push(now - stamp);
    }
  }).observe(document.getElementById("session-grid"),
             { subtree: true, childList: true, characterData: true });
}"""


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "n": len(values),
    }


async def _viewer_lags(st: Stack, session_id: str, seconds: float) -> list[float]:
    """Stamp-to-arrival lags (ms) on a terminal viewer socket of one session."""
    ws = await st.viewer(session_id)
    await ws.send(json.dumps({"type": "join"}))
    lags: list[float] = []
    until = time.monotonic() + seconds
    try:
        while (left := until - time.monotonic()) > 0:
            try:
                msg = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            if isinstance(msg, bytes):
                now = time.time_ns()
                for stamp in re.findall(rb"(\d{19}) line", unpack_output(msg)[1]):
                    lags.append((now - int(stamp)) / 1e6)
    finally:
        await ws.close()
    return lags


async def _window(
    st: Stack, page: Page, seconds: float, session_id: str | None = None
) -> dict[str, Any]:
    """Frame times, lags and the processes' CPU over ``seconds``; with ``session_id`` also the
    lag of a terminal viewer of that session meanwhile."""
    await page.evaluate("() => { window.__frames = []; window.__lags = []; }")
    hub, daemon = st.process("hub"), st.process("daemon")
    hub.cpu_percent(None)
    daemon.cpu_percent(None)
    if session_id is None:
        await asyncio.sleep(seconds)
        viewer: list[float] = []
    else:
        viewer = await _viewer_lags(st, session_id, seconds)
    figures: dict[str, Any] = {
        "hub_cpu_percent": round(hub.cpu_percent(None), 1),
        "daemon_cpu_percent": round(daemon.cpu_percent(None), 1),
        "load1": round(os.getloadavg()[0], 2),
    }
    if page.url.startswith(st.url):
        figures["frame"] = _ms(await page.evaluate("() => window.__frames"))
        figures["grid_update_lag"] = _ms(await page.evaluate("() => window.__lags"))
    if session_id is not None:
        figures["viewer_lag"] = _ms(viewer)
    return figures


async def _grid(st: Stack) -> dict[str, Any]:
    start = st.root / "start"
    printer = st.root / "printer.py"
    printer.write_text(PRINTER.format(start=start, interval=INTERVAL))
    ids = [
        st.start_session(f"printer-{i:02d}", f"python3 {printer}", cols=100, rows=30)
        for i in range(SESSIONS)
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        await context.add_cookies([{"name": "orc_session", "value": st.cookie, "url": st.url}])
        page = await context.new_page()
        await page.goto(f"{st.url}/sessions?project_id={st.project_id}")
        await page.wait_for_selector("#live-indicator[data-state=live]")
        await page.evaluate(PROBE)
        quiet = await _window(st, page, BASELINE_SECONDS)
        await page.goto("about:blank")
        start.touch()
        no_grid = await _window(st, page, BASELINE_SECONDS * 2, ids[0])
        await page.goto(f"{st.url}/sessions?project_id={st.project_id}")
        await page.wait_for_selector("#live-indicator[data-state=live]")
        await page.evaluate(PROBE)
        printing = await _window(st, page, SECONDS, ids[-1])
        await browser.close()
    return {"grid_quiet": quiet, "printing_no_grid": no_grid, "printing_grid": printing}


async def main() -> None:
    with stack() as st:
        figures = await _grid(st)
    emit({"bench": "grid_fanout", "sessions": SESSIONS, "line_interval_s": INTERVAL, **figures})


if __name__ == "__main__":
    run(main)
