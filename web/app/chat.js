// The chat view of one room: history (older pages load on scrolling up), the composer with
// replies, edits and files (by button, drag and drop or paste), reactions, typing indicators,
// read receipts and pending sends. Offline (the server unreachable), the composer goes and the
// history is marked as possibly out of date: it was loaded live, but nothing says it still is.

import { h, replace, redraw, avatar, dayLabel, lastSeen, toast, t, statusText, fullDate } from './dom.js';
import { timeOfDay } from '../i18n/i18n.js';
import { icon } from '../icons.js';
import { linkNodes } from '../links.js';
import { roomDialog } from './rooms.js';
import { Uploads, attachmentList, fileInput, linkExpiring, quoteText } from './attachments.js';
import { serverText } from '../errors.js';

const EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];
const PAGE = 50;
/** Typing is re-announced this often while the user keeps typing, and ends after this pause. */
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;

export class ChatView {
  constructor(app, el) {
    this.app = app;
    this.el = el;
    this.roomId = null;
    /** Rooms whose newest page has been loaded. */
    this.loaded = new Set();
    this.loadingOlder = false;
    this.reply = null;
    this.editing = null;
    this.typingSentAt = 0;
    this.typingTimer = null;
    this.picker = null;

    const { store } = app;
    store.on('message', ({ message }) => {
      if (message.room_id === this.roomId) this.renderMessages();
    });
    store.on('pending', ({ roomId }) => roomId === this.roomId && this.renderMessages());
    store.on('connection', () => this.roomId && this.renderMessages());
    store.on('offline', () => this.renderOffline());
    store.on('receipts', ({ roomId }) => roomId === this.roomId && this.renderMessages());
    store.on('typing', ({ roomId }) => roomId === this.roomId && this.renderTyping());
    store.on('stream', ({ roomId }) => roomId === this.roomId && this.renderMessages());
    store.on('users', () => this.roomId && this.renderMessages());
    store.on('presence', () => this.roomId && this.renderHead());
    store.on('members', ({ roomId }) => roomId === this.roomId && this.renderHead());
    store.on('current', () => this.roomId && this.renderHead());
    store.on('hello', () => this.roomId && app.loadMembers(this.roomId).catch(() => {}));
    // Typing expires without an event when the typer's connection drops.
    const tick = setInterval(() => this.roomId && this.renderTyping(), 2000);
    app.signal.addEventListener('abort', () => clearInterval(tick));
    document.addEventListener('visibilitychange', () => this.markRead(), { signal: app.signal });
    window.addEventListener('focus', () => this.markRead(), { signal: app.signal });
  }

  /** Shows a room, or the empty state for null. */
  async open(roomId) {
    this.stopTyping();
    // Files being uploaded for the room left behind are not sent anywhere.
    this.uploads?.clear();
    this.roomId = roomId;
    this.reply = null;
    this.editing = null;
    this.closePicker();
    if (!roomId) {
      replace(
        this.el,
        h('div.empty-chat', h('span.logo.big', { 'aria-hidden': 'true' }), h('h2', t('chat.welcome')), h('p.muted', t('chat.welcome_hint'))),
      );
      return;
    }
    this.build();
    this.input.value = this.app.store.drafts.get(roomId);
    this.resize();
    this.renderHead();
    this.renderMessages();
    this.renderTyping();
    this.renderOffline();
    this.input.focus();
    this.app.loadMembers(roomId).catch(() => {});
    if (!this.loaded.has(roomId)) {
      try {
        await this.loadPage(roomId, null);
        this.loaded.add(roomId);
      } catch (e) {
        // Without a network the banner says so; the history loads when the room opens again.
        if (e.code === 'unavailable') this.app.reach?.failed();
        else toast(serverText(e), 'error');
      }
    }
    if (this.roomId === roomId) {
      this.scrollToBottom();
      this.markRead();
      this.jumpIfAsked();
    }
  }

  build() {
    this.cache = new Map();
    this.head = h('header.chat-head');
    this.list = h('ol.messages#messages', { 'aria-label': t('chat.messages') });
    this.olderEl = h('div.older');
    this.scroller = h('div.scroller', { role: 'log', 'aria-live': 'polite', tabindex: '0', onscroll: () => this.onScroll() }, this.olderEl, this.list);
    this.typingEl = h('div.typing-line#typing', { 'aria-live': 'polite' });
    this.jumpBtn = h('button.jump#jump', { type: 'button', hidden: true, onclick: () => { this.scrollToBottom(); this.onScroll(); } }, t('chat.latest'));
    this.contextEl = h('div.compose-context', { hidden: true });
    this.input = h('textarea#composer', {
      rows: 1,
      placeholder: t('chat.placeholder'),
      'aria-label': t('chat.message'),
      maxlength: 4000,
      onkeydown: (e) => this.onKey(e),
      oninput: () => {
        // What is typed here is the room's draft; an edit's text is the message's, not one.
        if (!this.editing) this.app.store.drafts.set(this.roomId, this.input.value);
        this.onInput();
      },
      onblur: () => this.stopTyping(),
    });
    this.sendBtn = h('button.primary.send#send', { type: 'submit' }, t('chat.send'));
    // Files: picked with the button, dropped anywhere on the room, or pasted into the message.
    this.uploads = new Uploads(this.app.client);
    const picker = fileInput((files) => this.uploads.add(files), { id: 'attach-input', label: t('upload.attach') });
    const attachBtn = h('button.icon.attach#attach', { type: 'button', title: t('upload.attach'), 'aria-label': t('upload.attach'), onclick: () => picker.click() }, icon('paperclip'));
    this.input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      // Text copied from an office program often carries a picture of itself: text wins.
      if (!files.length || e.clipboardData.types.includes('text/plain')) return;
      e.preventDefault();
      this.uploads.add(files);
    });
    this.staleEl = h('p.stale-note#stale-note', { hidden: true }, t('offline.stale'));
    const form = h('form.compose', { onsubmit: (e) => { e.preventDefault(); this.submit(); } }, this.contextEl, this.uploads.el, this.uploads.alert, h('div.compose-row', attachBtn, picker, this.input, this.sendBtn));
    const dropHint = h('div.drop-hint', { 'aria-hidden': 'true' }, icon('paperclip', 28), h('span', t('upload.drop')));
    this.form = form;
    const section = h('section.chat', { dataset: { roomId: this.roomId } }, this.head, this.staleEl, this.scroller, this.jumpBtn, this.typingEl, form, dropHint);
    this.section = section;
    const carriesFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    section.addEventListener('dragover', (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      section.classList.add('dropping');
    });
    section.addEventListener('dragleave', (e) => {
      if (!section.contains(/** @type {Node} */ (e.relatedTarget))) section.classList.remove('dropping');
    });
    section.addEventListener('drop', (e) => {
      section.classList.remove('dropping');
      if (!carriesFiles(e)) return;
      e.preventDefault();
      this.uploads.add([...e.dataTransfer.files]);
      this.input.focus();
    });
    replace(this.el, section);
  }

  /** No sending while the server is unreachable, and what is shown marked as possibly stale. */
  renderOffline() {
    if (!this.form) return;
    const offline = this.app.store.offline;
    // Back online with a room whose history could not load: load it now.
    const reload = !offline && this.staleEl.hidden === false && this.roomId && !this.loaded.has(this.roomId);
    this.form.hidden = offline;
    this.input.disabled = offline;
    this.sendBtn.disabled = offline;
    this.staleEl.hidden = !offline;
    this.section.classList.toggle('stale', offline);
    if (reload) this.open(this.roomId);
  }

  /**
   * The attachment with links that still work: a message shown for longer than the links live
   * is fetched again (same revision, fresh links) when one of its files is opened.
   */
  async freshAttachment(m, a) {
    if (!linkExpiring(a.url)) return a;
    const res = await this.app.client.api('GET', `/rooms/${m.room_id}/messages?after_seq=${Math.max(0, m.seq - 1)}&limit=1`);
    const now = res.messages.find((x) => x.id === m.id);
    if (!now) return a;
    m.attachments = now.attachments;
    return now.attachments.find((x) => x.id === a.id) ?? a;
  }

  renderHead() {
    if (!this.head) return;
    const { store } = this.app;
    const room = store.rooms.get(this.roomId);
    if (!room) return;
    const peer = store.peer(room);
    const members = store.members.get(this.roomId);
    let subtitle;
    if (peer) {
      const p = store.presence.get(peer.id);
      subtitle = p?.status && p.status !== 'offline' ? statusText(p.status) : lastSeen(p?.last_seen_at);
    } else {
      const n = members?.size ?? 0;
      const online = [...(members?.keys() ?? [])].filter((id) => id !== store.me?.id && ['online', 'away', 'dnd'].includes(store.presence.get(id)?.status)).length;
      subtitle = [online ? t('chat.members_online', { count: n, online }) : t('chat.members', { count: n }), room.topic].filter(Boolean).join(' · ');
    }
    redraw(
      this.head,
      h('button.icon.back#room-back', { type: 'button', 'aria-label': t('chat.back'), onclick: () => this.app.closeRoom() }, icon('back')),
      peer ? avatar(peer, store.presence.get(peer.id)?.status ?? 'offline') : avatar({ id: room.id, display_name: store.roomTitle(room) }, undefined, 'square'),
      h('div.head-text', h('h2#room-title', store.roomTitle(room)), h('span.subtitle#room-subtitle', subtitle)),
      room.kind === 'group' ? h('button.icon#room-settings-button', { type: 'button', title: t('roomset.title'), 'aria-label': t('roomset.title'), onclick: () => roomDialog(this.app, room) }, icon('settings')) : null,
      room.kind !== 'direct' ? h('button.icon#room-members-button', { type: 'button', title: t('chat.members_button'), 'aria-label': t('chat.members_button'), onclick: () => roomDialog(this.app, room, { focus: 'members' }) }, icon('members')) : null,
    );
  }

  /** A page of history: the newest (before = null) or the one before the oldest loaded. */
  async loadPage(roomId, before) {
    const q = before ? `?before_seq=${before}&limit=${PAGE}` : `?limit=${PAGE}`;
    const res = await this.app.client.api('GET', `/rooms/${roomId}/messages${q}`);
    for (const m of res.messages) this.app.store.upsertMessage(m);
    this.app.store.hasOlder.set(roomId, res.has_more);
    this.renderMessages();
  }

  async onScroll() {
    if (this.scroller.scrollTop < 120) this.loadOlder();
    if (this.atBottom()) {
      this.jumpBtn.hidden = true;
      this.jumpBtn.textContent = t('chat.latest');
      this.markRead();
    } else if (this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight > 600) {
      this.jumpBtn.hidden = false;
    }
  }

  async loadOlder() {
    const { store } = this.app;
    const roomId = this.roomId;
    if (this.loadingOlder || !store.hasOlder.get(roomId)) return;
    const oldest = store.ordered(roomId)[0];
    if (!oldest) return;
    this.loadingOlder = true;
    this.olderEl.textContent = t('chat.loading_older');
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    try {
      await this.loadPage(roomId, oldest.seq);
      // Keep what the reader was looking at in place while older messages appear above it.
      if (this.roomId === roomId) this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    } catch (e) {
      toast(serverText(e), 'error');
    } finally {
      this.loadingOlder = false;
      if (this.olderEl) this.olderEl.textContent = '';
    }
  }

  atBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 40;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  renderMessages() {
    if (!this.list || !this.roomId) return;
    const { store, client } = this.app;
    const roomId = this.roomId;
    const stick = this.atBottom();
    const messages = store.ordered(roomId);
    const byId = store.messages.get(roomId) ?? new Map();
    const room = store.rooms.get(roomId);
    const markers = store.members.get(roomId) ?? new Map();
    // Each reader is shown once, under the newest message by someone else that they have read.
    const readersAt = new Map();
    for (const [uid, seq] of markers) {
      if (uid === store.me?.id || !seq) continue;
      const at = [...messages].reverse().find((m) => m.seq <= seq && !m.deleted && m.sender_id !== uid);
      if (!at) continue;
      if (!readersAt.has(at.id)) readersAt.set(at.id, []);
      readersAt.get(at.id).push(uid);
    }
    // Items are cached by key with a signature of what they show, and only rebuilt when that
    // changes: an arriving message does not take focus or a click target from the others.
    const lastBefore = this.list.lastElementChild;
    const nodes = [];
    const item = (key, sig, build) => {
      let cached = this.cache.get(key);
      if (!cached || cached.sig !== sig) {
        cached = { sig, el: build() };
        this.cache.set(key, cached);
      }
      nodes.push(cached.el);
    };
    let prev = null;
    for (const m of messages) {
      const day = dayLabel(m.created_at);
      if (!prev || dayLabel(prev.created_at) !== day) item(`day:${day}`, day, () => h('li.day', h('span', day)));
      const grouped = Boolean(prev && prev.sender_id === m.sender_id && new Date(m.created_at) - new Date(prev.created_at) < 5 * 60000 && dayLabel(prev.created_at) === day);
      const readers = readersAt.get(m.id);
      const quote = m.reply_to ? byId.get(m.reply_to) : null;
      const sig = [m.rev, grouped, readers?.map((id) => store.name(id)).join(), quote ? `${quote.rev}:${store.name(quote.sender_id)}` : '', store.name(m.sender_id), room?.my_role].join('|');
      item(m.id, sig, () => this.messageItem(m, byId, grouped, readers, room));
      prev = m;
    }
    // Bots' answers to this user's slash commands, seen by nobody else.
    for (const e of store.ephemeral.get(roomId) ?? []) {
      item(`eph:${e.id}`, store.name(e.bot_id), () => this.ephemeralItem(e));
    }
    // Answers still being written grow below the history until their message arrives.
    for (const [id, s] of store.streams.get(roomId) ?? []) {
      item(`stream:${id}`, `${s.text.length}|${store.name(s.sender_id)}`, () => this.streamItem(s));
    }
    // The live event can beat the send's reply: the stored copy then stands in for the pending one.
    const stored = new Set(messages.filter((m) => m.sender_id === store.me?.id && m.client_msg_id).map((m) => m.client_msg_id));
    for (const p of client.pending(roomId)) {
      if (stored.has(p.client_msg_id)) continue;
      item(`pending:${p.client_msg_id}`, [p.state, client.state, p.error?.message].join('|'), () => this.pendingItem(p, byId));
    }
    nodes.forEach((node, i) => {
      if (this.list.children[i] !== node) this.list.insertBefore(node, this.list.children[i] ?? null);
    });
    while (this.list.children.length > nodes.length) this.list.lastElementChild.remove();
    if (!nodes.length && this.loaded.has(roomId)) this.list.append(h('li.day', h('span', t('chat.empty'))));
    if (stick) {
      this.scrollToBottom();
      this.markRead();
    } else if (lastBefore && this.list.lastElementChild !== lastBefore && !this.loadingOlder) {
      // Something arrived below while the reader is up in the history: offer the way down.
      this.jumpBtn.textContent = t('chat.new_messages');
      this.jumpBtn.hidden = false;
    }
  }

  messageItem(m, byId, grouped, readers, room) {
    const { store } = this.app;
    const mine = m.sender_id === store.me?.id;
    // The server resolved the body's @names to member ids (`mentions`); one of them may be ours.
    const mentionsMe = !m.deleted && !mine && Boolean(store.me) && (m.mentions ?? []).includes(store.me.id);
    const canModerate = ['owner', 'moderator'].includes(room?.my_role) || ['admin', 'moderator'].includes(store.me?.role);
    const quote = m.reply_to ? byId.get(m.reply_to) : null;
    const actions = m.deleted
      ? null
      : h(
          'div.actions',
          h('button.icon.small', { type: 'button', title: t('msg.react'), 'aria-label': t('msg.react'), onclick: (e) => this.openPicker(m, e.currentTarget) }, icon('react', 16)),
          h('button.icon.small', { type: 'button', title: t('msg.reply'), 'aria-label': t('msg.reply'), onclick: () => this.startReply(m) }, icon('reply', 16)),
          mine ? h('button.icon.small', { type: 'button', title: t('msg.edit'), 'aria-label': t('msg.edit'), onclick: () => this.startEdit(m) }, icon('edit', 16)) : null,
          mine || canModerate ? h('button.icon.small', { type: 'button', title: t('msg.delete'), 'aria-label': t('msg.delete'), onclick: () => this.remove(m) }, icon('trash', 16)) : null,
        );
    return h(
      `li.msg${mine ? '.mine' : ''}${m.deleted ? '.deleted' : ''}${grouped ? '.grouped' : ''}${mentionsMe ? '.mentions-me' : ''}`,
      { dataset: { id: m.id, seq: String(m.seq), rev: String(m.rev) }, tabindex: m.deleted ? null : '-1' },
      !grouped && !mine ? avatar(store.users.get(m.sender_id) ?? { id: m.sender_id, display_name: store.name(m.sender_id) }, undefined, 'small') : h('span.avatar-gap'),
      h(
        'div.msg-main',
        grouped ? null : h('div.meta', h('span.author', mine ? t('msg.you') : store.name(m.sender_id)), store.users.get(m.sender_id)?.is_bot ? h('span.bot-badge', { title: t('msg.bot_title') }, t('msg.bot_badge')) : null, h('time', { datetime: m.created_at, title: fullDate(m.created_at) }, timeOfDay(m.created_at))),
        // A message of files only has no bubble: its files stand on their own.
        m.deleted || m.body || m.reply_to
          ? h(
              'div.bubble',
              m.reply_to
                ? h('button.quote', { type: 'button', onclick: () => this.jumpTo(m.reply_to) }, h('strong', quote ? store.name(quote.sender_id) : t('msg.reply')), h('span', quote ? (quote.deleted ? t('msg.quote_deleted') : quoteText(quote)) : t('msg.quote_earlier')))
                : null,
              h('div.body', m.deleted ? t('msg.deleted') : mentionsMe ? markMentions(linkNodes(m.body), store.me.username) : linkNodes(m.body)),
              m.edited_at && !m.deleted ? h('span.edited', { title: fullDate(m.edited_at) }, t('msg.edited')) : null,
            )
          : null,
        m.deleted ? null : attachmentList(m.attachments, { fresh: (a) => this.freshAttachment(m, a) }),
        m.reactions?.length
          ? h(
              'div.reactions',
              m.reactions.map((r) =>
                h(
                  `button.reaction${r.user_ids.includes(store.me?.id) ? '.me' : ''}`,
                  { type: 'button', title: r.user_ids.map((id) => store.name(id)).join(', '), onclick: () => this.toggleReaction(m, r.emoji) },
                  `${r.emoji} ${r.user_ids.length}`,
                ),
              ),
            )
          : null,
        readers?.length
          ? h('div.receipt', { title: readers.map((id) => store.name(id)).join(', ') }, room?.kind === 'direct' ? t('msg.seen') : t('msg.seen_by', { names: readers.map((id) => store.name(id)).join(', ') }))
          : null,
      ),
      actions,
    );
  }

  pendingItem(p, byId) {
    const { client, store } = this.app;
    const quote = p.reply_to ? byId.get(p.reply_to) : null;
    return h(
      `li.msg.mine.pending${p.state === 'failed' ? '.failed' : ''}`,
      { dataset: { clientMsgId: p.client_msg_id } },
      h('span.avatar-gap'),
      h(
        'div.msg-main',
        p.body || quote
          ? h(
              'div.bubble',
              quote ? h('div.quote', h('strong', store.name(quote.sender_id)), h('span', quoteText(quote))) : null,
              h('div.body', p.body),
            )
          : null,
        attachmentList(p.attachments),
        p.state === 'failed'
          ? h(
              'div.pending-state',
              h('span', `${t('msg.not_sent', { reason: serverText(p.error) })} `),
              h('button.link', { type: 'button', onclick: () => client.retry(p.client_msg_id) }, t('msg.retry')),
              ' · ',
              h('button.link', { type: 'button', onclick: () => client.discard(p.client_msg_id) }, t('msg.discard')),
            )
          : h('div.pending-state', client.state === 'open' ? t('msg.sending') : t('msg.waiting')),
      ),
    );
  }

  /** A bot's answer to the user's slash command: in the room, for this user's eyes only. */
  ephemeralItem(e) {
    const { store } = this.app;
    const author = store.users.get(e.bot_id) ?? { id: e.bot_id, display_name: store.name(e.bot_id) };
    return h(
      'li.msg.ephemeral',
      avatar(author, undefined, 'small'),
      h(
        'div.msg-main',
        h('div.meta', h('span.author', store.name(e.bot_id)), author.is_bot ? h('span.bot-badge', { title: t('msg.bot_title') }, t('msg.bot_badge')) : null, h('span.writing', t('msg.only_you'))),
        h('div.bubble', h('div.body', e.text)),
      ),
    );
  }

  /** An answer being streamed: its author, the text so far, and that it is still being written. */
  streamItem(s) {
    const { store } = this.app;
    const author = store.users.get(s.sender_id) ?? { id: s.sender_id, display_name: store.name(s.sender_id) };
    return h(
      'li.msg.streaming',
      { 'aria-busy': 'true' },
      avatar(author, undefined, 'small'),
      h(
        'div.msg-main',
        h('div.meta', h('span.author', store.name(s.sender_id)), author.is_bot ? h('span.bot-badge', { title: t('msg.bot_title') }, t('msg.bot_badge')) : null, h('span.writing', t('msg.writing'))),
        h('div.bubble', h('div.body', s.text)),
      ),
    );
  }

  renderTyping() {
    if (!this.typingEl) return;
    const { store } = this.app;
    const names = store.typers(this.roomId).map((id) => store.name(id));
    const text =
      names.length === 0 ? '' : names.length === 1 ? t('typing.one', { name: names[0] }) : names.length === 2 ? t('typing.two', { a: names[0], b: names[1] }) : t('typing.many');
    if (this.typingEl.textContent !== text) this.typingEl.textContent = text;
  }

  /** Marks everything shown as read, when the reader can actually see it. */
  markRead() {
    if (!this.roomId || document.hidden || !this.scroller || !this.atBottom()) return;
    const { store, client } = this.app;
    const room = store.rooms.get(this.roomId);
    const messages = store.ordered(this.roomId);
    const top = messages.length ? messages[messages.length - 1].seq : 0;
    const mine = store.members.get(this.roomId)?.get(store.me?.id) ?? room?.last_read_seq ?? 0;
    if (!room || top <= mine || top <= (this.readSent?.[this.roomId] ?? 0)) {
      if (room?.unread_count) {
        room.unread_count = 0;
        store.emit('rooms');
      }
      return;
    }
    this.readSent = { ...this.readSent, [this.roomId]: top };
    const roomId = this.roomId;
    client.markRead(roomId, top).then(
      (r) => {
        room.unread_count = r?.unread_count ?? 0;
        room.last_read_seq = top;
        store.setReadMarker(roomId, store.me.id, top);
        store.emit('rooms');
      },
      () => {
        if (this.readSent) delete this.readSent[roomId];
      },
    );
  }

  onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    } else if (e.key === 'Escape') {
      this.cancelContext();
    } else if (e.key === 'ArrowUp' && !this.input.value) {
      const mine = this.app.store.ordered(this.roomId).filter((m) => m.sender_id === this.app.store.me?.id && !m.deleted);
      if (mine.length) {
        e.preventDefault();
        this.startEdit(mine[mine.length - 1]);
      }
    }
  }

  /** The composer as tall as its text, up to a limit. */
  resize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  onInput() {
    this.resize();
    if (this.editing) return;
    const now = Date.now();
    if (this.input.value.trim() && now - this.typingSentAt > TYPING_REPEAT_MS) {
      this.typingSentAt = now;
      this.app.client.typing(this.roomId, true);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt && this.roomId) this.app.client.typing(this.roomId, false);
    this.typingSentAt = 0;
  }

  async submit() {
    const body = this.input.value;
    const roomId = this.roomId;
    if (this.editing) {
      if (!body.trim()) return;
      const id = this.editing.id;
      this.cancelContext();
      try {
        await this.app.client.edit(id, body);
      } catch (e) {
        toast(t('msg.not_saved', { reason: serverText(e) }), 'error');
      }
      return;
    }
    if (this.uploads.busy) {
      // Not sent without them: the text stays, and Send works once they are up.
      this.uploads.say(t('upload.wait'));
      return;
    }
    const attachments = this.uploads.ready();
    if (!body.trim() && !attachments.length) return;
    const replyTo = this.reply?.id ?? null;
    this.uploads.clear();
    this.input.value = '';
    this.app.store.drafts.set(roomId, '');
    this.onInput();
    this.stopTyping();
    this.cancelContext();
    this.scrollToBottom();
    this.app.client.send(roomId, body.trim() ? body : '', { replyTo, attachments }).catch(() => {
      // The failed entry stays in the list with Retry and Discard.
    });
  }

  startReply(m) {
    // A reply begun during an edit ends the edit, and the draft comes back.
    if (this.editing) this.cancelContext();
    this.reply = m;
    this.showContext(t('compose.replying', { name: this.app.store.name(m.sender_id) }), quoteText(m));
  }

  startEdit(m) {
    this.reply = null;
    this.editing = m;
    this.input.value = m.body;
    this.onInput();
    this.showContext(t('compose.editing'), t('compose.editing_hint'));
  }

  showContext(title, text) {
    replace(
      this.contextEl,
      h('div.context-text', h('strong', title), h('span', text)),
      h('button.icon.small', { type: 'button', 'aria-label': t('common.cancel'), onclick: () => this.cancelContext() }, icon('close', 16)),
    );
    this.contextEl.hidden = false;
    this.input.focus();
  }

  cancelContext() {
    // The text that was there before the edit began comes back.
    if (this.editing) {
      this.input.value = this.app.store.drafts.get(this.roomId);
      this.resize();
    }
    this.reply = null;
    this.editing = null;
    if (this.contextEl) this.contextEl.hidden = true;
  }

  async remove(m) {
    if (!confirm(t('msg.delete_confirm'))) return;
    try {
      await this.app.client.remove(m.id);
    } catch (e) {
      toast(serverText(e), 'error');
    }
  }

  async toggleReaction(m, emoji) {
    const { client, store } = this.app;
    const mineAlready = m.reactions?.find((r) => r.emoji === emoji)?.user_ids.includes(store.me?.id);
    try {
      if (mineAlready) await client.unreact(m.id, emoji);
      else await client.react(m.id, emoji);
    } catch (e) {
      toast(serverText(e), 'error');
    }
  }

  openPicker(m, anchor) {
    this.closePicker();
    const picker = h(
      'div.picker',
      { role: 'menu', onkeydown: (e) => e.key === 'Escape' && this.closePicker() },
      EMOJI.map((emoji) =>
        h('button.icon', { type: 'button', role: 'menuitem', 'aria-label': t('msg.react_with', { emoji }), onclick: () => { this.closePicker(); this.toggleReaction(m, emoji); } }, emoji),
      ),
    );
    document.body.append(picker);
    const r = anchor.getBoundingClientRect();
    picker.style.top = `${Math.max(8, r.top - picker.offsetHeight - 6)}px`;
    picker.style.left = `${Math.min(window.innerWidth - picker.offsetWidth - 8, Math.max(8, r.left - picker.offsetWidth / 2))}px`;
    picker.querySelector('button')?.focus();
    this.picker = picker;
    this.pickerAnchor = anchor;
    setTimeout(() => document.addEventListener('click', this.outside = (e) => !picker.contains(e.target) && this.closePicker()), 0);
  }

  closePicker() {
    // Focus goes back to the button that opened it, if focus was in the picker.
    if (this.picker?.contains(document.activeElement) && this.pickerAnchor?.isConnected) this.pickerAnchor.focus();
    this.picker?.remove();
    this.picker = null;
    if (this.outside) document.removeEventListener('click', this.outside);
  }

  jumpTo(id) {
    const el = this.list?.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    if (!el) return false;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 1500);
    return true;
  }

  jumpIfAsked() {
    if (this.app.pendingJump && this.jumpTo(this.app.pendingJump)) this.app.pendingJump = null;
  }
}

/**
 * Wraps each `@username` (the reader's own, any case) in the text parts of `nodes` in a
 * `mark.mention`; links and other elements stay as they are. The same word boundaries as the
 * server's parser: not after a letter, digit or address character, not continuing into a longer name.
 */
export function markMentions(nodes, username) {
  if (!username) return nodes;
  // Usernames hold letters, digits, '_', '.' and '-'; only '.' means something in a pattern.
  const name = username.replace(/\./g, '\\.');
  const re = new RegExp(`(^|[^\\p{L}\\p{N}_.\\-@/\\\\+=])(@${name})(?![A-Za-z0-9_]|[.\\-][A-Za-z0-9_])`, 'giu');
  const out = [];
  for (const node of nodes) {
    if (typeof node !== 'string') {
      out.push(node);
      continue;
    }
    let last = 0;
    for (const match of node.matchAll(re)) {
      const start = match.index + match[1].length;
      if (start > last) out.push(node.slice(last, start));
      out.push(h('mark.mention', { title: t('msg.mentions_you') }, match[2]));
      last = start + match[2].length;
    }
    if (last < node.length) out.push(node.slice(last));
  }
  return out;
}
