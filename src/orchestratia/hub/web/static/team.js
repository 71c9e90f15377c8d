// The team pages: members (change role, remove), invites (create, resend, revoke, copy the link
// when it was not mailed), mail settings, and accepting an invite. Every change goes through the
// REST API; tables are re-rendered by the hub.
"use strict";

function refreshInvites() {
  const box = document.getElementById("invites");
  if (box) htmx.ajax("GET", box.dataset.src, { target: box, swap: "innerHTML" });
}

function showIssued(reply) {
  const inv = reply.data;
  const box = document.getElementById("invite-result");
  const linkBox = document.getElementById("invite-link-box");
  document.getElementById("invite-result-text").textContent = inv.emailed
    ? `Invite mailed to ${inv.email} (${inv.role}).`
    : `Invite for ${inv.email} (${inv.role}) created. Pass this link on; it works once:`;
  linkBox.hidden = inv.emailed;
  document.getElementById("invite-link").textContent = inv.link || "";
  const why = inv.mail_error || "";
  document.getElementById("invite-mail-error").textContent = why && `${why[0].toUpperCase()}${why.slice(1)}.`;
  box.hidden = false;
}

function wireTeam(team) {
  const pid = team.dataset.projectId;
  const membersError = document.getElementById("members-error");
  team.addEventListener("change", async (ev) => {
    const select = ev.target.closest("select[data-member-role]");
    if (!select) return;
    const row = select.closest("tr");
    membersError.hidden = true;
    const reply = await callApi("PATCH", `/api/v1/projects/${pid}/members/${row.dataset.userId}`, {
      role: select.value,
    });
    if (reply.ok) {
      select.dataset.current = select.value;
    } else {
      select.value = select.dataset.current;
      showFailure(membersError, reply);
    }
  });
  team.addEventListener("click", async (ev) => {
    const remove = ev.target.closest("[data-member-remove]");
    if (remove) {
      const row = remove.closest("tr");
      if (!window.confirm(`Remove ${row.dataset.email} from this project?`)) return;
      membersError.hidden = true;
      const reply = await callApi("DELETE", `/api/v1/projects/${pid}/members/${row.dataset.userId}`);
      if (reply.ok) row.remove();
      else showFailure(membersError, reply);
      return;
    }
    const action = ev.target.closest("[data-invite-action]");
    if (action) {
      const row = action.closest("tr");
      const url = `/api/v1/projects/${pid}/invites/${row.dataset.inviteId}`;
      const error = document.getElementById("invite-error");
      error.hidden = true;
      if (action.dataset.inviteAction === "revoke") {
        if (!window.confirm(`Revoke the invite for ${row.dataset.email}?`)) return;
        const reply = await callApi("DELETE", url);
        if (!reply.ok) showFailure(error, reply);
      } else {
        const reply = await callApi("POST", `${url}/resend`);
        if (reply.ok) showIssued(reply);
        else showFailure(error, reply);
      }
      refreshInvites();
    }
  });
  const form = document.getElementById("invite-form");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = document.getElementById("invite-error");
    error.hidden = true;
    const data = new FormData(form);
    const reply = await callApi("POST", `/api/v1/projects/${pid}/invites`, {
      email: String(data.get("email")).trim(),
      role: data.get("role"),
    });
    if (!reply.ok) {
      showFailure(error, reply);
      return;
    }
    showIssued(reply);
    form.reset();
    refreshInvites();
  });
}

function mailBody(form) {
  const data = new FormData(form);
  const password = String(data.get("password") || "");
  let kept = password === "" ? null : password;
  if (data.get("clear_password")) kept = "";
  return {
    host: String(data.get("host")).trim(),
    port: Number(data.get("port")),
    security: data.get("security"),
    username: String(data.get("username") || "").trim() || null,
    password: kept,
    from_address: String(data.get("from_address")).trim(),
  };
}

function wireMail(form) {
  const error = document.getElementById("mail-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const reply = await callApi("PUT", "/api/v1/settings/mail", mailBody(form));
    if (reply.ok) window.location.reload();
    else showFailure(error, reply);
  });
  const remove = document.getElementById("mail-remove");
  if (remove) {
    remove.addEventListener("click", async () => {
      if (!window.confirm("Remove the mail settings? Invites will show their links instead.")) return;
      const reply = await callApi("DELETE", "/api/v1/settings/mail");
      if (reply.ok) window.location.reload();
      else showFailure(error, reply);
    });
  }
  const test = document.getElementById("mail-test-form");
  if (test) {
    test.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const result = document.getElementById("mail-test-result");
      result.textContent = "Sending…";
      result.hidden = false;
      const reply = await callApi("POST", "/api/v1/settings/mail/test", {
        to: String(new FormData(test).get("to")).trim(),
      });
      if (!reply.ok) result.textContent = apiErrorText(reply.data, reply.status);
      else if (reply.data.sent) result.textContent = "Sent. Check the inbox.";
      else result.textContent = `Not sent: ${reply.data.error}`;
    });
  }
}

function wireAccept(page, form) {
  const error = document.getElementById("accept-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const body = { token: page.dataset.token };
    if (form.dataset.mode === "new") {
      const data = new FormData(form);
      if (data.get("password") !== data.get("repeat")) {
        error.textContent = "The two passwords differ.";
        error.hidden = false;
        return;
      }
      body.password = data.get("password");
    }
    const reply = await callApi("POST", "/api/v1/invites/accept", body);
    if (reply.ok) window.location.assign(`/tasks?project_id=${encodeURIComponent(reply.data.project_id)}`);
    else showFailure(error, reply);
  });
}

// Times in the reader's zone, in the page and in each refreshed invites table.
document.addEventListener("htmx:afterSwap", (ev) => localizeTimes(ev.detail.target));

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  const team = document.getElementById("team");
  if (team) wireTeam(team);
  const mail = document.getElementById("mail-form");
  if (mail) wireMail(mail);
  const page = document.getElementById("invite-page");
  const accept = document.getElementById("accept-form");
  if (page && accept) wireAccept(page, accept);
});
