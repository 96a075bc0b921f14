// Drafts: the text written in a room's composer and not sent yet, kept when another room is opened
// and across reloads, in this browser's storage, for the account signed in. Signing out here
// deletes them, so that a shared computer keeps nobody's unsent words.

const KEY = 'plauder.drafts';

export class Drafts {
  /** @param {string} userId whose drafts these are: another account's stored ones are not read */
  constructor(userId) {
    this.userId = userId;
    /** room id → text */
    this.rooms = new Map();
    this.timer = null;
    try {
      const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null');
      if (saved?.user === userId) this.rooms = new Map(Object.entries(saved.rooms ?? {}));
    } catch {
      // Unreadable: none.
    }
  }

  /** The room's draft, or ''. */
  get(roomId) {
    return this.rooms.get(roomId) ?? '';
  }

  /** Keeps `text` as the room's draft (blank: none); written to storage a moment later. */
  set(roomId, text) {
    if (text.trim()) this.rooms.set(roomId, text);
    else this.rooms.delete(roomId);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), 300);
  }

  /** Forgets the drafts of rooms not among `roomIds` (the user's rooms, freshly listed). */
  retain(roomIds) {
    const gone = [...this.rooms.keys()].filter((id) => !roomIds.has(id));
    for (const id of gone) this.set(id, '');
  }

  /** Writes the drafts to storage now (the page is going away). */
  save() {
    clearTimeout(this.timer);
    try {
      if (this.rooms.size) localStorage.setItem(KEY, JSON.stringify({ user: this.userId, rooms: Object.fromEntries(this.rooms) }));
      else localStorage.removeItem(KEY);
    } catch {
      // Storage full or refused: the drafts last as long as the page.
    }
  }

  /** Forgets this page's drafts and stops a pending write (signing out). */
  cancel() {
    clearTimeout(this.timer);
    this.rooms.clear();
  }

  /** Forgets every draft in this browser (signing out). */
  static clear() {
    localStorage.removeItem(KEY);
  }
}
