// The account page: change password (JSON API), download the recovery codes just shown, and
// the Telegram/email notification grid (saved on every change).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("password-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const error = document.getElementById("password-error");
    const done = document.getElementById("password-done");
    error.hidden = true;
    done.hidden = true;
    const res = await postJson("/api/v1/auth/password", {
      current_password: data.get("current_password"),
      new_password: data.get("new_password"),
    });
    if (res.ok) {
      form.reset();
      done.hidden = false;
      return;
    }
    error.textContent = apiErrorText(await res.json().catch(() => ({})), res.status);
    error.hidden = false;
  });
  wireChannelGrid();
  // The codes arrive in a partial after the page loaded: listen on the body.
  document.body.addEventListener("click", (ev) => {
    if (!ev.target.matches("#download-codes")) return;
    const text = document.getElementById("recovery-codes").textContent.trim() + "\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    link.download = `orchestratia-recovery-codes-${location.hostname}.txt`;
    link.click();
    URL.revokeObjectURL(link.href);
  });
});

function wireChannelGrid() {
  const form = document.getElementById("channel-form");
  if (!form) return;
  const saved = document.getElementById("channel-saved");
  const error = document.getElementById("channel-error");
  const chosen = (channel) =>
    [...form.querySelectorAll(`input[name="${channel}"]:checked`)].map((box) => box.value);
  // One save at a time, each sending the whole grid as it is then: two quick clicks must not
  // reach the hub in the wrong order and leave the older choice stored.
  let saving = Promise.resolve();
  async function save(box) {
    saved.hidden = true;
    error.hidden = true;
    const res = await sendJson("PUT", "/api/v1/account/notifications", {
      telegram: chosen("telegram"),
      email: chosen("email"),
    });
    if (res.ok) {
      saved.hidden = false;
      return;
    }
    box.checked = !box.checked;
    error.textContent = apiErrorText(await res.json().catch(() => ({})), res.status);
    error.hidden = false;
  }
  form.addEventListener("change", (ev) => {
    saved.hidden = true;
    saving = saving
      .then(() => save(ev.target))
      .catch(() => {
        ev.target.checked = !ev.target.checked;
        error.textContent = "The hub could not be reached; nothing was saved.";
        error.hidden = false;
      });
  });
}
