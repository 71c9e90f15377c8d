// Shared dashboard behaviour: login, logout, local times, dialog close buttons, REST calls with
// the CSRF header (copying: copy.js).
"use strict";

// Server-rendered times are UTC; show them in the reader's zone, keeping the exact one as a tooltip.
function localizeTimes(root) {
  root.querySelectorAll("time[datetime]").forEach((el) => {
    const iso = el.getAttribute("datetime");
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return;
    el.textContent = when.toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
    el.title = iso;
  });
}

// Buttons marked data-close-dialog close the dialog they sit in, without submitting its form.
function wireCloseButtons() {
  document.querySelectorAll("dialog [data-close-dialog]").forEach((btn) => {
    btn.addEventListener("click", () => btn.closest("dialog").close());
  });
}

function csrfToken() {
  const m = document.cookie.match(/(?:^|; )orc_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

// The sentence for one 422 entry: the hub's `message` names the field as a person reads it.
function validationText(d) {
  return d.message || `${(d.loc || []).slice(1).join(".")}: ${d.msg}`;
}

// The text to show for an error reply's parsed body.
function apiErrorText(data, status) {
  if (typeof data.detail === "string") return data.detail;
  if (Array.isArray(data.detail) && data.detail.length) return data.detail.map(validationText).join(" ");
  return `Request failed (HTTP ${status})`;
}

// An htmx form the hub refuses shows the hub's sentence in its [data-form-error] slot.
document.addEventListener("htmx:responseError", (evt) => {
  const form = evt.detail.elt.closest("form");
  const slot = form && form.querySelector("[data-form-error]");
  if (!slot) return;
  let data = {};
  try {
    data = JSON.parse(evt.detail.xhr.responseText);
  } catch (_) {
    // not JSON: the generic sentence below
  }
  slot.textContent = apiErrorText(data, evt.detail.xhr.status);
  slot.hidden = false;
});

// A request to the hub's REST API as the logged-in page: the login cookie, the CSRF header and
// a JSON body (none when `body` is undefined). Answers the fetch Response.
async function sendJson(method, url, body) {
  return fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function postJson(url, body) {
  return sendJson("POST", url, body);
}

// sendJson, with the reply read: { ok, status, data }, data being {} for a 204 or a body that is
// not JSON, so callers can hand any failure to showFailure / apiErrorText.
async function callApi(method, url, body) {
  const res = await sendJson(method, url, body);
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data };
}

// Show a failed callApi reply's sentence in its error slot.
function showFailure(slot, reply) {
  slot.textContent = apiErrorText(reply.data, reply.status);
  slot.hidden = false;
}

// Subscribe to a project's live events on /ws/dashboard, reconnecting with full jitter so a hub
// restart is not met by every open tab at the same instant. `onEvent` gets every other frame;
// `onLive` runs after each (re)subscription, when state may have been missed meanwhile. Every
// event is also dispatched on the document as "orc:dashboard-event".
// ``options.screens``: also receive the sessions' screen miniatures (the sessions grid).
function followProject(projectId, indicator, onEvent, onLive, options) {
  let attempt = 0;
  const subscribe = { type: "subscribe", project_id: projectId, ...(options || {}) };
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/dashboard`);
    ws.onopen = () => ws.send(JSON.stringify(subscribe));
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "subscribed") {
        attempt = 0;
        indicator.dataset.state = "live";
        indicator.textContent = "live";
        if (onLive) onLive();
      } else {
        onEvent(msg);
        // Page parts with scripts of their own (the paused banner) listen here: one socket a page.
        document.dispatchEvent(new CustomEvent("orc:dashboard-event", { detail: msg }));
      }
    };
    ws.onclose = (ev) => {
      indicator.dataset.state = "offline";
      // 4401: the login ended; 4403: removed from the project. Retrying would not help.
      if (ev.code === 4401 || ev.code === 4403) {
        indicator.textContent = ev.code === 4401 ? "logged out" : "no access";
        return;
      }
      indicator.textContent = "reconnecting…";
      setTimeout(connect, Math.random() * Math.min(30000, 1000 * 2 ** attempt++));
    };
  }
  connect();
}

// Where to go after logging in: ``?next=`` when it is a path of this site (never another site:
// "//host" and "/\\host" are refused), else the overview.
function nextPage() {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  return /^\/(?![\/\\])/.test(next) ? next : "/overview";
}

// The login page: the password, then, for an account with a second factor, a code sent back
// with the challenge the password earned (in the same page, so nothing is typed twice).
function wireLogin() {
  const form = document.getElementById("login-form");
  if (!form) return;
  const codeForm = document.getElementById("second-factor-form");
  const error = document.getElementById("login-error");
  const codeError = document.getElementById("second-factor-error");
  let challenge = null;
  async function failed(res, slot) {
    slot.textContent = apiErrorText(await res.json().catch(() => ({})), res.status);
    slot.hidden = false;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    error.hidden = true;
    const res = await postJson("/api/v1/auth/login", {
      email: data.get("email"),
      password: data.get("password"),
    });
    if (!res.ok) return failed(res, error);
    const body = await res.json();
    if (!body.second_factor_required) return window.location.assign(nextPage());
    challenge = body.challenge;
    form.hidden = true;
    codeForm.hidden = false;
    codeError.hidden = true;
    codeForm.elements.code.focus();
  });
  codeForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    codeError.hidden = true;
    const res = await postJson("/api/v1/auth/login/second-factor", {
      challenge,
      code: codeForm.elements.code.value,
    });
    if (res.ok) return window.location.assign(nextPage());
    codeForm.elements.code.select();
    return failed(res, codeError);
  });
  document.getElementById("second-factor-back").addEventListener("click", () => {
    challenge = null;
    codeForm.reset();
    codeForm.hidden = true;
    form.hidden = false;
    form.elements.password.value = "";
    form.elements.password.focus();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  wireLogin();
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await postJson("/api/v1/auth/logout");
      window.location.assign("/login");
    });
  }
  // Pickers that navigate as soon as they change (the CSP allows no inline handlers).
  document.body.addEventListener("change", (ev) => {
    if (ev.target.matches("select[data-submit-on-change]")) ev.target.form.submit();
  });
});
