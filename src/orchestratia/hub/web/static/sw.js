// The dashboard's service worker (served as /sw.js so its scope is the whole site).
//
// What it caches: only the offline page and the three public files it needs, fetched without
// credentials when the worker installs. Nothing a login can see (pages, API replies) is ever put
// in a cache, so nothing outlives a logout or reaches the next person to log in on this browser.
// Page loads go to the network as usual; only when the network fails does the offline page stand
// in.
//
// Notifications are shown by the pages (static/notify.js); this worker answers their clicks:
// Approve/Deny post the decision the notification carries (its own decision id, so a second
// click, or the same answer given in the inbox meanwhile, applies at most once), the body opens
// the inbox at the item.
"use strict";

const CACHE = "orchestratia-offline-v1";
const OFFLINE = "/static/offline.html";
const OFFLINE_FILES = [OFFLINE, "/static/app.css", "/static/favicon.svg", "/static/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(OFFLINE_FILES.map((url) => new Request(url, { credentials: "omit" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
  } else if (OFFLINE_FILES.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(url.pathname)));
  }
});

// --- notification clicks ---------------------------------------------------------------------

async function openAt(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin !== self.location.origin) continue;
    // Focus is the browser's to grant (a real click does); navigating does not depend on it.
    await client.focus().catch(() => {});
    if (client.navigate) {
      const moved = await client.navigate(url).catch(() => null);
      if (moved) return;
    }
    break;
  }
  await self.clients.openWindow(url);
}

// Tell the person when a decision did not go through, and where to answer instead.
function notApplied(data, why) {
  return self.registration.showNotification("Not applied: " + data.title, {
    body: `${why} Open the inbox to answer.`,
    // Not the item's tag: pages close those once the item leaves the inbox, this should stay.
    tag: `orchestratia-notice:${data.kind}:${data.id}`,
    icon: "/static/icon-192.png",
    data: { ...data, actions: {} },
  });
}

async function decide(data, action) {
  const decision = { kind: data.kind, id: data.id, decision_id: data.actions[action], action };
  if (data.epoch !== undefined) decision.epoch = data.epoch;
  let res;
  try {
    res = await fetch("/api/v1/inbox/decisions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
      body: JSON.stringify({ decisions: [decision] }),
    });
  } catch {
    return notApplied(data, "The hub could not be reached.");
  }
  if (!res.ok) {
    const why = res.status === 401 || res.status === 403 ? "Your login ended." : `The hub answered HTTP ${res.status}.`;
    return notApplied(data, why);
  }
  const [result] = (await res.json()).results;
  if (result.outcome === "applied" || result.outcome === "already_applied") return undefined;
  return notApplied(data, result.detail ? `${result.detail}.` : "It was already answered.");
}

// A click on `notification` (`action` is "" for its body). A named function, so a test can run
// it in the worker: a synthetic event could not be kept alive with waitUntil.
function answer(notification, action) {
  const data = notification.data || {};
  notification.close();
  const actions = data.actions || {};
  if (action && actions[action]) return decide(data, action);
  return openAt(data.url || "/inbox");
}

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(answer(event.notification, event.action));
});
