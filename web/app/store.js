// The app's state: rooms, messages per room, users, presence, typing, read markers and the
// social lists. Views subscribe to topics and re-render the part they own.

import { t } from '../i18n/i18n.js';

/** @typedef {import('../plauder-client.js').Message} Message */
/** @typedef {import('../plauder-client.js').Room} Room */
/** @typedef {import('../plauder-client.js').User} User */

export class Store {
  constructor() {
    /** @type {?User} */
    this.me = null;
    /** @type {Map<string, Room>} */
    this.rooms = new Map();
    /** Messages per room, by id. @type {Map<string, Map<string, Message>>} */
    this.messages = new Map();
    /** Whether older history exists per room. @type {Map<string, boolean>} */
    this.hasOlder = new Map();
    /** @type {Map<string, User>} */
    this.users = new Map();
    /** @type {Map<string, {status: string, last_seen_at: ?string}>} */
    this.presence = new Map();
    /** Members per room: user id → read marker. @type {Map<string, Map<string, number>>} */
    this.members = new Map();
    /** Who is typing, per room: user id → expiry time. @type {Map<string, Map<string, number>>} */
    this.typing = new Map();
    /**
     * Messages still being written (the assistant streaming an answer), per room: message id →
     * {sender_id, text, next}. Gone once the message itself arrives.
     * @type {Map<string, Map<string, {sender_id: string, text: string, next: number}>>}
     */
    this.streams = new Map();
    /**
     * Bots' answers to the user's slash commands that only the user sees (`command.reply`), per
     * room, in arrival order; kept until the page reloads, never stored by the server.
     * @type {Map<string, Array<{id: string, bot_id: string, text: string, at: string}>>}
     */
    this.ephemeral = new Map();
    this.friends = [];
    this.requests = { incoming: [], outgoing: [] };
    this.blocks = [];
    /** @type {?string} */
    this.current = null;
    this.connection = 'idle';
    /** The server cannot be reached (offline.js): nothing shown is known to be current. */
    this.offline = false;
    this.listeners = new Map();
  }

  /** Calls `fn` whenever `topic` changes; `detail` says what changed. */
  /** Calls `fn` on every `topic` event; until `options.signal` aborts, if given. */
  on(topic, fn, options = {}) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    options.signal?.addEventListener('abort', () => this.listeners.get(topic)?.delete(fn));
  }

  emit(topic, detail = {}) {
    for (const fn of this.listeners.get(topic) ?? []) fn(detail);
  }

  addUser(user) {
    if (!user?.id) return;
    this.users.set(user.id, { ...this.users.get(user.id), ...user });
    if (user.presence) this.presence.set(user.id, user.presence);
  }

  name(userId) {
    // A message keeps its place when its sender deletes their account; only the sender goes.
    if (userId === null) return t('user.deleted');
    const u = this.users.get(userId);
    return u ? u.display_name || u.username : t('user.someone');
  }

  /** Sorted by recent activity, the way the server lists them. */
  roomList() {
    const t = (r) => r.last_message?.created_at ?? r.created_at;
    return [...this.rooms.values()].sort((a, b) => (t(b) > t(a) ? 1 : t(b) < t(a) ? -1 : 0));
  }

  /** The other person in a direct room, once the members are known. */
  peer(room) {
    if (room?.kind !== 'direct') return null;
    const ids = [...(this.members.get(room.id)?.keys() ?? [])];
    const other = ids.find((id) => id !== this.me?.id);
    return other ? this.users.get(other) ?? { id: other } : null;
  }

  roomTitle(room) {
    if (!room) return '';
    if (room.kind === 'direct') {
      const p = this.peer(room);
      return p ? p.display_name || p.username || t('room.direct') : t('room.direct');
    }
    return room.name || (room.kind === 'support' ? t('room.support') : t('room.untitled'));
  }

  /**
   * Applies a message (new or changed) if it is newer than what is held; keeps the room's
   * preview and unread count right. Returns whether anything changed.
   * @param {Message} m
   */
  upsertMessage(m, { live = false } = {}) {
    if (!this.messages.has(m.room_id)) this.messages.set(m.room_id, new Map());
    const list = this.messages.get(m.room_id);
    const old = list.get(m.id);
    if (old && old.rev >= m.rev) return false;
    list.set(m.id, m);
    // The finished message takes the place of its stream.
    this.streams.get(m.room_id)?.delete(m.id);
    const room = this.rooms.get(m.room_id);
    if (room) {
      room.last_seq = Math.max(room.last_seq ?? 0, m.rev);
      const last = room.last_message;
      if (!last || last.id === m.id || m.seq > last.seq) room.last_message = m.deleted && last?.id !== m.id ? last : m;
      if (live && !old && !m.deleted && m.sender_id !== this.me?.id && (this.current !== m.room_id || document.hidden)) {
        room.unread_count = (room.unread_count ?? 0) + 1;
      }
    }
    this.emit('message', { message: m, isNew: !old, live });
    this.emit('rooms');
    return true;
  }

  /** A room's messages in seq order. */
  ordered(roomId) {
    return [...(this.messages.get(roomId)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }

  setReadMarker(roomId, userId, seq) {
    if (!this.members.has(roomId)) this.members.set(roomId, new Map());
    const m = this.members.get(roomId);
    if ((m.get(userId) ?? 0) < seq || !m.has(userId)) m.set(userId, Math.max(seq, m.get(userId) ?? 0));
    this.emit('receipts', { roomId });
  }

  /**
   * A `message.delta`: appends the piece to its stream. A stream seen from its first piece only
   * (one joined mid-answer waits for the message); an aborted one is dropped.
   */
  applyDelta({ room_id: roomId, message_id: id, sender_id: senderId, index, delta, aborted }) {
    if (this.messages.get(roomId)?.has(id)) return;
    if (!this.streams.has(roomId)) this.streams.set(roomId, new Map());
    const streams = this.streams.get(roomId);
    const s = streams.get(id);
    if (aborted) streams.delete(id);
    else if (index === 0 && !s) streams.set(id, { sender_id: senderId, text: delta, next: 1 });
    else if (s && s.next === index) {
      s.text += delta;
      s.next += 1;
    } else return;
    this.emit('stream', { roomId });
  }

  /** A `command.reply`: shown in its room to this user alone. */
  addEphemeral({ invocation_id: id, room_id: roomId, bot_id: botId, text }) {
    if (!this.ephemeral.has(roomId)) this.ephemeral.set(roomId, []);
    this.ephemeral.get(roomId).push({ id: `${id}:${this.ephemeral.get(roomId).length}`, bot_id: botId, text, at: new Date().toISOString() });
    this.emit('stream', { roomId });
  }

  setTyping(roomId, userId, active) {
    if (!this.typing.has(roomId)) this.typing.set(roomId, new Map());
    const t = this.typing.get(roomId);
    if (active) t.set(userId, Date.now() + 6000);
    else t.delete(userId);
    this.emit('typing', { roomId });
  }

  typers(roomId) {
    const t = this.typing.get(roomId);
    if (!t) return [];
    const now = Date.now();
    for (const [id, until] of t) if (until < now) t.delete(id);
    return [...t.keys()];
  }
}
