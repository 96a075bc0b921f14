// "Notifications on this device": Web Push for this browser. Turning it on asks for the
// permission, subscribes with the server's VAPID key (GET /push/vapid-public-key) and registers
// the subscription (POST /push/subscriptions); turning it off removes it there (DELETE) and
// here. A server without push (the routes answer 404) is said so, and the switch stays off.

import { h, replace, t } from './dom.js';
import { registerServiceWorker } from './pwa.js';
import { serverText } from '../errors.js';

/** The VAPID key (base64url, as the server sends it) as the bytes `subscribe` wants. */
function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function sameKey(a, b) {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/** The settings section with its switch; it checks the browser and the server as it opens. */
export function pushSection(app) {
  const { client } = app;
  const toggle = h('input#push-toggle', { type: 'checkbox', disabled: true });
  const status = h('p.muted.small#push-status', { role: 'status' }, t('push.checking'));
  const section = h(
    'section#push-section',
    h('h3', t('push.title')),
    h('p.muted.small', t('push.hint')),
    h('label.check-field', toggle, h('span', t('push.toggle'))),
    status,
  );
  /** @type {?ServiceWorkerRegistration} */
  let registration = null;
  /** @type {?Uint8Array} */
  let key = null;

  const say = (text) => replace(status, text);

  async function check() {
    if (!window.isSecureContext || !('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
      say(t('push.unsupported'));
      return;
    }
    try {
      const res = await client.api('GET', '/push/vapid-public-key');
      key = keyBytes(String(res?.public_key ?? ''));
      if (!key.length) throw new Error('no key');
    } catch (e) {
      // The push routes are an optional part of the server (and absent from older ones).
      say(e?.status === 404 ? t('push.unavailable') : t('push.failed', { reason: serverText(e) }));
      return;
    }
    registration = await registerServiceWorker();
    if (!registration) {
      say(t('push.unsupported'));
      return;
    }
    const sub = await registration.pushManager.getSubscription();
    toggle.checked = Boolean(sub) && Notification.permission === 'granted';
    toggle.disabled = false;
    say(Notification.permission === 'denied' ? t('push.denied') : toggle.checked ? t('push.on') : t('push.off'));
  }

  async function turnOn() {
    if ((await Notification.requestPermission()) !== 'granted') {
      toggle.checked = false;
      say(t('push.denied'));
      return;
    }
    const ready = await navigator.serviceWorker.ready;
    let sub = await ready.pushManager.getSubscription();
    // Subscribed with another key (the server's keys were replaced): that one cannot work.
    if (sub && !sameKey(sub.options.applicationServerKey, key)) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await ready.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const { endpoint, keys } = sub.toJSON();
    try {
      await client.api('POST', '/push/subscriptions', { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } });
    } catch (e) {
      // Not registered there: no subscription is kept here either.
      await sub.unsubscribe().catch(() => {});
      throw e;
    }
    say(t('push.on'));
  }

  async function turnOff() {
    const sub = await registration?.pushManager.getSubscription();
    if (sub) {
      try {
        await client.api('DELETE', '/push/subscriptions', { endpoint: sub.endpoint });
      } catch (e) {
        // Already gone there (a logout removed it, say): only this browser's copy is left.
        if (e?.status !== 404) throw e;
      }
      await sub.unsubscribe();
    }
    say(t('push.off'));
  }

  toggle.addEventListener('change', async () => {
    const on = toggle.checked;
    toggle.disabled = true;
    try {
      if (on) await turnOn();
      else await turnOff();
    } catch (e) {
      toggle.checked = !on;
      say(t('push.failed', { reason: serverText(e) }));
    } finally {
      toggle.disabled = false;
    }
  });
  check().catch((e) => say(t('push.failed', { reason: serverText(e) })));
  return section;
}
