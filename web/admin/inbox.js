// The support inbox: the visitors' conversations (GET /admin/support/sessions) with unread
// counts and last messages, kept live by the WebSocket (`support.session_created`, every
// message of a support room, `support.session_closed`), and one conversation open to read,
// answer, remove messages from and close. Files the visitor sent (a screenshot, say) show as in
// the chat app: images inline, opening full size; other files as a download chip. Staff attach
// files to their answers as in the chat app's composer.

import { h, replace, shortTime, avatar, t, toast, KeptList, markEntry } from '../app/dom.js';
import { formatDate, lang, number } from '../i18n/i18n.js';
import { linkNodes } from '../links.js';
import { chime } from '../app/notify.js';
import { Uploads, attachmentList, fileInput, linkExpiring, quoteText } from '../app/attachments.js';
import { icon } from '../icons.js';
import { browserName } from '../useragent.js';
import { blockDialog, blocksDialog, cannedPicker, manageDialog, transcriptDialog } from './supporttools.js';

/** Typing is re-announced this often while staff type, ends after this pause, and the visitor's
 * typing shows this long unless renewed (as in the chat app). */
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 6000;
const SOUND_KEY = 'plauder.inbox.sound';
import { attempt, dateTime, debounce, heading, userLabel } from './common.js';


/** The visitor's context (docs/protocol.md, support sessions) as a definition list. */
function contextBlock(context) {
  const rows = [];
  if (context?.page_url) {
    const link = h('a', { href: context.page_url, target: '_blank', rel: 'noopener noreferrer' }, context.page_url);
    rows.push([t('inbox.ctx_page'), link]);
  }
  if (context?.user_agent) rows.push([t('inbox.ctx_browser'), h('span', { title: context.user_agent }, browserName(context.user_agent))]);
  if (context?.language) {
    let name = context.language;
    try {
      name = new Intl.DisplayNames([lang()], { type: 'language' }).of(context.language) ?? name;
    } catch {
      // Not a tag Intl knows: shown as given.
    }
    rows.push([t('inbox.ctx_language'), name]);
  }
  if (context?.time_zone) {
    let local = '';
    try {
      local = formatDate(new Date(), { timeZone: context.time_zone, hour: '2-digit', minute: '2-digit' });
    } catch {
      // An unknown zone: only its name.
    }
    rows.push([t('inbox.ctx_time'), local ? t('inbox.ctx_time_value', { time: local, zone: context.time_zone }) : context.time_zone]);
  }
  if (!rows.length) return null;
  return h('dl.visitor-context#visitor-context', { 'aria-label': t('inbox.context') }, rows.map(([k, v]) => h('div', h('dt', k), h('dd', v))));
}

export class InboxView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.container = container;
    this.stopped = new AbortController();
    this.status = 'open';
    /** Sessions as last loaded, by room id (events name the room). */
    this.byRoom = new Map();
    /** The open conversation: {session, list, shown: Map<id, li>} or null. */
    this.open = null;
    this.names = new Map();
    /** The chat a `#support=<id>` link asks for, until the lists have been searched for it. */
    this.wanted = null;
    this.listed = false;

    const tab = (status, label) =>
      h('button.tab', { type: 'button', role: 'tab', 'aria-selected': String(status === this.status), dataset: { status }, onclick: () => this.setStatus(status) }, label);
    this.tabs = h('div.tabs', { role: 'tablist', 'aria-label': t('inbox.status') }, tab('open', t('inbox.open')), tab('closed', t('inbox.closed')));
    this.list = h('ul.sessions#session-list', { 'aria-label': t('inbox.chats') });
    this.pane = h('div.conversation#conversation', h('p.muted.empty-chat', t('inbox.pick')));
    // Opt-in alert for visitors' messages the staff member is not looking at: a chime, and a
    // desktop notification where the browser allows them. Remembered per browser.
    this.soundBtn = h('button.chip#inbox-sound', { type: 'button', 'aria-pressed': String(this.soundOn()), onclick: () => this.toggleSound() }, t('inbox.sound'));
    const cannedBtn = h('button.chip#canned-open', { type: 'button', onclick: () => manageDialog(ctx) }, t('canned.manage'));
    const blocksBtn = h('button.chip#blocks-open', { type: 'button', onclick: () => blocksDialog(ctx) }, t('block.list_title'));
    replace(container, heading(t('admin.nav.support'), cannedBtn, blocksBtn, this.soundBtn, this.tabs), h('div.inbox', h('div.inbox-list', this.list), this.pane));

    const signal = AbortSignal.any([ctx.signal, this.stopped.signal]);
    const reload = debounce(() => this.load(), 250);
    this.reload = reload;
    // Rooms of messages that came while the list did not know them yet (see load).
    this.unplaced = new Set();
    const on = (type, fn) => ctx.client.addEventListener(type, (e) => fn(e.detail), { signal });
    on('support.session_created', reload);
    on('support.session_closed', (d) => {
      reload();
      if (this.open && d.room_id === this.open.session.room.id) this.markClosed();
    });
    // A new chat announces itself (support.session_created) before its messages, so a message of
    // a room the list does not know is from one of the staff member's own rooms, or of a chat
    // whose reload is still on its way: remembered, and load() tells which.
    on('message', ({ message }) => {
      if (this.byRoom.has(message.room_id)) reload();
      else this.unplaced.add(message.room_id);
      const open = this.open && message.room_id === this.open.session.room.id;
      if (open) {
        this.showMessage(message);
        this.markRead();
      }
      if (this.byRoom.has(message.room_id) && message.sender_id === this.byRoom.get(message.room_id).user.id) {
        if (open) this.visitorTyping(0);
        if (!open || document.hidden) this.alert(message);
      }
    });
    on('typing', ({ room_id, user_id, active }) => {
      if (this.open && room_id === this.open.session.room.id && user_id === this.open.session.user.id) this.visitorTyping(active ? Date.now() + TYPING_SHOWN_MS : 0);
    });
    // The visitor's typing expires without an event when their connection drops.
    const tick = setInterval(() => this.visitorTyping(), 1000);
    document.addEventListener('visibilitychange', () => this.markRead(), { signal });
    signal.addEventListener('abort', () => clearInterval(tick));
    // After a reconnect, what the list missed is in the database.
    on('hello', ({ reconnect }) => reconnect && reload());
    this.load();
  }

  /** Opens the support chat with this id (a session's, or its room's) once the list has it. */
  showSession(id) {
    this.wanted = id;
    this.findWanted();
  }

  findWanted() {
    const id = this.wanted;
    if (!id || !this.listed) return;
    const s = [...this.byRoom.values()].find((x) => x.id === id || x.room.id === id);
    if (s) {
      this.wanted = null;
      this.openSession(s);
    } else if (this.status === 'open') {
      // A closed chat: the other tab lists it.
      this.listed = false;
      this.setStatus('closed');
    } else {
      this.wanted = null;
      toast(t('inbox.link_unknown'), 'error');
    }
  }

  setStatus(status) {
    this.status = status;
    for (const t of this.tabs.children) t.setAttribute('aria-selected', String(t.dataset.status === status));
    this.load();
  }

  async load() {
    const res = await attempt(() => this.ctx.client.api('GET', `/admin/support/sessions?status=${this.status}&limit=100`));
    if (!res || this.stopped.signal.aborted) return;
    this.byRoom = new Map(res.sessions.map((s) => [s.room.id, s]));
    this.listed = true;
    // A new chat's first message can arrive after its announcement but before this answer: the
    // answer may predate it, so a chat it lists that had such a message is loaded once more.
    if ([...this.unplaced].some((room) => this.byRoom.has(room))) this.reload();
    this.unplaced.clear();
    if (!res.sessions.length) {
      replace(this.list, h('li.empty-list.muted', this.status === 'open' ? t('inbox.none_open') : t('inbox.none_closed')));
      this.findWanted();
      return;
    }
    // Entries are kept per chat (KeptList), as in the chat app's room list: this runs on every
    // message of a listed chat.
    this.entries ??= new KeptList(this.list);
    this.entries.show(
      res.sessions,
      (s) => s.id,
      // Opens the chat as the list last had it.
      (s) => h('li', h('button.room.session', { type: 'button', dataset: { sessionId: s.id, roomId: s.room.id }, onclick: () => this.openSession(this.byRoom.get(s.room.id) ?? s) })),
      (li, s) => this.item(li.firstChild, s),
    );
    this.findWanted();
  }

  /** Brings a chat's entry in the list up to date. */
  item(button, s) {
    const last = s.last_message;
    const preview = last ? (last.deleted ? t('inbox.removed') : quoteText(last)) : t('inbox.no_messages');
    markEntry(button, { active: this.open?.session.id === s.id, unread: s.unread_count > 0 });
    replace(
      button,
      avatar(s.user),
      h(
        'span.room-text',
        h('span.room-top', h('span.room-name', s.user.display_name || s.user.username), h('span.room-time', shortTime(last?.created_at ?? s.created_at))),
        h('span.room-bottom', h('span.room-preview', preview), s.unread_count > 0 ? h('span.badge.unread-badge', { role: 'img', 'aria-label': t('inbox.unanswered', { count: s.unread_count }) }, number(s.unread_count)) : null),
      ),
    );
  }

  async openSession(s) {
    const list = h('ol.messages.support-messages#support-messages', { 'aria-live': 'polite' });
    // Focusable so that keyboard users can scroll it even when it holds nothing else to focus.
    const scroller = h('div.scroller', { tabindex: '0', role: 'log', 'aria-label': t('chat.messages') }, list);
    const input = h('textarea#reply', { rows: 1, maxlength: 4000, 'aria-label': t('inbox.reply_to', { name: s.user.display_name }), placeholder: t('inbox.reply_placeholder') });
    // Files for the visitor: picked with the button or pasted, uploaded at once, sent with the
    // next reply (as in the chat app's composer).
    const uploads = new Uploads(this.ctx.client);
    const picker = fileInput((files) => uploads.add(files), { id: 'attach-input', label: t('upload.attach') });
    const attachBtn = h('button.icon.attach#attach', { type: 'button', title: t('upload.attach'), 'aria-label': t('upload.attach'), onclick: () => picker.click() }, icon('paperclip'));
    input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      // Text copied from an office program often carries a picture of itself: text wins.
      if (!files.length || e.clipboardData.types.includes('text/plain')) return;
      e.preventDefault();
      uploads.add(files);
    });
    const send = async (e) => {
      e.preventDefault();
      const text = input.value;
      if (uploads.busy) {
        uploads.say(t('upload.wait'));
        return;
      }
      const files = uploads.ready();
      if (!text.trim() && !files.length) return;
      input.value = '';
      stopTyping();
      const m = await attempt(() => this.ctx.client.send(s.room.id, text, { attachments: files }));
      if (m) {
        this.showMessage(m);
        uploads.clear();
      } else input.value = text;
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) send(e);
    });
    // Staff typing reaches the visitor's widget.
    let typingSentAt = 0;
    let typingIdle = null;
    const client = this.ctx.client;
    const stopTyping = () => {
      clearTimeout(typingIdle);
      if (typingSentAt && client.state === 'open') client.typing(s.room.id, false);
      typingSentAt = 0;
    };
    input.addEventListener('input', () => {
      if (client.state !== 'open') return;
      if (input.value.trim() && Date.now() - typingSentAt > TYPING_REPEAT_MS) {
        typingSentAt = Date.now();
        client.typing(s.room.id, true);
      }
      clearTimeout(typingIdle);
      typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
    });
    input.addEventListener('blur', stopTyping);
    const typingLine = h('p.typing-line#visitor-typing', { 'aria-live': 'polite' });
    const composer = h(
      'div.reply-box',
      uploads.el,
      uploads.alert,
      h('form.composer-row#reply-form', { onsubmit: send }, attachBtn, picker, cannedPicker(this.ctx, input), input, h('button.primary', { type: 'submit' }, t('chat.send'))),
    );
    const transcriptBtn = h('button.chip#transcript-button', { type: 'button', onclick: () => transcriptDialog(this.ctx, this.open?.session ?? s) }, t('transcript.button'));
    const blockBtn = h('button.chip.danger#block-button', { type: 'button', onclick: () => blockDialog(this.ctx, this.open?.session ?? s, () => { this.markClosed(); this.load(); }) }, t('block.button'));
    const closeBtn = h('button.chip.danger#close-session', { type: 'button', onclick: () => this.closeSession(s) }, t('inbox.close'));
    const back = h('button.chip.back', { type: 'button', onclick: () => this.closePane() }, t('inbox.back'));
    const closedNote = h('p.muted.small.closed-note', { hidden: s.status !== 'closed' }, t('inbox.is_closed'));
    replace(
      this.pane,
      h(
        'div.conv-head',
        back,
        h('div.head-text', h('h3#conversation-title', s.user.display_name || s.user.username), h('span.subtitle', t('inbox.subtitle', { email: s.email ?? t('inbox.no_email'), since: dateTime(s.created_at) }))),
        h('div.conv-actions', transcriptBtn, blockBtn, s.status === 'open' ? closeBtn : null),
      ),
      contextBlock(s.context),
      scroller,
      typingLine,
      closedNote,
      s.status === 'open' ? composer : null,
    );
    this.open = { session: s, list, scroller, shown: new Map(), composer, closeBtn, closedNote, typingLine, typingUntil: 0, readSent: s.staff_read_seq ?? 0 };
    this.container.classList.add('conversation-open');
    for (const b of this.list.querySelectorAll('.session')) markEntry(b, { active: b.dataset.sessionId === s.id });
    this.ctx.client.watchRoom(s.room.id, s.room.last_seq ?? 0);
    const res = await attempt(() => this.ctx.client.api('GET', `/rooms/${s.room.id}/messages?limit=100`));
    if (res && this.open?.session.id === s.id) {
      for (const m of res.messages.reverse()) {
        this.ctx.client.accept(m);
        this.showMessage(m);
      }
    }
    if (s.status === 'open') input.focus();
    this.markRead();
  }

  /**
   * Staff have seen the open conversation up to its newest message (when the page is visible):
   * the inbox stops counting it, and the visitor sees "seen". Staff are not room members, so
   * this is the session's own read marker.
   */
  async markRead() {
    const open = this.open;
    if (!open || document.hidden) return;
    const top = Math.max(0, ...[...open.shown.values()].map((li) => Number(li.dataset.seq) || 0));
    if (top <= open.readSent) return;
    open.readSent = top;
    const res = await attempt(() => this.ctx.client.api('POST', `/admin/support/sessions/${open.session.id}/read`, { seq: top }));
    if (res) this.reload();
    else open.readSent = 0;
  }

  showMessage(m) {
    const open = this.open;
    if (!open || m.room_id !== open.session.room.id) return;
    const visitor = m.sender_id === open.session.user.id;
    const li = open.shown.get(m.id) ?? h('li');
    li.className = `msg ${visitor ? 'visitor' : 'mine'}${m.deleted ? ' deleted' : ''}`;
    li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    const who = h('span.author', visitor ? open.session.user.display_name : '…');
    // Staff's own messages carry who wrote them: their picture (or initials) and name.
    const face = h('span.author-face');
    if (!visitor) {
      this.staff(m.sender_id).then((u) => {
        who.textContent = !u ? t('inbox.staff') : u.id === this.ctx.me.id ? t('msg.you') : userLabel(u);
        if (u) replace(face, avatar(u, undefined, 'small'));
      });
    }
    replace(
      li,
      h(
        'div.msg-main',
        h('div.meta', face, who, h('time', { datetime: m.created_at }, shortTime(m.created_at))),
        m.deleted || m.body ? h('div.bubble', h('span.body', m.deleted ? t('inbox.removed') : linkNodes(m.body))) : null,
        m.deleted ? null : attachmentList(m.attachments, { fresh: (a) => this.freshAttachment(m, a) }),
        m.deleted
          ? null
          : h('button.link.small.remove-message', { type: 'button', 'aria-label': t('inbox.remove_message'), onclick: () => attempt(() => this.ctx.client.api('DELETE', `/admin/messages/${m.id}`)).then((d) => d && this.showMessage(d)) }, t('inbox.remove')),
      ),
    );
    if (!open.shown.has(m.id)) {
      const after = [...open.list.children].find((x) => Number(x.dataset.seq) > m.seq);
      open.list.insertBefore(li, after ?? null);
      open.shown.set(m.id, li);
      open.scroller.scrollTop = open.scroller.scrollHeight;
    }
  }

  /** The attachment with working links, fetching its message again when they ran out. */
  async freshAttachment(m, a) {
    if (!linkExpiring(a.url)) return a;
    const res = await this.ctx.client.api('GET', `/rooms/${m.room_id}/messages?after_seq=${Math.max(0, m.seq - 1)}&limit=1`);
    const now = res.messages.find((x) => x.id === m.id);
    if (!now) return a;
    m.attachments = now.attachments;
    return now.attachments.find((x) => x.id === a.id) ?? a;
  }

  /** Shows (until `until`, a time) or ends the visitor's typing line; no argument re-checks it. */
  visitorTyping(until) {
    const open = this.open;
    if (!open) return;
    if (until !== undefined) open.typingUntil = until;
    const text = Date.now() < open.typingUntil ? t('typing.one', { name: open.session.user.display_name || open.session.user.username }) : '';
    if (open.typingLine.textContent !== text) open.typingLine.textContent = text;
  }

  soundOn() {
    try {
      return localStorage.getItem(SOUND_KEY) === 'on';
    } catch {
      return false;
    }
  }

  async toggleSound() {
    const on = !this.soundOn();
    try {
      if (on) localStorage.setItem(SOUND_KEY, 'on');
      else localStorage.removeItem(SOUND_KEY);
    } catch {
      // Storage disabled: nothing to remember it in.
    }
    this.soundBtn.setAttribute('aria-pressed', String(on));
    if (on && globalThis.Notification?.permission === 'default') {
      try {
        await Notification.requestPermission();
      } catch {
        // Old browsers without the promise form: the chime still works.
      }
    }
    if (on) chime();
  }

  /** A visitor wrote where the staff member is not looking: chime and, if allowed, notify. */
  alert(message) {
    if (!this.soundOn()) return;
    const who = this.byRoom.get(message.room_id)?.user;
    const name = who?.display_name || who?.username || t('admin.a_visitor');
    // Announced on the page too, for whatever else wants to react (the browser tests count them).
    window.dispatchEvent(new CustomEvent('plauder:alert', { detail: { room_id: message.room_id } }));
    chime();
    if (document.hidden && globalThis.Notification?.permission === 'granted') {
      try {
        new Notification(t('inbox.alert_title', { name }), { body: quoteText(message).slice(0, 200), tag: message.room_id });
      } catch {
        // Notifications only from a service worker on this platform: the chime did it.
      }
    }
  }

  /** A staff member's user object (null if it cannot be read), fetched once. */
  staff(id) {
    if (id === this.ctx.me.id) return Promise.resolve(this.ctx.me);
    if (!this.names.has(id)) this.names.set(id, this.ctx.client.api('GET', `/users/${id}`).catch(() => null));
    return this.names.get(id);
  }

  async closeSession(s) {
    const res = await attempt(() => this.ctx.client.api('POST', `/admin/support/sessions/${s.id}/close`));
    if (res) {
      this.markClosed();
      this.load();
    }
  }

  markClosed() {
    if (!this.open) return;
    this.open.session = { ...this.open.session, status: 'closed' };
    this.open.composer.remove();
    this.open.closeBtn.remove();
    this.open.closedNote.hidden = false;
  }

  closePane() {
    this.open = null;
    this.container.classList.remove('conversation-open');
    replace(this.pane, h('p.muted.empty-chat', t('inbox.pick')));
  }

  stop() {
    this.stopped.abort();
  }
}
