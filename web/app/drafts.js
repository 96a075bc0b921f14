// Drafts: the text written in a room's composer and not sent yet, kept when another room is opened
// and across reloads, in this browser's storage, for the account signed in. Signing out here (or
// the session ending here) deletes them, so that a shared computer keeps nobody's unsent words.
// Several tabs share the stored drafts: each writes only the rooms it changed, and takes the
// others' changes as they are stored.

const KEY = 'plauder.drafts';

export class Drafts {
  /**
   * @param {string} userId whose drafts these are: another account's stored ones are not read
   * @param {AbortSignal} signal ends this page's session: the last write, then none
   * @param {() => void} onchange called when another tab's stored change moved a draft here
   */
  constructor(userId, signal, onchange = () => {}) {
    this.userId = userId;
    /** room id → text */
    this.rooms = this.stored();
    /** Rooms changed here and not yet written. */
    this.changed = new Set();
    this.timer = null;
    this.closed = false;
    window.addEventListener(
      'storage',
      (e) => {
        if (e.key !== KEY && e.key !== null) return;
        const stored = this.stored();
        let moved = false;
        for (const id of new Set([...this.rooms.keys(), ...stored.keys()])) {
          if (this.changed.has(id) || this.rooms.get(id) === stored.get(id)) continue;
          if (stored.has(id)) this.rooms.set(id, stored.get(id));
          else this.rooms.delete(id);
          moved = true;
        }
        if (moved && !this.closed) onchange();
      },
      { signal },
    );
    window.addEventListener('pagehide', () => this.save(), { signal });
    // The page's session ends (signed out, or a mail's link took over the page): what was
    // typed is stored (signing out then deletes it all), and nothing is written after.
    signal.addEventListener('abort', () => {
      this.save();
      this.close();
    });
  }

  /** This account's drafts as stored now. */
  stored() {
    try {
      const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null');
      if (saved?.user === this.userId) return new Map(Object.entries(saved.rooms ?? {}));
    } catch {
      // Unreadable or refused: none.
    }
    return new Map();
  }

  /** The room's draft, or ''. */
  get(roomId) {
    return this.rooms.get(roomId) ?? '';
  }

  /** Keeps `text` as the room's draft (blank: none); written to storage a moment later. */
  set(roomId, text) {
    if (this.closed || this.get(roomId) === (text.trim() ? text : '')) return;
    if (text.trim()) this.rooms.set(roomId, text);
    else this.rooms.delete(roomId);
    this.changed.add(roomId);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), 300);
  }

  /** Forgets the drafts of rooms not among `roomIds` (the user's rooms, freshly listed). */
  retain(roomIds) {
    for (const id of [...this.rooms.keys()]) if (!roomIds.has(id)) this.set(id, '');
  }

  /** Writes this page's changes over what is stored (another tab's changes to other rooms stay). */
  save() {
    clearTimeout(this.timer);
    if (this.closed || !this.changed.size) return;
    const rooms = this.stored();
    for (const id of this.changed) {
      if (this.rooms.has(id)) rooms.set(id, this.rooms.get(id));
      else rooms.delete(id);
    }
    this.changed.clear();
    try {
      if (rooms.size) localStorage.setItem(KEY, JSON.stringify({ user: this.userId, rooms: Object.fromEntries(rooms) }));
      else localStorage.removeItem(KEY);
    } catch {
      // Storage full or refused: the drafts last as long as the page.
    }
  }

  /** Ends this page's drafts: nothing more is written. */
  close() {
    clearTimeout(this.timer);
    this.closed = true;
    this.rooms.clear();
  }

  /** Forgets every draft in this browser (signing out). */
  static clear() {
    try {
      localStorage.removeItem(KEY);
    } catch {
      // Refused: there is nothing stored to forget.
    }
  }
}
