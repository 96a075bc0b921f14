// DOM helpers. Everything user-supplied goes in through textContent or attribute values, never
// through HTML parsing: there is no innerHTML anywhere in the app.

import { t, lang, formatDate, timeOfDay } from '../i18n/i18n.js';

/**
 * Builds an element: `h('button.primary', {onclick, title: 'Send'}, 'Send')`.
 * Attributes starting with `on` become listeners; `dataset` and `style` take objects; `class`
 * adds classes; `false`/`null` values are skipped. Children: nodes, strings (as text), arrays.
 * @param {string} spec tag with optional `#id` and `.class` parts
 * @param {object} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(spec, attrs = {}, ...children) {
  const [, tag = 'div', rest = ''] = spec.match(/^([a-z0-9-]*)(.*)$/i) ?? [];
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[#.][^#.]+/g) ?? []) {
    if (part[0] === '#') el.id = part.slice(1);
    else el.classList.add(part.slice(1));
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
    else if (k === 'style' && typeof v === 'object') {
      for (const [prop, value] of Object.entries(v)) el.style.setProperty(prop.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), String(value));
    }
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Replaces an element's children and gives the keyboard focus back to the control that had it,
 * found again in the new children by its id or its `data-key`. For parts of the page drawn again
 * on other people's events (presence, a profile change): a plain `replace` would drop the focus
 * to the page's body under a keyboard user.
 */
export function redraw(el, ...children) {
  const focused = document.activeElement;
  const inside = focused instanceof HTMLElement && focused !== el && el.contains(focused);
  const selector = !inside ? null : focused.id ? `#${CSS.escape(focused.id)}` : focused.dataset.key ? `[data-key="${CSS.escape(focused.dataset.key)}"]` : null;
  replace(el, ...children);
  // A control kept across the redraw (a KeptList's entry put back) lost the focus all the same
  // when it left the page for a moment.
  if (inside && document.activeElement !== focused) {
    const again = focused.isConnected ? focused : selector ? el.querySelector(selector) : null;
    again?.focus({ preventScroll: true });
  }
  return el;
}

/**
 * The element the primary pointer is pressed on, from its press to its release, and what waits
 * for the release. A browser gives no click when the element pressed left the page before the
 * release, even to be put back at once (Blink and Gecko alike), so lists do not move an entry
 * under a press.
 */
const press = { target: null, waiting: new Set(), timer: 0 };

/** Runs what waited for the release, once. */
function released() {
  clearTimeout(press.timer);
  document.removeEventListener('click', afterClick, true);
  // A new press meanwhile (a double click): its own release runs them.
  if (press.target) return;
  const waiting = [...press.waiting];
  press.waiting.clear();
  waiting.forEach((run) => run());
}

function afterClick() {
  // After this click's handlers, which must still find the entry in its place.
  setTimeout(released);
}

document.addEventListener(
  'pointerdown',
  (e) => {
    if (e.isPrimary && e.button === 0) press.target = e.target;
  },
  true,
);
document.addEventListener(
  'pointerup',
  (e) => {
    if (!e.isPrimary || !press.target) return;
    press.target = null;
    if (!press.waiting.size) return;
    // The click follows a mouse's release at once, a finger's later: the order waits for it,
    // or a moment when none comes (a press that ended off the entry).
    document.addEventListener('click', afterClick, { capture: true, once: true });
    press.timer = setTimeout(released, 400);
  },
  true,
);
// A press that ends without a release (scrolled away by touch, a drag, a context menu, the
// window left) lets the list take its order at once: no click follows.
const abandoned = () => {
  if (!press.target) return;
  press.target = null;
  setTimeout(released);
};
for (const type of ['pointercancel', 'dragstart', 'contextmenu']) document.addEventListener(type, abandoned, true);
window.addEventListener('blur', abandoned);

/**
 * A list whose entries are kept per key across redraws and brought up to date in place. Lists
 * that redraw on every message or presence change need this: an entry built anew takes the
 * element a user is focusing or clicking away from under them (a click whose press and release
 * fall on two versions of an entry is no click). Entries change places only when no press is
 * held on the list: a move takes the entry out of the page for a moment, and a press on it, or
 * on an entry moved around it, would be no click either; the order follows at the release.
 */
export class KeptList {
  /** @param {HTMLElement} el the list element (`ul`, `ol`) */
  constructor(el) {
    this.el = el;
    /** key → the record's entry */
    this.entries = new Map();
    /** The entries in the order last shown. */
    this.order = [];
    this.arrangeLater = () => this.arrange();
  }

  /**
   * Shows `records` in order, one entry each, and nothing else: `make(record)` builds a record's
   * entry the first time, `update(entry, record)` brings it up to date every time.
   */
  show(records, key, make, update) {
    const keys = records.map(key);
    const keep = new Set(keys);
    for (const k of this.entries.keys()) if (!keep.has(k)) this.entries.delete(k);
    this.order = records.map((r, i) => {
      let entry = this.entries.get(keys[i]);
      if (!entry) {
        entry = make(r);
        this.entries.set(keys[i], entry);
      }
      update(entry, r);
      return entry;
    });
    if (press.target && this.el.contains(press.target)) {
      // Under a press: entries gone are taken away and new ones added at the end, nothing moves.
      const shown = new Set(this.order);
      for (const child of [...this.el.children]) if (!shown.has(child)) child.remove();
      for (const entry of this.order) if (entry.parentNode !== this.el) this.el.append(entry);
      press.waiting.add(this.arrangeLater);
    } else {
      this.arrange();
    }
    return this.el;
  }

  /** Puts the entries in the order last shown. */
  arrange() {
    // Moving an entry (the room with the newest message goes to the top) takes it out of the
    // page for a moment, and the keyboard focus with it: given back.
    const focused = document.activeElement;
    this.order.forEach((entry, i) => {
      if (this.el.children[i] !== entry) this.el.insertBefore(entry, this.el.children[i] ?? null);
    });
    while (this.el.children.length > this.order.length) this.el.lastElementChild.remove();
    if (focused !== document.activeElement && focused?.isConnected) focused.focus({ preventScroll: true });
  }
}

/**
 * Marks a list entry's button as the one open (`aria-current`) or not (`active` must be given: a
 * missing one would flip the class), and as having unread messages or not (left as it is when
 * `unread` is not given).
 */
export function markEntry(button, { active, unread }) {
  button.classList.toggle('active', active);
  if (unread !== undefined) button.classList.toggle('unread', unread);
  if (active) button.setAttribute('aria-current', 'true');
  else button.removeAttribute('aria-current');
}

/** 'HH:MM' today, else a short date. */
export function shortTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return timeOfDay(d);
  const days = (now - d) / 86400000;
  if (days < 6) return formatDate(d, { weekday: 'short' });
  return formatDate(d, { day: 'numeric', month: 'short' });
}

/** A day heading: 'Today', 'Yesterday' or a date. */
export function dayLabel(iso) {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return t('date.today');
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return t('date.yesterday');
  return formatDate(d, { weekday: 'long', day: 'numeric', month: 'long', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

/** 'last seen 5 min ago' and the like. */
export function lastSeen(iso) {
  if (!iso) return t('presence.offline');
  const mins = Math.round((Date.now() - new Date(iso)) / 60000);
  if (mins < 1) return t('presence.seen_now');
  if (mins < 60) return t('presence.seen_minutes', { count: mins });
  const hours = Math.round(mins / 60);
  if (hours < 24) return t('presence.seen_hours', { count: hours });
  return t('presence.seen_at', { when: shortTime(iso) });
}

const HUES = [210, 340, 150, 30, 270, 190, 0, 100, 300, 50];

/**
 * A round avatar: the user's picture (`avatar_url`) over their initials, coloured by the user id,
 * so a picture that cannot load (gone, or an outside address the page's CSP refuses) leaves the
 * initials; a presence dot when given.
 */
export function avatar(user, presence = undefined, size = '') {
  const name = user?.display_name || user?.username || '?';
  const initials = name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0]).join('').toUpperCase();
  let hash = 0;
  for (const ch of user?.id ?? name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const el = h(`span.avatar${size ? `.${size}` : ''}`, { style: { '--hue': HUES[hash % HUES.length] }, 'aria-hidden': 'true' }, initials || '?');
  if (user?.avatar_url) {
    const img = h('img.avatar-img', { src: user.avatar_url, alt: '', loading: 'lazy', decoding: 'async', draggable: 'false' });
    img.addEventListener('error', () => img.remove(), { once: true });
    el.append(img);
  }
  if (presence !== undefined) setPresenceDot(el, presence);
  return el;
}

/** Shows `presence` as the dot of an avatar made by `avatar` (added if it has none). */
export function setPresenceDot(avatarEl, presence) {
  const status = presence || 'offline';
  let dot = avatarEl.querySelector(':scope > .dot');
  if (!dot) dot = avatarEl.appendChild(h('span.dot'));
  dot.className = `dot ${status}`;
  dot.title = t(`presence.${status}`);
}

/**
 * Turns a search snippet (HTML-escaped text with <mark>…</mark>) into nodes without parsing
 * HTML: split on the two known tags, unescape the five entities, everything else stays text.
 */
export function snippetNodes(snippet) {
  const unescape = (s) => s.replace(/&(lt|gt|quot|#39|#x27|amp);/g, (_, e) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", amp: '&' })[e]);
  const out = [];
  let marked = false;
  for (const part of snippet.split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') marked = true;
    else if (part === '</mark>') marked = false;
    else if (part) out.push(marked ? h('mark', unescape(part)) : unescape(part));
  }
  return out;
}

/** A presence status as words ('online', 'away', …). */
export function statusText(status) {
  return t(`presence.${status}`);
}

/** The full date and time of a message, for its tooltip. */
export function fullDate(iso) {
  return formatDate(iso, { dateStyle: 'full', timeStyle: 'short' });
}

export { t, lang };

/** Shows a short message at the bottom of the screen. */
export function toast(text, kind = 'info') {
  const host = document.getElementById('toasts');
  if (!host) return;
  const el = h(`div.toast.${kind}`, { role: 'status' }, text);
  host.append(el);
  setTimeout(() => el.remove(), 4500);
}
