// The installable app and browser notifications for the inbox (SPEC §9).
//
// Every page registers the service worker (static/sw.js, served as /sw.js). On a logged-in page
// with the browser's permission granted, ONE tab - the holder of a Web Lock, so several open tabs
// never notify twice - follows the projects the user can act on (owner, member: a viewer cannot
// answer, so is not called) and, while the user's setting is on (Security page), shows a
// notification for each inbox item it has not announced before. What was announced is kept per user in
// localStorage, so the tab that takes over when the first one closes carries on where it stopped;
// a record nobody kept current (no tab open for a while) is a fresh start, not a backlog.
"use strict";

const Notify = (() => {
  const supported =
    "serviceWorker" in navigator && "Notification" in window && window.isSecureContext;
  const registered = supported ? navigator.serviceWorker.register("/sw.js", { scope: "/" }) : null;
  if (registered) registered.catch(() => {});

  const STALE_MS = 5 * 60 * 1000; // older than this, the announced record is not trusted
  const CHECK_MS = 60 * 1000; // also look without an event: a missed one costs a minute at most
  const MAX_FEEDS = 20;
  const TAG = "orchestratia-inbox:"; // + the item's key: one notification per item

  async function getJson(url) {
    const res = await fetch(url, { credentials: "same-origin" });
    return res.ok ? res.json() : null;
  }

  const keyOf = (item) => `${item.kind}:${item.id}:${item.created_at}`;
  const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

  // What the notification says: who asks (session, else server) and what they ask.
  function wording(item) {
    const who = item.session_name || item.server_name || "An agent";
    const detail = clip(item.detail || "", 180);
    switch (item.kind) {
      case "tool_approval":
        return { title: `${who} asks to use ${item.title}`, body: detail };
      case "intervention":
        return { title: `${who} needs help`, body: clip(item.title, 180) };
      case "plan_review":
        return { title: `Plan to review: ${item.title}`, body: `${who}: ${detail}` };
      case "task_approval":
        return { title: `Task to approve: ${item.title}`, body: detail };
      default:
        return { title: `Session lost: ${item.title}`, body: detail };
    }
  }

  // The buttons, where the platform shows them; each carries the decision id it will send. A
  // revision request needs feedback, so for a plan the second button opens the inbox instead.
  function buttons(item) {
    const id = () => Inbox.newDecisionId();
    if (item.kind === "tool_approval" || item.kind === "task_approval") {
      return {
        list: [
          { action: "approve", title: "Approve" },
          { action: "deny", title: item.kind === "tool_approval" ? "Deny" : "Reject" },
        ],
        ids: { approve: id(), deny: id() },
      };
    }
    if (item.kind === "plan_review") {
      return {
        list: [
          { action: "approve", title: "Approve plan" },
          { action: "open", title: "Request changes…" },
        ],
        ids: { approve: id() },
      };
    }
    return { list: [], ids: {} };
  }

  async function show(registration, item) {
    const tag = TAG + keyOf(item);
    if ((await registration.getNotifications({ tag })).length) return;
    const { title, body } = wording(item);
    const { list, ids } = buttons(item);
    await registration.showNotification(title, {
      body,
      tag,
      icon: "/static/icon-192.png",
      actions: list,
      requireInteraction: list.length > 0,
      data: {
        kind: item.kind,
        id: item.id,
        epoch: item.kind === "plan_review" ? item.epoch : undefined,
        title,
        tag,
        actions: ids,
        csrf: csrfToken(),
        url: `/inbox#inbox-${item.kind}-${item.id}`,
      },
    });
  }

  async function wanted() {
    if (Notification.permission !== "granted") return false;
    const prefs = await getJson("/api/v1/auth/preferences");
    return Boolean(prefs && prefs.browser_notifications);
  }

  // Runs while this tab holds the lock; the promise never settles, so the lock is held until the
  // tab goes away.
  async function lead() {
    const [me, projects, registration] = await Promise.all([
      getJson("/api/v1/auth/me"),
      getJson("/api/v1/projects"),
      navigator.serviceWorker.ready,
    ]);
    if (!me || !projects) return;
    const actable = new Set(projects.projects.filter((p) => p.role !== "viewer").map((p) => p.id));
    if (actable.size === 0) return;
    const storeKey = `orchestratia-notified:${me.id}`;

    let running = false;
    let again = false;
    async function check() {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        const inbox = await getJson("/api/v1/inbox");
        if (!inbox) return;
        const items = inbox.items.filter((i) => actable.has(i.project_id));
        const stored = JSON.parse(localStorage.getItem(storeKey) || "null");
        const fresh = stored && Date.now() - stored.at < STALE_MS;
        const announced = new Set(fresh ? stored.keys : items.map(keyOf));
        // Switched off, the record still follows the inbox: switching on again announces what
        // arrives from then on, not what came meanwhile.
        const news = items.filter((item) => !announced.has(keyOf(item)));
        if (news.length && (await wanted())) {
          for (const item of news) await show(registration, item);
        }
        // Answered elsewhere (another device, the inbox page): its notification goes too.
        const current = new Set(items.map((item) => TAG + keyOf(item)));
        (await registration.getNotifications()).forEach((n) => {
          if (n.tag.startsWith(TAG) && !current.has(n.tag)) n.close();
        });
        localStorage.setItem(storeKey, JSON.stringify({ at: Date.now(), keys: items.map(keyOf) }));
      } catch {
        // Offline or logged out: the next event or the next minute tries again.
      } finally {
        running = false;
        if (again) {
          again = false;
          check();
        }
      }
    }

    const quiet = { dataset: {}, textContent: "" }; // followProject's indicator, not shown
    [...actable].slice(0, MAX_FEEDS).forEach((projectId) => {
      followProject(projectId, quiet, (msg) => {
        if (msg.type === "inbox_update") check();
      }, check);
    });
    setInterval(check, CHECK_MS);
    await new Promise(() => {});
  }

  function start() {
    if (!registered || !navigator.locks || !document.getElementById("inbox-badge")) return;
    if (Notification.permission !== "granted") return;
    navigator.locks.request("orchestratia-notifier", () => lead().catch(() => {}));
  }

  // A notification of the login that ends is of no use to the next one (its buttons would be
  // refused anyway: the CSRF token they carry is bound to the login).
  async function closeAll() {
    if (!registered) return;
    const registration = await navigator.serviceWorker.ready;
    (await registration.getNotifications()).forEach((n) => n.close());
  }

  return { supported, start, closeAll };
})();

// The Security page: the per-user switch, and the button that asks the browser (only on a click).
function wireNotificationSettings() {
  const panel = document.getElementById("notify-settings");
  if (!panel) return;
  const toggle = document.getElementById("notify-toggle");
  const ask = document.getElementById("notify-permission");
  const state = document.getElementById("notify-state");
  const error = document.getElementById("notify-error");

  function showState() {
    if (!Notify.supported) {
      state.textContent = "This browser cannot show notifications for this site (it needs https).";
      ask.hidden = true;
      return;
    }
    const permission = Notification.permission;
    ask.hidden = permission !== "default";
    state.textContent = {
      granted: "This browser may show notifications.",
      denied: "This browser blocks notifications from this site: allow them in its site settings.",
      default: "This browser has not been allowed to show notifications yet.",
    }[permission];
  }

  ask.addEventListener("click", async () => {
    await Notification.requestPermission();
    showState();
    Notify.start();
  });
  toggle.addEventListener("change", async () => {
    error.hidden = true;
    const res = await sendJson("PUT", "/api/v1/auth/preferences", { browser_notifications: toggle.checked });
    if (res.ok) return;
    toggle.checked = !toggle.checked;
    error.textContent = apiErrorText(await res.json().catch(() => ({})), res.status);
    error.hidden = false;
  });
  showState();
}

document.addEventListener("DOMContentLoaded", () => {
  wireNotificationSettings();
  Notify.start();
  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", () => Notify.closeAll().catch(() => {}));
});
