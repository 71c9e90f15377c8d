// "Stop all agents" (Sessions page) and the "auto-assignment paused" banner (Sessions and Tasks
// pages): the dialog asks for the project's name before it posts; the banner follows the
// project's assignment_pause events, whoever paused or resumed it.
"use strict";

(() => {
  const banner = document.getElementById("assignment-paused");
  const dialog = document.getElementById("stop-all-dialog");

  function field(name) {
    return banner.querySelector(`[data-field="${name}"]`);
  }

  function showPause(pause) {
    if (!banner || pause.project_id !== banner.dataset.projectId) return;
    banner.hidden = !pause.paused_at;
    if (!pause.paused_at) return;
    const since = document.createElement("time");
    since.setAttribute("datetime", pause.paused_at);
    field("since").replaceChildren("since ", since);
    field("by").textContent = pause.paused_by ? `by ${pause.paused_by}` : "";
    field("reason").textContent = pause.reason ? `· ${pause.reason}` : "";
    localizeTimes(banner);
  }

  async function failure(res) {
    let data = {};
    try {
      data = await res.json();
    } catch (_) {
      // not JSON: the generic sentence
    }
    return apiErrorText(data, res.status);
  }

  document.addEventListener("orc:dashboard-event", (ev) => {
    if (ev.detail.type === "assignment_pause") showPause(ev.detail.pause);
  });

  if (banner) {
    localizeTimes(banner);
    const resume = document.getElementById("resume-assignment");
    const error = document.getElementById("resume-error");
    if (resume) {
      resume.addEventListener("click", async () => {
        resume.disabled = true;
        error.hidden = true;
        const res = await postJson(`/api/v1/projects/${banner.dataset.projectId}/resume`);
        resume.disabled = false;
        if (!res.ok) {
          error.textContent = await failure(res);
          error.hidden = false;
          return;
        }
        (await res.json()).projects.forEach(showPause);
      });
    }
  }

  if (!dialog) return;
  const form = document.getElementById("stop-all-form");
  const confirmInput = document.getElementById("stop-all-confirm");
  const submit = document.getElementById("stop-all-submit");
  const error = document.getElementById("stop-all-error");
  const result = document.getElementById("stop-all-result");
  const expected = dialog.dataset.projectName;

  document.getElementById("stop-all").addEventListener("click", () => {
    form.reset();
    submit.disabled = true;
    error.hidden = true;
    result.hidden = true;
    dialog.showModal();
    confirmInput.focus();
  });

  dialog.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());

  confirmInput.addEventListener("input", () => {
    submit.disabled = confirmInput.value.trim() !== expected;
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (confirmInput.value.trim() !== expected) return;
    submit.disabled = true;
    error.hidden = true;
    result.hidden = false;
    result.textContent = "Stopping… sessions get Ctrl-C, then a short grace.";
    const reason = document.getElementById("stop-all-reason").value.trim();
    const res = await postJson(`/api/v1/projects/${dialog.dataset.projectId}/stop-all`, {
      reason: reason || null,
    });
    if (!res.ok) {
      result.hidden = true;
      error.textContent = await failure(res);
      error.hidden = false;
      submit.disabled = false;
      return;
    }
    const body = await res.json();
    body.projects.forEach(showPause);
    const parts = [`${body.stopped} stopped after Ctrl-C`, `${body.killed} killed after the grace`];
    if (body.not_reached) parts.push(`${body.not_reached} not reached (server offline)`);
    if (body.already_stopping) parts.push(`${body.already_stopping} already being stopped`);
    result.textContent = body.sessions
      ? `Done: ${parts.join(", ")}. Auto-assignment is paused.`
      : "No session was running. Auto-assignment is paused.";
  });
})();
