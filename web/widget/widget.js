// The support widget: a chat button in the corner of someone else's page that opens a
// conversation with the site's staff. It lives in a shadow root, so the page's styles do not
// reach in and its own do not leak out; every text from people goes in through textContent.
// The visitor's session (a guest account the server creates) is kept in the page's localStorage
// under a key per plauder server, so a reload finds the conversation again.

import { PlauderClient } from '../plauder-client.js';
import { lang, setLang, t, timeOfDay } from '../i18n/i18n.js';

const COLOR_SETTINGS = { color: '--pw-accent', textColor: '--pw-accent-text' };
/** Texts a tag can override; the rest comes from the catalogue of the widget's language. */
const defaults = () => ({
  title: t('widget.title'),
  greeting: t('widget.greeting'),
  buttonLabel: t('widget.button'),
  position: 'right',
});

/**
 * The server's error in the visitor's language: the codes and fields the widget can meet have
 * catalogue texts (the server words its messages in English); anything else shows the server's
 * own message.
 */
const FIELD_TEXT = {
  name: () => t('widget.error.field_name'),
  email: () => t('widget.error.field_email'),
  body: () => t('widget.error.field_body'),
};
const CODE_TEXT = {
  rate_limited: () => t('widget.error.rate_limited'),
  unavailable: () => t('widget.error.unavailable'),
  internal: () => t('widget.error.internal'),
  payload_too_large: () => t('widget.error.too_long'),
};
function serverText(err) {
  const fields = Object.entries(err?.details?.fields ?? {});
  if (err?.code === 'validation_failed' && fields.length) {
    return fields.map(([f, message]) => FIELD_TEXT[f]?.() ?? String(message)).join(' ');
  }
  return CODE_TEXT[err?.code]?.() ?? (err?.message || t('widget.error.start'));
}

/** Builds an element: children are nodes or strings (text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

function time(iso) {
  return iso ? timeOfDay(iso) : '';
}

/**
 * Adds the widget to the page.
 * @param {{origin: string, settings: Record<string, string>}} options the plauder server's origin
 *   and the script tag's data- attributes (camelCased)
 */
export function mount({ origin, settings }) {
  // data-lang picks the catalogue; without it the visitor's browser languages do.
  setLang(settings.lang || lang());
  const opts = { ...defaults(), ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== '')) };
  const host = el('div', { 'data-plauder-widget': '' });
  host.setAttribute('lang', lang());
  const root = host.attachShadow({ mode: 'open' });
  for (const [name, prop] of Object.entries(COLOR_SETTINGS)) {
    if (opts[name] && CSS.supports('color', opts[name])) host.style.setProperty(prop, opts[name]);
  }
  const stylesheet = el('link', { rel: 'stylesheet', href: new URL('./widget.css', import.meta.url).href });
  root.append(stylesheet);

  const client = new PlauderClient({ baseUrl: origin, storageKey: `plauder.widget:${origin}` });
  /** @type {?string} */
  let roomId = null;
  const shown = new Map();
  let unseen = 0;

  const badge = el('span', { class: 'badge', hidden: true, 'aria-label': t('widget.new_messages') });
  const launcher = el(
    'button',
    { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'plauder-panel', onclick: () => toggle() },
    el('span', { class: 'launcher-icon', 'aria-hidden': 'true' }),
    el('span', { class: 'launcher-label' }, opts.buttonLabel),
    badge,
  );
  const status = el('span', { class: 'status' });
  const closeBtn = el('button', { class: 'close', type: 'button', 'aria-label': t('widget.close'), onclick: () => toggle(false) }, '×');
  const body = el('div', { class: 'body' });
  const panel = el(
    'section',
    { class: 'panel', id: 'plauder-panel', role: 'dialog', 'aria-label': opts.title, hidden: true },
    el('header', { class: 'head' }, el('div', { class: 'head-text' }, el('strong', {}, opts.title), status), closeBtn),
    body,
  );
  // Hidden until its stylesheet is in: an unstyled button must not flash on the host page.
  const frame = el('div', { class: `frame ${opts.position === 'left' ? 'left' : 'right'}`, hidden: true }, panel, launcher);
  const reveal = () => frame.removeAttribute('hidden');
  stylesheet.addEventListener('load', reveal, { once: true });
  stylesheet.addEventListener('error', reveal, { once: true });
  root.append(frame);
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      toggle(false);
      launcher.focus();
    }
  });
  document.body.append(host);

  function toggle(open = panel.hidden) {
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      unseen = 0;
      badge.hidden = true;
      (root.querySelector('.panel input, .panel textarea') ?? closeBtn).focus();
      markRead();
    }
  }

  // ---- the start form --------------------------------------------------------------------

  function showStart(notice = '') {
    roomId = null;
    shown.clear();
    status.textContent = '';
    const name = el('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'name' });
    const email = el('input', { name: 'email', type: 'email', autocomplete: 'email' });
    const error = el('p', { class: 'error', role: 'alert' }, notice);
    const submit = el('button', { class: 'primary', type: 'submit' }, t('widget.start'));
    const form = el(
      'form',
      { class: 'start', onsubmit: (e) => start(e) },
      el('p', { class: 'greeting' }, opts.greeting),
      el('label', {}, el('span', {}, t('widget.name')), name),
      el('label', {}, el('span', {}, t('widget.email')), email),
      error,
      submit,
    );
    async function start(e) {
      e.preventDefault();
      error.textContent = '';
      submit.disabled = true;
      try {
        const fields = { name: name.value.trim() };
        if (email.value.trim()) fields.email = email.value.trim();
        const { room } = await client.openSupport(fields);
        await openConversation(room);
      } catch (err) {
        error.textContent = serverText(err);
        submit.disabled = false;
      }
    }
    body.replaceChildren(form);
    if (!panel.hidden) name.focus();
  }

  // ---- the conversation ------------------------------------------------------------------

  const list = el('ol', { class: 'messages', 'aria-live': 'polite' });
  const scroller = el('div', { class: 'scroller' }, el('p', { class: 'greeting bubble staff' }, opts.greeting), list);
  const input = el('textarea', { rows: 1, maxlength: 4000, 'aria-label': t('widget.message'), placeholder: t('widget.placeholder') });
  const sendBtn = el('button', { class: 'send primary', type: 'submit' }, t('widget.send'));
  const notice = el('p', { class: 'notice', role: 'status', hidden: true });
  const composer = el('form', { class: 'composer', onsubmit: (e) => send(e) }, input, sendBtn);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) send(e);
  });

  async function openConversation(room) {
    roomId = room.id;
    client.watchRoom(room.id, room.last_seq ?? 0);
    list.replaceChildren();
    shown.clear();
    notice.hidden = true;
    composer.hidden = false;
    body.replaceChildren(scroller, notice, composer);
    client.connect();
    try {
      const { messages } = await client.api('GET', `/rooms/${room.id}/messages?limit=100`);
      for (const m of messages.reverse()) {
        client.accept(m);
        show(m, false);
      }
    } catch (err) {
      if (err.code === 'forbidden' || err.code === 'not_found') return closed();
    }
    if (!panel.hidden) input.focus();
  }

  function show(m, live) {
    if (m.room_id !== roomId) return;
    const mine = m.sender_id === client.user?.id;
    const item = shown.get(m.id) ?? el('li');
    item.className = `msg ${mine ? 'mine' : 'staff'}${m.deleted ? ' deleted' : ''}`;
    item.dataset.id = m.id;
    item.replaceChildren(
      el('span', { class: 'bubble' }, m.deleted ? t('widget.removed') : m.body),
      el('time', { datetime: m.created_at }, time(m.created_at)),
    );
    if (!shown.has(m.id)) {
      const after = [...list.children].find((li) => Number(li.dataset.seq) > m.seq);
      list.insertBefore(item, after ?? null);
    }
    item.dataset.seq = String(m.seq);
    shown.set(m.id, item);
    scroller.scrollTop = scroller.scrollHeight;
    if (live && !mine && !m.deleted) {
      if (panel.hidden) {
        unseen += 1;
        badge.textContent = String(unseen);
        badge.hidden = false;
      } else markRead(m.seq);
    }
  }

  async function send(e) {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || !roomId) return;
    input.value = '';
    try {
      const m = await client.send(roomId, text);
      show(m, false);
    } catch (err) {
      if (err.code === 'forbidden') closed();
      else {
        input.value = text;
        notice.textContent = serverText(err);
        notice.hidden = false;
      }
    }
  }

  function markRead(seq) {
    const last = seq ?? Math.max(0, ...[...shown.values()].map((li) => Number(li.dataset.seq) || 0));
    if (roomId && last > 0 && client.state === 'open') client.markRead(roomId, last).catch(() => {});
  }

  /** The staff closed the conversation: it stays readable; a new one can start. */
  function closed() {
    composer.hidden = true;
    notice.replaceChildren(
      `${t('widget.closed')} `,
      el('button', { class: 'link', type: 'button', onclick: () => client.logout().then(() => showStart()) }, t('widget.start_new')),
    );
    notice.hidden = false;
  }

  client.addEventListener('message', (e) => show(e.detail.message, true));
  client.addEventListener('support.session_closed', (e) => {
    if (e.detail.room_id === roomId) closed();
  });
  client.addEventListener('state', (e) => {
    const s = e.detail.state;
    status.textContent = s === 'open' ? t('widget.online') : s === 'reconnecting' || s === 'connecting' ? t('widget.connecting') : '';
  });
  client.addEventListener('signedout', (e) => {
    if (e.detail.reason !== 'logout') showStart(t('widget.ended'));
  });

  // ---- start-up: resume the visitor's conversation, or offer to start one ------------------

  (async () => {
    if (client.session?.user?.role !== 'guest') return showStart();
    try {
      const { rooms } = await client.api('GET', '/rooms');
      const room = rooms.find((r) => r.kind === 'support');
      if (room) return openConversation(room);
    } catch {
      // An ended session has already shown the form (signedout); an outage shows it too.
    }
    if (!roomId) showStart();
  })();
}
