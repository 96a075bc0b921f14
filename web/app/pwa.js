// The installable app's side in the page: registers the service worker (web/sw.js, served at
// /sw.js) where browsers allow one, a secure context (https, or localhost and 127.0.0.1 while
// developing), and follows the worker's "open this" messages from clicked notifications.

/**
 * Registers the service worker; resolves to its registration, or null where there is none.
 * @returns {Promise<?ServiceWorkerRegistration>}
 */
export async function registerServiceWorker() {
  if (!window.isSecureContext || !('serviceWorker' in navigator)) return null;
  try {
    return await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  } catch {
    // Refused (a private window, a policy): the app works as before, only not offline.
    return null;
  }
}

/**
 * A clicked notification of this page's kind: the worker focused this window and asks it to show
 * `url` (`/#room=…`). The same page follows the new fragment; another page is loaded.
 */
export function followNotificationClicks() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (e) => {
    if (e.data?.type !== 'plauder.open' || typeof e.data.url !== 'string') return;
    const url = new URL(e.data.url, location.origin);
    if (url.origin !== location.origin) return;
    if (url.pathname === location.pathname) {
      if (location.hash === url.hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = url.hash;
    } else location.assign(url.href);
  });
}
