// Whether plauder can be reached, for the offline banner. The socket being open means online.
// When it is not, the server's /health is asked (past the service worker, never from a cache):
// an answer means the server is there and the socket will be back soon ("Reconnecting…", and
// messages written meanwhile wait in the client's queue); no answer means offline: the banner
// shows, sending is off and what is on screen is marked as possibly out of date. navigator.onLine
// only prompts a check at once: it says nothing about this server.

/** How long the socket may be down before the server is asked whether it is there at all. */
const GRACE_MS = 1500;
/** How often it is asked while the socket stays down. */
const PROBE_EVERY_MS = 4000;
/** How long one question may take. */
const PROBE_TIMEOUT_MS = 4000;

export class Reachability {
  /**
   * @param {object} app the app (client, store, signal)
   * @param {() => void} onBack called when the server answers again after being unreachable
   */
  constructor(app, onBack) {
    this.app = app;
    this.onBack = onBack;
    this.timer = null;
    this.probing = false;
    const { client, signal } = app;
    client.addEventListener('state', () => this.update(), { signal });
    window.addEventListener('offline', () => this.probeSoon(0), { signal });
    window.addEventListener('online', () => this.probeSoon(0), { signal });
    signal.addEventListener('abort', () => clearTimeout(this.timer));
  }

  /** A request to the server failed for want of a network (`unavailable`): offline now. */
  failed() {
    this.set(true);
    if (this.app.client.state !== 'open') this.probeSoon(PROBE_EVERY_MS);
  }

  update() {
    if (this.app.signal.aborted) return;
    if (this.app.client.state === 'open') {
      clearTimeout(this.timer);
      this.timer = null;
      this.set(false);
    } else if (!this.timer) {
      this.probeSoon(GRACE_MS);
    }
  }

  probeSoon(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.probe(), ms);
  }

  async probe() {
    this.timer = null;
    if (this.app.signal.aborted || this.app.client.state === 'open' || this.probing) return;
    this.probing = true;
    let reachable = false;
    try {
      const res = await fetch('/health', { cache: 'no-store', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      reachable = res.status < 500;
    } catch {
      reachable = false;
    } finally {
      this.probing = false;
    }
    if (this.app.signal.aborted || this.app.client.state === 'open') return;
    const wasOffline = this.app.store.offline;
    this.set(!reachable);
    if (reachable && wasOffline) this.onBack();
    this.probeSoon(PROBE_EVERY_MS);
  }

  set(offline) {
    const { store } = this.app;
    if (store.offline === offline) return;
    store.offline = offline;
    store.emit('offline');
  }
}
