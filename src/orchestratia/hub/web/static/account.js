// The account page: change password (JSON API), download the recovery codes just shown.
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
