// plauder's service worker, served at /sw.js with this build's version filled in (see
// src/web/assets.rs). It does three things:
// - keeps the chat app's shell (page, styles, modules, translations, icons) of this build in a
//   cache named after the build, so the app starts without a network; older builds' caches go
//   when this worker activates;
// - answers navigations to the app from the network first and from that cache only when the
//   network fails; the app then shows itself offline. Nothing else is cached: no API answer, no
//   socket, nothing sent with credentials, so no message is ever served from a cache;
// - shows Web Push notifications and opens the right room (or support chat) when one is clicked.

importScripts('/static/__VERSION__/push.js');

const CACHE_PREFIX = 'plauder-shell-';
const CACHE = 'plauder-shell-__VERSION__';
const SHELL = __SHELL__;
const ICON = '/static/__VERSION__/icons/icon-192.png';
/** Paths that always go to the network, untouched (the API, the socket, the admin panel...). */
const NETWORK_ONLY = [/^\/api\//, /^\/ws(\/|$)/, /^\/auth(\/|$)/, /^\/admin(\/|$)/, /^\/health(\/|$)/, /^\/metrics(\/|$)/];
/** How long a navigation waits for the network before the cached shell answers. */
const NAVIGATION_TIMEOUT_MS = 5000;

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // `reload`: straight from the server, not from the HTTP cache of an older visit.
      await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' })));
      // A new build takes over at once: its shell is complete, and the pages of the old one
      // fetch their (versioned) files from the network, which still serves them.
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (NETWORK_ONLY.some((re) => re.test(url.pathname))) return;
  // Anything carrying credentials is someone's data: never from or into a cache.
  if (req.headers.has('authorization')) return;
  if (req.mode === 'navigate') {
    if (url.pathname === '/') event.respondWith(navigation(req));
    return;
  }
  if (SHELL.includes(url.pathname)) event.respondWith(shellFile(req, url.pathname));
});

/** The page from the network; the cached shell when the network fails or hangs. */
async function navigation(req) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), NAVIGATION_TIMEOUT_MS);
  try {
    return await fetch(req, { signal: controller.signal });
  } catch (e) {
    const cached = await caches.match('/', { cacheName: CACHE });
    if (cached) return cached;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** A file of this build's shell: versioned URLs never change, so the cached copy is the file. */
async function shellFile(req, path) {
  const cached = await caches.match(path, { cacheName: CACHE });
  return cached ?? fetch(req);
}

self.addEventListener('push', (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    // Not JSON: shown as a plain "plauder" notification below.
  }
  const built = self.plauderPush.notificationFromPayload(payload, { icon: ICON });
  // A push must show something (userVisibleOnly); one this build cannot read says only "plauder".
  const { title, options } = built ?? { title: 'plauder', options: { icon: ICON, tag: 'plauder', data: { url: '/' } } };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(self.plauderPush.safeUrl(event.notification.data?.url), self.location.origin);
  event.waitUntil(openWindow(url));
});

/**
 * Focuses a window of the same page (the app, or the admin panel) and tells it which room to
 * open (it sets the URL's fragment, which the page follows); with none open, opens one.
 */
async function openWindow(url) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const same = windows.find((w) => new URL(w.url).pathname === url.pathname);
  if (same) {
    await same.focus();
    same.postMessage({ type: 'plauder.open', url: url.pathname + url.search + url.hash });
    return;
  }
  await self.clients.openWindow(url.href);
}
