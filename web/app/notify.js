// New messages while the tab is hidden (or in another room): a desktop notification when the user
// allowed them, else a short chime; the unread total in the tab title either way.

import { t } from '../i18n/i18n.js';
import { quoteText } from './attachments.js';

const KEY = 'plauder.notify';

export class Notifier {
  constructor(app) {
    this.app = app;
    app.store.on('rooms', () => this.updateTitle());
    document.addEventListener('visibilitychange', () => this.updateTitle(), { signal: app.signal });
  }

  /** Whether the user wants alerts (on unless they turned them off). */
  enabled() {
    return localStorage.getItem(KEY) !== 'off';
  }

  label() {
    if (!this.enabled()) return t('notify.off');
    if (globalThis.Notification?.permission === 'granted') return t('notify.desktop_on');
    return t('notify.sound_on');
  }

  async toggle() {
    if (this.enabled() && (globalThis.Notification?.permission !== 'default')) {
      localStorage.setItem(KEY, 'off');
      return;
    }
    localStorage.removeItem(KEY);
    if (globalThis.Notification?.permission === 'default') {
      try {
        await Notification.requestPermission();
      } catch {
        // Old browsers without the promise form: sound still works.
      }
    }
  }

  /** @param {import('../plauder-client.js').Message} m */
  message(m) {
    const { store } = this.app;
    const visibleHere = !document.hidden && store.current === m.room_id;
    if (visibleHere || !this.enabled()) return;
    if (!document.hidden) return; // another room, tab visible: the badge is enough
    const room = store.rooms.get(m.room_id);
    const title = room?.kind === 'direct' ? store.name(m.sender_id) : t('notify.title_in', { name: store.name(m.sender_id), room: store.roomTitle(room) });
    if (globalThis.Notification?.permission === 'granted') {
      try {
        const n = new Notification(title, { body: quoteText(m).slice(0, 200), tag: m.room_id, icon: document.querySelector('link[rel=icon]')?.href });
        n.onclick = () => {
          window.focus();
          this.app.openRoom(m.room_id);
          n.close();
        };
        return;
      } catch {
        // Some platforms only allow notifications from a service worker: chime instead.
      }
    }
    chime();
  }

  updateTitle() {
    let total = 0;
    for (const r of this.app.store.rooms.values()) total += r.unread_count ?? 0;
    document.title = total ? `(${total}) plauder` : 'plauder';
  }
}

let audio = null;

/** Two soft notes, made with WebAudio: no sound file to load. */
export function chime() {
  try {
    audio ??= new AudioContext();
    const ctx = audio;
    const now = ctx.currentTime;
    for (const [i, freq] of [880, 1320].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.15, now + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.12 + 0.25);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + i * 0.12);
      osc.stop(now + i * 0.12 + 0.3);
    }
  } catch {
    // Autoplay policy before any user gesture: stay quiet.
  }
}
