// The support widget: a chat button in the corner of someone else's page that opens a
// conversation with the site's staff. It lives in a shadow root, so the page's styles do not
// reach in and its own do not leak out; every text from people goes in through textContent.
// The visitor's session (a guest account the server creates) is kept in the page's localStorage
// under a key per plauder server, so a reload finds the conversation again. The visitor can
// attach a screenshot (picked with the button or pasted), which staff see in the inbox.

import { PlauderClient } from '../plauder-client.js';
import { fileSize, lang, setLang, t, timeOfDay } from '../i18n/i18n.js';
import { icon } from '../icons.js';
import { linkNodes } from '../links.js';
import { serverText as sharedServerText } from '../errors.js';

/** Typing is re-announced this often while the visitor types, ends after this pause, and staff
 * typing shows this long unless renewed (as in the chat app). */
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 6000;
const COLOR_SETTINGS = { color: '--pw-accent', textColor: '--pw-accent-text' };
/** Texts a tag can override; the rest comes from the catalogue of the widget's language. */
const defaults = () => ({
  title: t('widget.title'),
  greeting: t('widget.greeting'),
  buttonLabel: t('widget.button'),
  position: 'right',
});

/**
 * The server's error in the visitor's language: the shared texts (../errors.js), with the
 * widget's own words first for the codes and fields a visitor meets.
 */
const FIELD_TEXT = {
  name: () => t('widget.error.field_name'),
  email: () => t('widget.error.field_email'),
  body: () => t('widget.error.field_body'),
  token: () => t('widget.error.resume_link'),
};
const CODE_TEXT = {
  rate_limited: () => t('widget.error.rate_limited'),
  unavailable: () => t('widget.error.unavailable'),
  internal: () => t('widget.error.internal'),
  payload_too_large: () => t('widget.error.too_long'),
};
/** A refused upload, in the visitor's language. */
const UPLOAD_TEXT = {
  unsupported_media_type: (name) => t('upload.refused_type', { name }),
  payload_too_large: (name) => t('upload.too_large', { name }),
  rate_limited: (name) => t('upload.rate_limited', { name }),
  unavailable: (name) => t('upload.unavailable', { name }),
};
function uploadText(err, name) {
  return UPLOAD_TEXT[err?.code]?.(name) ?? t('upload.failed', { name, reason: err?.message || t('widget.error.internal') });
}
function serverText(err, codes = {}) {
  return sharedServerText(err, { codes: { ...CODE_TEXT, ...codes }, fields: FIELD_TEXT });
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

/**
 * A random id for this browser, kept beside the widget's session in the page's storage, so that
 * staff can block a browser that keeps opening chats (docs/protocol.md, support blocks). It says
 * nothing about the visitor and no other site sees it. Null where storage is disabled.
 */
function browserId(origin) {
  const key = `plauder.widget.browser:${origin}`;
  try {
    let id = localStorage.getItem(key);
    if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
      id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      localStorage.setItem(key, id);
    }
    return id;
  } catch {
    return null;
  }
}

/**
 * What staff see about where the chat started: the page (without its query and fragment, which
 * may carry tokens), the browser's language and time zone. The server adds the browser itself.
 * `browser_id` is for blocking only and never shown.
 */
function visitorContext(origin) {
  const context = { page_url: location.origin + location.pathname, language: navigator.language };
  const id = browserId(origin);
  if (id) context.browser_id = id;
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) context.time_zone = zone;
  } catch {
    // No time zone known: the inbox shows none.
  }
  if (!/^https?:/.test(context.page_url)) delete context.page_url;
  // The server takes at most 2,000 characters; a longer path would keep the chat from starting.
  else context.page_url = context.page_url.slice(0, 2000);
  return context;
}

/**
 * The token of a reply mail's link back into the conversation (`#plauder-resume=<token>` in the
 * page's address, docs/widget.md), taken out of the address bar and history at once so it is not
 * bookmarked or shared with the page.
 */
function takeResumeToken() {
  const m = /(?:^#|&)plauder-resume=([A-Za-z0-9_-]{16,128})(?:&|$)/.exec(location.hash);
  if (!m) return null;
  try {
    history.replaceState(history.state, '', location.pathname + location.search);
  } catch {
    // A sandboxed page may refuse; the token only resumes this visitor's own conversation.
  }
  return m[1];
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
  // What the visitor wrote and could not send because the conversation was closed meanwhile (its
  // close arrived while they typed, or was missed while offline and the send was refused): the
  // next conversation's composer starts with it rather than losing it.
  let unsent = '';
  const shown = new Map();
  /** Who streams answers here (the assistant), and the answers still being written. */
  const assistants = new Set();
  const streams = new Map();
  let unseen = 0;

  const badge = el('span', { class: 'badge', role: 'img', hidden: true });
  /** Shows `n` new messages on the button (none hides it). */
  const setBadge = (n) => {
    unseen = n;
    badge.textContent = String(n);
    badge.setAttribute('aria-label', t('widget.unread', { count: n }));
    badge.hidden = n === 0;
  };
  const launcher = el(
    'button',
    { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'plauder-panel', onclick: () => toggle() },
    icon('chat', 20),
    el('span', { class: 'launcher-label' }, opts.buttonLabel),
    badge,
  );
  const status = el('span', { class: 'status' });
  const closeBtn = el('button', { class: 'close', type: 'button', 'aria-label': t('widget.close'), onclick: () => toggle(false) }, icon('close', 20));
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
      setBadge(0);
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
        const fields = { name: name.value.trim(), context: visitorContext(origin) };
        if (email.value.trim()) fields.email = email.value.trim();
        const { room } = await client.openSupport(fields);
        await openConversation(room);
      } catch (err) {
        // Refused here means this visitor is blocked (docs/protocol.md, support blocks).
        error.textContent = serverText(err, { forbidden: () => t('widget.error.blocked') });
        submit.disabled = false;
      }
    }
    body.replaceChildren(form);
    if (!panel.hidden) name.focus();
  }

  // ---- the conversation ------------------------------------------------------------------

  const list = el('ol', { class: 'messages', 'aria-live': 'polite' });
  const handover = el('li', { class: 'handover' });
  // Focusable so that keyboard users can scroll it even when it holds nothing else to focus.
  const scroller = el('div', { class: 'scroller', tabindex: '0', role: 'log', 'aria-label': t('widget.conversation') }, el('p', { class: 'greeting bubble staff' }, opts.greeting), list);
  const input = el('textarea', { rows: 1, maxlength: 4000, 'aria-label': t('widget.message'), placeholder: t('widget.placeholder') });
  const sendBtn = el('button', { class: 'send primary', type: 'submit' }, t('widget.send'));
  const notice = el('p', { class: 'notice', role: 'status', hidden: true });
  const typingLine = el('p', { class: 'typing', 'aria-live': 'polite' });
  // A screenshot (or any picture) for staff: picked with the button or pasted into the message;
  // it uploads at once, with its progress and a cancel button, and goes with the next send.
  const shotInput = el('input', { type: 'file', accept: 'image/*', hidden: true, class: 'shot-input', 'aria-label': t('widget.screenshot') });
  const shotBtn = el('button', { class: 'attach', type: 'button', title: t('widget.screenshot'), 'aria-label': t('widget.screenshot'), onclick: () => shotInput.click() }, icon('image', 20));
  const tray = el('ul', { class: 'uploads', 'aria-label': t('upload.list'), hidden: true });
  const composer = el('form', { class: 'composer', onsubmit: (e) => send(e) }, shotBtn, shotInput, input, sendBtn);
  /** @type {{name: string, size: number, state: 'uploading'|'done', controller: AbortController, attachment: any, bar: ?HTMLProgressElement}[]} */
  let uploads = [];
  shotInput.addEventListener('change', () => {
    const files = [...(shotInput.files ?? [])];
    shotInput.value = '';
    for (const f of files) upload(f);
  });
  input.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (!files.length || e.clipboardData.types.includes('text/plain')) return;
    e.preventDefault();
    for (const f of files) upload(f);
  });
  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
    notice.classList.toggle('error', Boolean(text));
  }
  function upload(file) {
    say('');
    const item = { name: file.name || t('upload.unnamed'), size: file.size, state: 'uploading', controller: new AbortController(), attachment: null, bar: null };
    uploads.push(item);
    renderTray();
    client
      .upload(file, {
        name: item.name,
        signal: item.controller.signal,
        onProgress: (sent) => {
          if (item.bar) item.bar.value = item.size ? Math.min(100, Math.round((sent / item.size) * 100)) : 0;
        },
      })
      .then(
        (attachment) => {
          if (!uploads.includes(item)) return;
          item.state = 'done';
          item.attachment = attachment;
          renderTray();
        },
        (err) => {
          if (!uploads.includes(item)) return;
          uploads = uploads.filter((i) => i !== item);
          renderTray();
          if (err?.name !== 'AbortError') say(uploadText(err, item.name));
        },
      );
  }
  function dropUpload(item) {
    uploads = uploads.filter((i) => i !== item);
    item.controller.abort();
    renderTray();
    input.focus();
  }
  function renderTray() {
    tray.replaceChildren(
      ...uploads.map((item) => {
        item.bar = item.state === 'uploading' ? el('progress', { max: 100, value: 0, 'aria-label': t('upload.progress', { name: item.name }) }) : null;
        const label = item.state === 'uploading' ? t('upload.cancel', { name: item.name }) : t('upload.remove', { name: item.name });
        return el(
          'li',
          { class: `upload ${item.state}` },
          icon('image', 18),
          el('span', { class: 'att-text' }, el('span', { class: 'att-name' }, item.name), item.bar ?? el('span', { class: 'att-size' }, fileSize(item.size))),
          el('button', { class: 'remove', type: 'button', title: label, 'aria-label': label, onclick: () => dropUpload(item) }, icon('close', 16)),
        );
      }),
    );
    tray.hidden = uploads.length === 0;
  }
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) send(e);
  });
  // The visitor's typing reaches the inbox: announced at most every few seconds while typing,
  // ended after a pause, on sending and on leaving the field.
  let typingSentAt = 0;
  let typingIdle = null;
  const stopTyping = () => {
    clearTimeout(typingIdle);
    if (typingSentAt && roomId && client.state === 'open') client.typing(roomId, false);
    typingSentAt = 0;
  };
  input.addEventListener('input', () => {
    if (!roomId || client.state !== 'open') return;
    if (input.value.trim() && Date.now() - typingSentAt > TYPING_REPEAT_MS) {
      typingSentAt = Date.now();
      client.typing(roomId, true);
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  input.addEventListener('blur', stopTyping);
  // Staff typing in the inbox shows here until they stop, send, or go quiet.
  let staffTypingUntil = 0;
  const renderTyping = () => {
    const text = Date.now() < staffTypingUntil ? t('widget.typing') : '';
    if (typingLine.textContent !== text) typingLine.textContent = text;
  };
  setInterval(renderTyping, 1000);

  async function openConversation(room) {
    roomId = room.id;
    client.watchRoom(room.id, room.last_seq ?? 0);
    list.replaceChildren();
    shown.clear();
    streams.clear();
    recallAssistants();
    notice.hidden = true;
    composer.hidden = false;
    body.replaceChildren(scroller, typingLine, notice, tray, composer);
    if (unsent) {
      input.value = unsent;
      unsent = '';
    }
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
    // Closed while this browser was away: say so now rather than at the visitor's next send.
    if (room.support_status === 'closed') return closed();
    if (!panel.hidden) input.focus();
  }

  /**
   * On every `hello`: `support.session_closed` reaches only the sockets open at the close, and
   * `sync` brings back messages, not the close. So a conversation still shown as open asks the
   * room whether it is, once its socket hears the room: after a reconnect, and on the first
   * `hello` too, since a close between a page load's `GET /rooms` and that `hello` is in neither.
   */
  async function checkStillOpen() {
    const id = roomId;
    if (!id || composer.hidden) return;
    try {
      const room = await client.api('GET', `/rooms/${id}`);
      if (room.support_status !== 'closed') return;
    } catch (err) {
      if (err.code !== 'forbidden' && err.code !== 'not_found') return;
    }
    if (id === roomId && !composer.hidden) closed();
  }

  function show(m, live) {
    if (m.room_id !== roomId) return;
    const mine = m.sender_id === client.user?.id;
    const bot = assistants.has(m.sender_id);
    streams.delete(m.id);
    const item = shown.get(m.id) ?? el('li');
    item.className = `msg ${mine ? 'mine' : 'staff'}${bot ? ' assistant' : ''}${m.deleted ? ' deleted' : ''}`;
    item.dataset.id = m.id;
    item.removeAttribute('aria-busy');
    item.replaceChildren(
      ...[
        bot ? el('span', { class: 'who' }, t('widget.assistant')) : mine ? null : author(m.sender_id),
        m.deleted || m.body ? el('span', { class: 'bubble' }, m.deleted ? t('widget.removed') : linkNodes(m.body)) : null,
        m.deleted ? null : files(m.attachments),
        el('time', { datetime: m.created_at }, time(m.created_at)),
      ].filter(Boolean),
    );
    if (!shown.has(m.id)) {
      const after = [...list.children].find((li) => Number(li.dataset.seq) > m.seq);
      list.insertBefore(item, after ?? null);
    }
    item.dataset.seq = String(m.seq);
    shown.set(m.id, item);
    renderSeen();
    renderHandover();
    scroller.scrollTop = scroller.scrollHeight;
    if (live && !mine && !m.deleted) {
      if (panel.hidden) {
        setBadge(unseen + 1);
      } else markRead(m.seq);
    }
  }

  /** Staff who answered, by id: their user object (null if it cannot be read), fetched once. */
  const staffUsers = new Map();
  function staffUser(id) {
    if (!staffUsers.has(id)) staffUsers.set(id, client.api('GET', `/users/${id}`).catch(() => null));
    return staffUsers.get(id);
  }

  /**
   * Who wrote a staff message: their picture over their initials (the initials show while it
   * loads or if it cannot), and their name. Filled in once the user is known.
   */
  function author(id) {
    const line = el('span', { class: 'author' });
    staffUser(id).then((u) => {
      if (!u) return;
      const name = u.display_name || u.username;
      const initials = name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0]).join('').toUpperCase();
      const face = el('span', { class: 'face', 'aria-hidden': 'true' }, initials || '?');
      if (u.avatar_url) {
        const img = el('img', { src: new URL(u.avatar_url, origin).href, alt: '', loading: 'lazy' });
        img.addEventListener('error', () => img.remove(), { once: true });
        face.append(img);
      }
      line.replaceChildren(face, el('span', { class: 'name' }, name));
    });
    return line;
  }

  /**
   * A message's files: images as their thumbnail, linking to the full picture in a new tab;
   * other files as a link with name and size. The links are signed and work from any page.
   */
  function files(attachments) {
    if (!attachments?.length) return null;
    const abs = (url) => new URL(url, origin).href;
    return el(
      'ul',
      { class: 'attachments', 'aria-label': t('att.list', { count: attachments.length }) },
      attachments.map((a) => {
        const image = a.content_type.startsWith('image/') && a.thumbnail_url;
        const scale = Math.min(1, 200 / Math.max(a.width ?? 200, a.height ?? 200, 1));
        return el(
          'li',
          {},
          image
            ? el(
                'a',
                { class: 'att-image', href: abs(a.url), target: '_blank', rel: 'noopener', title: a.name, 'aria-label': t('att.open_image', { name: a.name }) },
                el('img', { src: abs(a.thumbnail_url), alt: a.name, width: Math.round((a.width ?? 200) * scale), height: Math.round((a.height ?? 200) * scale) }),
              )
            : el(
                'a',
                { class: 'att-file', href: abs(a.url), download: a.name, title: t('att.download', { name: a.name }) },
                icon('file', 18),
                el('span', { class: 'att-text' }, el('span', { class: 'att-name' }, a.name), el('span', { class: 'att-size' }, fileSize(a.size))),
              ),
        );
      }),
    );
  }

  async function send(e) {
    e.preventDefault();
    const text = input.value;
    if (!roomId) return;
    if (uploads.some((i) => i.state === 'uploading')) {
      say(t('upload.wait'));
      return;
    }
    const sending = uploads.filter((i) => i.state === 'done');
    if (!text.trim() && !sending.length) return;
    input.value = '';
    uploads = [];
    renderTray();
    say('');
    stopTyping();
    try {
      const m = await client.send(roomId, text.trim() ? text : '', { attachments: sending.map((i) => i.attachment) });
      show(m, false);
    } catch (err) {
      if (err.code === 'forbidden') {
        // Closed meanwhile: the text goes with the visitor to a new conversation.
        input.value = text;
        closed();
      } else {
        // Nothing is lost: the text and the files are back for another try.
        input.value = text;
        uploads = [...sending, ...uploads];
        renderTray();
        say(serverText(err));
      }
    }
  }

  function markRead(seq) {
    const last = seq ?? Math.max(0, ...[...shown.values()].map((li) => Number(li.dataset.seq) || 0));
    if (roomId && last > 0 && client.state === 'open') client.markRead(roomId, last).catch(() => {});
  }

  /** The staff closed the conversation: it stays readable; a new one can start. */
  function closed() {
    if (input.value.trim()) unsent = input.value;
    input.value = '';
    // The files picked for this chat belong to its guest: a next conversation's sends could not
    // take them (every send refused while they sat in the hidden tray).
    for (const item of uploads) item.controller.abort();
    uploads = [];
    renderTray();
    composer.hidden = true;
    notice.classList.remove('error');
    notice.replaceChildren(
      `${t('widget.closed')} `,
      unsent ? `${t('widget.unsent_kept')} ` : '',
      el('button', { class: 'link', type: 'button', onclick: () => client.logout().then(() => showStart()) }, t('widget.start_new')),
    );
    notice.hidden = false;
  }

  // The assistant's answers: streamed in as they are written (`message.delta`), then replaced by
  // the message. Whoever streams is the assistant; the widget remembers it for this conversation,
  // labels its messages and, under its latest one while no person has written since, says that a
  // person will answer.
  const assistantKey = () => `plauder-widget-assistant:${roomId}`;
  function learnAssistant(id) {
    if (assistants.has(id)) return;
    assistants.add(id);
    try {
      sessionStorage.setItem(assistantKey(), JSON.stringify([...assistants]));
    } catch {
      // Storage may be off; the label then lasts until the page reloads.
    }
  }
  function recallAssistants() {
    assistants.clear();
    try {
      for (const id of JSON.parse(sessionStorage.getItem(assistantKey()) ?? '[]')) assistants.add(id);
    } catch {
      // Nothing remembered.
    }
  }
  function renderHandover() {
    const items = [...list.querySelectorAll('li.msg')];
    const last = items.filter((li) => !li.classList.contains('mine')).pop();
    if (last?.classList.contains('assistant') && !last.hasAttribute('aria-busy')) {
      handover.textContent = t('widget.handover');
      last.after(handover);
    } else handover.remove();
  }
  client.addEventListener('message.delta', (e) => {
    const { room_id, message_id: id, sender_id, index, delta, aborted } = e.detail;
    if (room_id !== roomId || (shown.has(id) && !streams.has(id))) return;
    learnAssistant(sender_id);
    const s = streams.get(id);
    if (aborted) {
      streams.delete(id);
      shown.get(id)?.remove();
      shown.delete(id);
      renderHandover();
      return;
    }
    if (index === 0 && !s) {
      const item = el('li', { class: 'msg staff assistant', 'aria-busy': 'true' }, el('span', { class: 'who' }, t('widget.assistant')), el('span', { class: 'bubble' }, delta));
      item.dataset.id = id;
      item.dataset.seq = String(Number.MAX_SAFE_INTEGER);
      list.append(item);
      shown.set(id, item);
      streams.set(id, { text: delta, next: 1 });
    } else if (s && s.next === index) {
      s.text += delta;
      s.next += 1;
      shown.get(id).querySelector('.bubble').textContent = s.text;
    } else return;
    staffTypingUntil = 0;
    renderTyping();
    renderHandover();
    scroller.scrollTop = scroller.scrollHeight;
  });

  client.addEventListener('message', (e) => {
    if (e.detail.message.sender_id !== client.user?.id) staffTypingUntil = 0;
    show(e.detail.message, true);
    renderTyping();
  });
  // Staff marked the conversation read: "seen" under the visitor's newest message they read.
  let staffReadSeq = 0;
  function renderSeen() {
    for (const old of list.querySelectorAll('.seen-mark')) old.remove();
    const read = [...list.querySelectorAll('.msg.mine:not(.deleted)')].filter((li) => Number(li.dataset.seq) <= staffReadSeq).pop();
    if (read) read.append(el('span', { class: 'seen-mark' }, t('widget.seen')));
  }
  client.addEventListener('read', (e) => {
    const { room_id, user_id, seq } = e.detail;
    if (room_id !== roomId || user_id === client.user?.id || seq <= staffReadSeq) return;
    staffReadSeq = seq;
    renderSeen();
  });
  client.addEventListener('typing', (e) => {
    const { room_id, user_id, active } = e.detail;
    if (room_id !== roomId || user_id === client.user?.id) return;
    staffTypingUntil = active ? Date.now() + TYPING_SHOWN_MS : 0;
    renderTyping();
  });
  client.addEventListener('support.session_closed', (e) => {
    if (e.detail.room_id === roomId) closed();
  });
  client.addEventListener('hello', () => checkStillOpen());
  client.addEventListener('state', (e) => {
    const s = e.detail.state;
    status.textContent = s === 'open' ? t('widget.online') : s === 'reconnecting' || s === 'connecting' ? t('widget.connecting') : '';
  });
  client.addEventListener('signedout', (e) => {
    if (e.detail.reason !== 'logout') showStart(t('widget.ended'));
  });

  // ---- start-up: resume the visitor's conversation, or offer to start one ------------------

  const resumeToken = takeResumeToken();
  (async () => {
    if (resumeToken) {
      // A mail's link: this browser takes over the visitor's conversation (a new login of the
      // session's guest), and the panel opens on it.
      try {
        const { room } = await client.resumeSupport(resumeToken);
        await openConversation(room);
      } catch (err) {
        showStart(serverText(err));
      }
      toggle(true);
      return;
    }
    if (client.session?.user?.role !== 'guest') return showStart();
    try {
      const { rooms } = await client.api('GET', '/rooms');
      const room = rooms.find((r) => r.kind === 'support');
      if (room) {
        await openConversation(room);
        if (panel.hidden && room.unread_count > 0) {
          setBadge(room.unread_count);
        }
        return;
      }
    } catch {
      // An ended session has already shown the form (signedout); an outage shows it too.
    }
    if (!roomId) showStart();
  })();
}
