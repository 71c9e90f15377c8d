// The Telegram page: the project's bot (owners), a one-time link code for one's own chat, and
// unlinking. Every change goes through the REST API; the page reloads to show the result.
"use strict";

function wireBot(root, form) {
  const botUrl = `/api/v1/projects/${encodeURIComponent(root.dataset.projectId)}/telegram`;
  const error = document.getElementById("telegram-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    const token = String(data.get("token") || "").trim();
    const body = { mode: data.get("mode"), enabled: data.get("enabled") === "on" };
    if (token) body.token = token;
    const reply = await callApi("PUT", botUrl, body);
    if (reply.ok) window.location.reload();
    else showFailure(error, reply);
  });
  const remove = document.getElementById("telegram-remove");
  if (remove) {
    remove.addEventListener("click", async () => {
      if (!window.confirm("Remove the bot? Linked chats stop getting anything.")) return;
      const reply = await callApi("DELETE", botUrl);
      if (reply.ok) window.location.reload();
      else showFailure(error, reply);
    });
  }
}

function wireLinking(root) {
  const error = document.getElementById("telegram-link-error");
  const code = document.getElementById("telegram-code");
  if (code) {
    code.addEventListener("click", async () => {
      error.hidden = true;
      const reply = await callApi("POST", "/api/v1/telegram/link-codes", {
        project_id: root.dataset.projectId,
      });
      if (!reply.ok) return showFailure(error, reply);
      document.getElementById("telegram-deep-link").href = reply.data.deep_link;
      document.getElementById("telegram-command").textContent = reply.data.command;
      document.getElementById("telegram-code-box").hidden = false;
    });
  }
  root.querySelectorAll("[data-unlink]").forEach((button) => {
    button.addEventListener("click", async () => {
      if (!window.confirm("Unlink this Telegram chat?")) return;
      const reply = await callApi("DELETE", `/api/v1/telegram/links/${encodeURIComponent(button.dataset.unlink)}`);
      if (reply.ok) window.location.reload();
      else showFailure(error, reply);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  const root = document.getElementById("telegram");
  if (!root) return;
  const form = document.getElementById("telegram-form");
  if (form) wireBot(root, form);
  wireLinking(root);
});
