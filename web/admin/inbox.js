// The support inbox: the visitors' conversations (GET /admin/support/sessions) with unread
// counts and last messages, kept live by the WebSocket (`support.session_created`, every
// message of a support room, `support.session_closed`), and one conversation open to read,
// answer, remove messages from and close.

import { h, replace, shortTime, avatar, t } from '../app/dom.js';
import { number } from '../i18n/i18n.js';
import { attempt, dateTime, debounce, heading, userLabel } from './common.js';

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

    const tab = (status, label) =>
      h('button.tab', { type: 'button', role: 'tab', 'aria-selected': String(status === this.status), dataset: { status }, onclick: () => this.setStatus(status) }, label);
    this.tabs = h('div.tabs', { role: 'tablist', 'aria-label': t('inbox.status') }, tab('open', t('inbox.open')), tab('closed', t('inbox.closed')));
    this.list = h('ul.sessions#session-list', { 'aria-label': t('inbox.chats') });
    this.pane = h('div.conversation#conversation', h('p.muted.empty-chat', t('inbox.pick')));
    replace(container, heading(t('admin.nav.support'), this.tabs), h('div.inbox', h('div.inbox-list', this.list), this.pane));

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
      if (this.open && message.room_id === this.open.session.room.id) this.showMessage(message);
    });
    // After a reconnect, what the list missed is in the database.
    on('hello', ({ reconnect }) => reconnect && reload());
    this.load();
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
    // A new chat's first message can arrive after its announcement but before this answer: the
    // answer may predate it, so a chat it lists that had such a message is loaded once more.
    if ([...this.unplaced].some((room) => this.byRoom.has(room))) this.reload();
    this.unplaced.clear();
    if (!res.sessions.length) {
      replace(this.list, h('li.empty-list.muted', this.status === 'open' ? t('inbox.none_open') : t('inbox.none_closed')));
      return;
    }
    replace(this.list, res.sessions.map((s) => this.item(s)));
  }

  item(s) {
    const last = s.last_message;
    const preview = last ? (last.deleted ? t('inbox.removed') : last.body) : t('inbox.no_messages');
    const active = this.open?.session.id === s.id;
    return h(
      'li',
      h(
        'button.room.session',
        { type: 'button', class: [active && 'active', s.unread_count > 0 && 'unread'].filter(Boolean).join(' '), dataset: { sessionId: s.id, roomId: s.room.id }, 'aria-current': active ? 'true' : false, onclick: () => this.openSession(s) },
        avatar(s.user),
        h(
          'span.room-text',
          h('span.room-top', h('span.room-name', s.user.display_name || s.user.username), h('span.room-time', shortTime(last?.created_at ?? s.created_at))),
          h('span.room-bottom', h('span.room-preview', preview), s.unread_count > 0 ? h('span.badge.unread-badge', { 'aria-label': t('inbox.unanswered', { count: s.unread_count }) }, number(s.unread_count)) : null),
        ),
      ),
    );
  }

  async openSession(s) {
    const list = h('ol.messages.support-messages#support-messages', { 'aria-live': 'polite' });
    const scroller = h('div.scroller', list);
    const input = h('textarea#reply', { rows: 1, maxlength: 4000, 'aria-label': t('inbox.reply_to', { name: s.user.display_name }), placeholder: t('inbox.reply_placeholder') });
    const send = async (e) => {
      e.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      input.value = '';
      const m = await attempt(() => this.ctx.client.send(s.room.id, text));
      if (m) this.showMessage(m);
      else input.value = text;
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) send(e);
    });
    const composer = h('form.composer-row#reply-form', { onsubmit: send }, input, h('button.primary', { type: 'submit' }, t('chat.send')));
    const closeBtn = h('button.chip.danger#close-session', { type: 'button', onclick: () => this.closeSession(s) }, t('inbox.close'));
    const back = h('button.chip.back', { type: 'button', onclick: () => this.closePane() }, t('inbox.back'));
    const closedNote = h('p.muted.small.closed-note', { hidden: s.status !== 'closed' }, t('inbox.is_closed'));
    replace(
      this.pane,
      h(
        'div.conv-head',
        back,
        h('div.head-text', h('h3#conversation-title', s.user.display_name || s.user.username), h('span.subtitle', t('inbox.subtitle', { email: s.email ?? t('inbox.no_email'), since: dateTime(s.created_at) }))),
        s.status === 'open' ? closeBtn : null,
      ),
      scroller,
      closedNote,
      s.status === 'open' ? composer : null,
    );
    this.open = { session: s, list, scroller, shown: new Map(), composer, closeBtn, closedNote };
    this.container.classList.add('conversation-open');
    for (const b of this.list.querySelectorAll('.session')) {
      const on = b.dataset.sessionId === s.id;
      b.classList.toggle('active', on);
      b.toggleAttribute('aria-current', on);
    }
    this.ctx.client.watchRoom(s.room.id, s.room.last_seq ?? 0);
    const res = await attempt(() => this.ctx.client.api('GET', `/rooms/${s.room.id}/messages?limit=100`));
    if (res && this.open?.session.id === s.id) {
      for (const m of res.messages.reverse()) {
        this.ctx.client.accept(m);
        this.showMessage(m);
      }
    }
    if (s.status === 'open') input.focus();
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
    if (!visitor) this.name(m.sender_id).then((n) => { who.textContent = n; });
    replace(
      li,
      h(
        'div.msg-main',
        h('div.meta', who, h('time', { datetime: m.created_at }, shortTime(m.created_at))),
        h('div.bubble', h('span.body', m.deleted ? t('inbox.removed') : m.body)),
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

  name(id) {
    if (id === this.ctx.me.id) return Promise.resolve(t('msg.you'));
    if (!this.names.has(id)) this.names.set(id, this.ctx.client.api('GET', `/users/${id}`).then(userLabel, () => t('inbox.staff')));
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
