// Shared dashboard behaviour: login, logout, copy-to-clipboard.
"use strict";

function csrfToken() {
  const m = document.cookie.match(/(?:^|; )orc_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      const error = document.getElementById("login-error");
      error.hidden = true;
      const res = await postJson("/api/v1/auth/login", {
        email: data.get("email"),
        password: data.get("password"),
      });
      if (res.ok) {
        window.location.assign("/fleet");
        return;
      }
      const body = await res.json().catch(() => ({}));
      error.textContent = typeof body.detail === "string" ? body.detail : "Login failed";
      error.hidden = false;
    });
  }
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await postJson("/api/v1/auth/logout");
      window.location.assign("/login");
    });
  }
  document.body.addEventListener("click", (ev) => {
    const pre = ev.target.closest("pre.copyable");
    if (pre && navigator.clipboard) {
      navigator.clipboard.writeText(pre.textContent.trim());
      pre.dataset.copied = "1";
      setTimeout(() => delete pre.dataset.copied, 1200);
    }
  });
});
