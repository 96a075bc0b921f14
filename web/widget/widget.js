// The support widget: a chat button in the corner of someone else's page that opens a
// conversation with the site's staff. It lives in a shadow root, so the page's styles do not
// reach in and its own do not leak out; every text from people goes in through textContent.
// The visitor's session (a guest account the server creates) is kept in the page's localStorage
// under a key per plauder server, so a reload finds the conversation again.

import { PlauderClient } from '../plauder-client.js';

const COLOR_SETTINGS = { color: '--pw-accent', textColor: '--pw-accent-text' };
const DEFAULTS = {
  title: 'Chat with us',
  greeting: 'Hi! How can we help? We usually answer within a few minutes.',
  buttonLabel: 'Chat with us',
  position: 'right',
};

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
  return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
}

/**
 * Adds the widget to the page.
 * @param {{origin: string, settings: Record<string, string>}} options the plauder server's origin
 *   and the script tag's data- attributes (camelCased)
 */
export function mount({ origin, settings }) {
  const opts = { ...DEFAULTS, ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== '')) };
  const host = el('div', { 'data-plauder-widget': '' });
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

  const badge = el('span', { class: 'badge', hidden: true, 'aria-label': 'new messages' });
  const launcher = el(
    'button',
    { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'plauder-panel', onclick: () => toggle() },
    el('span', { class: 'launcher-icon', 'aria-hidden': 'true' }),
    el('span', { class: 'launcher-label' }, opts.buttonLabel),
    badge,
  );
  const status = el('span', { class: 'status' });
  const closeBtn = el('button', { class: 'close', type: 'button', 'aria-label': 'Close chat', onclick: () => toggle(false) }, '×');
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
    const submit = el('button', { class: 'primary', type: 'submit' }, 'Start chat');
    const form = el(
      'form',
      { class: 'start', onsubmit: (e) => start(e) },
      el('p', { class: 'greeting' }, opts.greeting),
      el('label', {}, el('span', {}, 'Your name'), name),
      el('label', {}, el('span', {}, 'Email (optional, for a reply later)'), email),
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
        const fields = err.details?.fields ?? {};
        error.textContent = Object.values(fields).map(String).join(' ') || err.message || 'Could not start the chat.';
        submit.disabled = false;
      }
    }
    body.replaceChildren(form);
    if (!panel.hidden) name.focus();
  }

  // ---- the conversation ------------------------------------------------------------------

  const list = el('ol', { class: 'messages', 'aria-live': 'polite' });
  const scroller = el('div', { class: 'scroller' }, el('p', { class: 'greeting bubble staff' }, opts.greeting), list);
  const input = el('textarea', { rows: 1, maxlength: 4000, 'aria-label': 'Your message', placeholder: 'Write a message…' });
  const sendBtn = el('button', { class: 'send primary', type: 'submit' }, 'Send');
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
      el('span', { class: 'bubble' }, m.deleted ? 'Message removed' : m.body),
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
        notice.textContent = err.message;
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
      'This conversation was closed. ',
      el('button', { class: 'link', type: 'button', onclick: () => client.logout().then(() => showStart()) }, 'Start a new one'),
    );
    notice.hidden = false;
  }

  client.addEventListener('message', (e) => show(e.detail.message, true));
  client.addEventListener('support.session_closed', (e) => {
    if (e.detail.room_id === roomId) closed();
  });
  client.addEventListener('state', (e) => {
    const s = e.detail.state;
    status.textContent = s === 'open' ? 'online' : s === 'reconnecting' || s === 'connecting' ? 'connecting…' : '';
  });
  client.addEventListener('signedout', (e) => {
    if (e.detail.reason !== 'logout') showStart('Your chat session has ended. You can start a new one.');
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
