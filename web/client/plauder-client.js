// plauder-client.js: a small client for plauder's REST API and WebSocket protocol.
// An ES module with no dependencies and no build step. See docs/client.md.
//
// What it takes care of, so an app does not have to:
// - the session: login/register, tokens kept in storage, access-token refresh before expiry
//   (one tab at a time refreshes, so rotation never looks like a replay to the server);
// - the socket: connect with the token, reconnect with exponential backoff and full jitter;
// - recovery: after every `hello` and on any seq gap it `sync`s each watched room from the last
//   seq it saw, so nothing is lost; every message is announced at most once per (id, rev);
// - sending: a pending queue with a client_msg_id per message, re-sent after a reconnect (the
//   server never stores a client_msg_id twice), retried after `rate_limited`;
// - files: uploads with progress and cancel (XMLHttpRequest: fetch reports no upload progress),
//   sent with a message by their ids.

/**
 * @typedef {{status: string, last_seen_at: ?string}} Presence
 * @typedef {{id: string, username: string, display_name: string, avatar_url: ?string, bio: ?string,
 *   role: string, created_at: string, email?: string, presence?: Presence,
 *   presence_status?: 'online'|'away'|'dnd'|'invisible', presence_visibility?: 'contacts'|'everyone'}} User
 * @typedef {{emoji: string, user_ids: string[]}} Reaction
 * @typedef {{id: string, name: string, size: number, content_type: string, width: ?number,
 *   height: ?number, url: string, thumbnail_url: ?string}} Attachment
 * @typedef {{id: string, room_id: string, seq: number, rev: number, sender_id: ?string, body: string,
 *   reply_to: ?string, client_msg_id: ?string, created_at: string, edited_at: ?string,
 *   deleted: boolean, reactions: Reaction[], attachments: Attachment[]}} Message
 * @typedef {{id: string, kind: 'group'|'direct'|'support', name: ?string, topic: ?string,
 *   is_public: boolean, created_by: ?string, created_at: string, last_seq: number,
 *   my_role?: string, last_read_seq?: number, unread_count?: number, last_message?: ?Message}} Room
 * @typedef {{user: User, access_token: string, refresh_token: string}} Session
 * @typedef {{client_msg_id: string, room_id: string, body: string, reply_to: ?string,
 *   attachments: Attachment[], state: 'queued'|'sending'|'failed', error: ?ApiError,
 *   created_at: string}} PendingMessage
 * @typedef {'idle'|'connecting'|'open'|'reconnecting'|'closed'} ConnectionState
 */

/** An error in the protocol's model: `code` is one of PROTOCOL.md's codes. */
export class ApiError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} [status] HTTP status, 0 for WebSocket replies and network failures
   * @param {object} [details]
   */
  constructor(code, message, status = 0, details = undefined) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE = new Map([
  [4001, 'revoked'],
  [4003, 'banned'],
]);

const HISTORY_EVENTS = new Set(['message.new', 'message.updated', 'message.deleted', 'reaction.updated']);

/** A random id for client_msg_id, also outside secure contexts where randomUUID is missing. */
function randomId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Seconds since the epoch at which a JWT expires, or 0 when it cannot be read. */
function tokenExpiry(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return Number(JSON.parse(atob(payload)).exp) || 0;
  } catch {
    return 0;
  }
}

/**
 * The client. Events (all `CustomEvent`s; read `event.detail`):
 * - `state` `{state}`: the connection's {@link ConnectionState} changed;
 * - `hello` `{user, session_id, heartbeat_ms, instance, reconnect}`: a connection is ready;
 * - `message` `{message, kind}`: a message is new or changed (kind is the event's type, or `sync`
 *   or `sent`); each (id, rev) is announced once;
 * - `synced` `{room_id, last_seq}`: a room has caught up after a reconnect or a gap;
 * - `pending` `{room_id}`: the pending queue of a room changed (see {@link PlauderClient#pending});
 * - `session` `{session}`: tokens changed (login, refresh); `signedout` `{reason}`: the session
 *   ended (`logout`, `revoked`, `banned`, `expired`);
 * - every other server event under its own name with its `data` as detail: `typing`,
 *   `message.delta` (a piece of a message still being written, see docs/protocol.md),
 *   `command.invoked` and `command.reply` (slash commands), `read`,
 *   `presence`, `presence.chosen` (the user's own status, chosen on this or another device),
 *   `room.member_added`, `room.member_removed`, `room.updated`, `room.deleted`,
 *   `friend.request`, `friend.accepted`, `support.session_created`, `support.session_closed`,
 *   `error`.
 */
export class PlauderClient extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl] the server's origin; the page's own by default
   * @param {?Storage} [options.storage] where the session is kept (localStorage by default; null
   *   keeps it in memory only)
   * @param {string} [options.storageKey]
   * @param {number} [options.maxBackoffMs] the longest wait between reconnect attempts
   */
  constructor(options = {}) {
    super();
    this.baseUrl = (options.baseUrl ?? globalThis.location?.origin ?? '').replace(/\/$/, '');
    this.storage = options.storage === undefined ? (globalThis.localStorage ?? null) : options.storage;
    this.storageKey = options.storageKey ?? 'plauder.session';
    this.maxBackoffMs = options.maxBackoffMs ?? 30000;
    /** @type {?Session} */
    this.session = this.#loadSession();
    /** @type {ConnectionState} */
    this.state = 'idle';
    /** @type {?WebSocket} */
    this.#ws = null;
    this.#wanted = false;
    this.#attempt = 0;
    this.#nextId = 1;
    /** Replies awaited, by command id. */
    this.#inflight = new Map();
    /** Highest seq seen per watched room. */
    this.#lastSeq = new Map();
    /** Latest rev announced per message id. */
    this.#revs = new Map();
    /** Rooms with a sync running. */
    this.#syncing = new Map();
    /** @type {PendingMessage[]} */
    this.#queue = [];
    this.#helloCount = 0;
    if (globalThis.addEventListener) {
      globalThis.addEventListener('storage', (e) => this.#onStorage(e));
      globalThis.addEventListener('online', () => this.#wakeUp());
    }
    this.#scheduleRefresh();
  }

  #ws; #wanted; #attempt; #nextId; #inflight; #lastSeq; #revs; #syncing; #queue; #helloCount;
  /** The access token the socket was opened with or last handed through `auth.refresh`. */
  #socketToken = null;
  #reconnectTimer = null; #refreshTimer = null; #refreshing = null; #watchdog = null;
  #heartbeatMs = 15000; #lastFrameAt = 0; #pingTimer = null;
  /** A presence status chosen while the socket was not open, and the callers waiting for it. */
  #presenceChoice = null;

  /** The signed-in user, or null. @returns {?User} */
  get user() {
    return this.session?.user ?? null;
  }

  // ---- session ---------------------------------------------------------------------------

  /**
   * Creates an account and signs in.
   * @param {{username: string, email: string, password: string, display_name?: string}} fields
   * @returns {Promise<User>}
   */
  async register(fields) {
    const res = await this.#fetch('POST', '/auth/register', fields, null);
    // Where the server requires a confirmed address, the account comes without tokens
    // (`email_verification_required`): no session until its mail's link is followed.
    if (res.access_token) this.#setSession(res);
    return res.user;
  }

  /**
   * Confirms the account's address with the token of a verification mail's link
   * (`#verify-email=<token>`).
   * @param {string} token
   * @returns {Promise<void>}
   */
  async verifyEmail(token) {
    await this.#fetch('POST', '/auth/verify-email', { token }, null);
  }

  /**
   * Asks for a new verification mail; the server answers the same for every address.
   * @param {string} email
   * @returns {Promise<void>}
   */
  async resendVerification(email) {
    await this.#fetch('POST', '/auth/verify-email/resend', { email }, null);
  }

  /**
   * Signs in with a username or email.
   * @param {string} login
   * @param {string} password
   * @returns {Promise<User>}
   */
  async login(login, password) {
    const res = await this.#fetch('POST', '/auth/login', { login, password }, null);
    if (res.mfa_required) {
      // Two-factor is on: no session yet. `completeLogin` finishes it with a code.
      throw new ApiError('mfa_required', 'Enter the code from your authenticator app.', 200, {
        mfa_token: res.mfa_token,
        expires_in: res.expires_in,
      });
    }
    this.#setSession(res);
    return res.user;
  }

  /**
   * Completes a login that failed with `mfa_required`, with the authenticator app's code or a
   * recovery code.
   * @param {string} mfaToken `details.mfa_token` of that error
   * @param {string} code
   * @returns {Promise<User>}
   */
  async completeLogin(mfaToken, code) {
    const res = await this.#fetch('POST', '/auth/login/mfa', { mfa_token: mfaToken, code }, null);
    this.#setSession(res);
    return res.user;
  }

  /**
   * Asks for a password reset mail. Resolves the same whether or not the address has an account.
   * @param {string} email
   * @returns {Promise<void>}
   */
  async requestPasswordReset(email) {
    await this.#fetch('POST', '/auth/password-reset', { email }, null);
  }

  /**
   * Sets a new password with the token of a reset mail's link; every session of the account
   * ends, so sign in afterwards.
   * @param {string} token
   * @param {string} password
   * @returns {Promise<void>}
   */
  async confirmPasswordReset(token, password) {
    await this.#fetch('POST', '/auth/password-reset/confirm', { token, password }, null);
  }

  /**
   * Turns two-factor on with the first code of a pending enrolment (`POST /users/me/mfa/totp/confirm`; the enrolment began with `POST /users/me/mfa/totp {password}`).
   * The server ends every earlier session and answers with a new one, which becomes this
   * client's; resolves with the ten recovery codes.
   * @param {string} code
   * @returns {Promise<string[]>}
   */
  async confirmTotp(code) {
    // The server closes the socket (4001) as it ends the old sessions; closed here first, the
    // client does not take that for its own session's end before the answer brings the new one.
    const wanted = this.#wanted;
    this.disconnect();
    let res;
    try {
      res = await this.api('POST', '/users/me/mfa/totp/confirm', { code });
      this.#setSession(res);
    } finally {
      if (wanted) this.connect();
    }
    return res.recovery_codes;
  }

  /**
   * Changes the password (`POST /users/me/password`). The server ends every session of the
   * account, this one included, and answers with a new one, which becomes this client's: other
   * devices must sign in again, this one carries on.
   * @param {string} current
   * @param {string} next
   * @returns {Promise<void>}
   */
  async changePassword(current, next) {
    // As for two-factor: the old session's socket is closed here before the server closes it.
    const wanted = this.#wanted;
    this.disconnect();
    try {
      const res = await this.api('POST', '/users/me/password', { current_password: current, new_password: next });
      this.#setSession(res);
    } finally {
      if (wanted) this.connect();
    }
  }

  /** Ends every session of the account (`POST /auth/logout-all`), this one included. */
  async logoutEverywhere() {
    const wanted = this.#wanted;
    // Closed here first: the server's 4001 must not read as this session being revoked.
    this.disconnect();
    try {
      await this.api('POST', '/auth/logout-all');
    } catch (e) {
      // Nothing ended: the session carries on, and the caller shows the failure.
      if (wanted) this.connect();
      throw e;
    }
    this.#endSession('logout');
  }

  /**
   * Opens a support chat as a visitor, without an account: the server creates a guest user and
   * a support room that the site's staff answer, and this becomes the session.
   * @param {{name: string, email?: string}} fields
   * @returns {Promise<{session_id: string, room: Room, user: User}>}
   */
  async openSupport(fields) {
    const res = await this.#fetch('POST', '/support/sessions', fields, null);
    this.#setSession(res);
    return { session_id: res.session_id, room: res.room, user: res.user };
  }

  /**
   * Continues a support chat from the link of a reply mail (`#plauder-resume=<token>`): the
   * server answers with a new login of the session's guest, which becomes the session.
   * @param {string} token
   * @returns {Promise<{session_id: string, room: Room, user: User}>}
   */
  async resumeSupport(token) {
    const res = await this.#fetch('POST', '/support/resume', { token }, null);
    this.#setSession(res);
    return { session_id: res.session_id, room: res.room, user: res.user };
  }

  /** Ends the session on the server and here, and closes the socket. */
  async logout() {
    const token = this.session?.refresh_token;
    this.disconnect();
    if (token) {
      try {
        await this.#fetch('POST', '/auth/logout', { refresh_token: token }, null);
      } catch {
        // The session ends here either way; the server forgets the token when it expires.
      }
    }
    this.#endSession('logout');
  }

  /**
   * A REST call under `/api/v1` with the access token, refreshed first when it is about to
   * expire (and once more after a 401).
   * @param {string} method
   * @param {string} path e.g. `/rooms`
   * @param {object} [body]
   * @returns {Promise<any>} the JSON body, or null for 204
   * @throws {ApiError}
   */
  async api(method, path, body = undefined) {
    if (!this.session) throw new ApiError('unauthorized', 'Not signed in.', 401);
    await this.#freshToken();
    try {
      return await this.#fetch(method, path, body, this.session?.access_token);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401 && this.session) {
        await this.#refresh(true);
        return this.#fetch(method, path, body, this.session?.access_token);
      }
      throw e;
    }
  }

  /**
   * Sets the caller's avatar from an image (`PUT /users/me/avatar`, the image as the raw body):
   * the server crops it to a square, scales and re-encodes it, and answers with the user, whose
   * `avatar_url` then names the new picture.
   * @param {Blob} image a PNG, JPEG, GIF or WebP
   * @returns {Promise<User>}
   * @throws {ApiError} `unsupported_media_type`, `payload_too_large`, `rate_limited`, …
   */
  async setAvatar(image) {
    return this.#ownUser(await this.api('PUT', '/users/me/avatar', image));
  }

  /**
   * Removes the caller's avatar (`DELETE /users/me/avatar`); others see initials again.
   * @returns {Promise<User>}
   */
  async removeAvatar() {
    return this.#ownUser(await this.api('DELETE', '/users/me/avatar'));
  }

  /** Keeps the session's copy of the caller current after a profile change. */
  #ownUser(user) {
    if (this.session && user) {
      this.session.user = { ...this.session.user, ...user };
      this.#saveSession();
    }
    return user;
  }

  /**
   * Uploads a file to send with a message (`POST /attachments`, the file as the raw body): it
   * stays the caller's own until a `send` names it in `attachments`. Reports progress and can
   * be cancelled through `signal`.
   * @param {Blob} file
   * @param {{name?: string, onProgress?: (sent: number, total: number) => void, signal?: AbortSignal}} [options]
   *   `name` defaults to the File's own name
   * @returns {Promise<Attachment>}
   * @throws {ApiError} the server's refusal (`unsupported_media_type`, `payload_too_large`,
   *   `rate_limited`, …), or a DOMException named `AbortError` when cancelled
   */
  async upload(file, options = {}) {
    if (!this.session) throw new ApiError('unauthorized', 'Not signed in.', 401);
    await this.#freshToken();
    const name = options.name ?? /** @type {any} */ (file).name ?? 'file';
    try {
      return await this.#upload(file, name, options);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401 && this.session) {
        await this.#refresh(true);
        return this.#upload(file, name, options);
      }
      throw e;
    }
  }

  #upload(file, name, { onProgress, signal } = {}) {
    return new Promise((resolve, reject) => {
      const cancelled = () => new DOMException('The upload was cancelled.', 'AbortError');
      if (signal?.aborted) {
        reject(cancelled());
        return;
      }
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `${this.baseUrl}/api/v1/attachments?name=${encodeURIComponent(name)}`);
      xhr.setRequestHeader('authorization', `Bearer ${this.session?.access_token}`);
      // The server decides the type from the bytes; a declared type could only disagree.
      xhr.setRequestHeader('content-type', 'application/octet-stream');
      xhr.responseType = 'text';
      const onAbort = () => xhr.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onabort = () => {
        done();
        reject(cancelled());
      };
      xhr.onerror = () => {
        done();
        reject(new ApiError('unavailable', 'The server cannot be reached.', 0));
      };
      xhr.onload = () => {
        done();
        let json = null;
        try {
          json = JSON.parse(xhr.responseText);
        } catch {
          // A proxy's HTML error page, say: reported by status below.
        }
        if (xhr.status >= 200 && xhr.status < 300 && json) resolve(json);
        else {
          const err = json?.error;
          reject(new ApiError(err?.code ?? 'internal', err?.message ?? `HTTP ${xhr.status}`, xhr.status, err?.details));
        }
      };
      xhr.send(file);
    });
  }

  async #fetch(method, path, body, token) {
    const headers = {};
    // A Blob (an avatar's image) goes as the raw body; the server types it from its bytes.
    const raw = typeof Blob !== 'undefined' && body instanceof Blob;
    if (body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      });
    } catch {
      throw new ApiError('unavailable', 'The server cannot be reached.', 0);
    }
    if (res.status === 204) return null;
    let json = null;
    try {
      json = await res.json();
    } catch {
      // A proxy's HTML error page, say: reported by status below.
    }
    if (!res.ok) {
      const err = json?.error;
      throw new ApiError(err?.code ?? 'internal', err?.message ?? `HTTP ${res.status}`, res.status, err?.details);
    }
    return json;
  }

  #setSession(res) {
    this.session = { user: res.user, access_token: res.access_token, refresh_token: res.refresh_token };
    this.#saveSession();
    this.#scheduleRefresh();
    this.#refreshSocket();
    this.#emit('session', { session: this.session });
  }

  /**
   * Hands the open socket the current access token: the server closes a socket (4001) once the
   * token it was opened with has expired, unless `auth.refresh` extended it. Refreshes happen a
   * minute before expiry, so the socket never reaches its deadline. A refused refresh is left
   * alone: the socket then closes at its deadline and reconnects with whatever token is current.
   */
  #refreshSocket() {
    if (this.state !== 'open' || !this.session) return;
    this.#socketToken = this.session.access_token;
    this.command('auth.refresh', { token: this.session.access_token }).catch(() => {});
  }

  #endSession(reason) {
    this.disconnect();
    this.session = null;
    this.storage?.removeItem(this.storageKey);
    clearTimeout(this.#refreshTimer);
    for (const p of this.#queue) p.state = 'failed';
    this.#queue = [];
    this.#lastSeq.clear();
    this.#revs.clear();
    // The next sign-in starts afresh: its first hello is not a reconnect.
    this.#helloCount = 0;
    this.#attempt = 0;
    this.#emit('signedout', { reason });
  }

  #loadSession() {
    try {
      const raw = this.storage?.getItem(this.storageKey);
      const s = raw ? JSON.parse(raw) : null;
      return s?.access_token && s?.refresh_token && s?.user?.id ? s : null;
    } catch {
      return null;
    }
  }

  #saveSession() {
    try {
      this.storage?.setItem(this.storageKey, JSON.stringify(this.session));
    } catch {
      // Storage full or forbidden (private mode): the session lives in memory only.
    }
  }

  /** Another tab refreshed or signed out: adopt its tokens rather than spend ours. */
  #onStorage(e) {
    if (e.key !== this.storageKey || e.storageArea !== this.storage) return;
    const other = this.#loadSession();
    if (!other) {
      if (this.session) this.#endSession('logout');
    } else if (this.session && other.user.id === this.session.user.id) {
      this.session = other;
      this.#scheduleRefresh();
      this.#refreshSocket();
    }
  }

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.session) return;
    const exp = tokenExpiry(this.session.access_token);
    if (!exp) return;
    // A minute early, with a little spread so tabs do not all wake at once.
    const ms = Math.max(5000, exp * 1000 - Date.now() - 60000 - Math.random() * 10000);
    this.#refreshTimer = setTimeout(() => this.#refresh(false).catch(() => {}), ms);
  }

  async #freshToken() {
    const exp = tokenExpiry(this.session?.access_token ?? '');
    if (exp && exp * 1000 - Date.now() < 30000) await this.#refresh(false);
  }

  /**
   * Spends the refresh token for a new pair. One refresh at a time, across tabs where the
   * browser has Web Locks: a token spent twice would revoke the whole session.
   * @param {boolean} force refresh even if another tab just did
   * @param {string} [endReason] the `signedout` reason if the server refuses
   */
  #refresh(force, endReason = 'expired') {
    if (this.#refreshing) return this.#refreshing;
    const run = async () => {
      const stored = this.#loadSession();
      if (stored && this.session && stored.user.id === this.session.user.id && stored.refresh_token !== this.session.refresh_token) {
        this.session = stored;
        if (!force || tokenExpiry(stored.access_token) * 1000 - Date.now() > 60000) {
          this.#scheduleRefresh();
          this.#refreshSocket();
          return;
        }
      }
      if (!this.session) return;
      try {
        const res = await this.#fetch('POST', '/auth/refresh', { refresh_token: this.session.refresh_token }, null);
        this.#setSession(res);
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
          this.#endSession(e.status === 403 ? 'banned' : endReason);
        } else {
          // Offline or a server hiccup: try again soon; the socket needs no fresh token.
          clearTimeout(this.#refreshTimer);
          this.#refreshTimer = setTimeout(() => this.#refresh(false).catch(() => {}), 15000);
        }
        throw e;
      }
    };
    const locked = globalThis.navigator?.locks ? () => navigator.locks.request('plauder-refresh', run) : run;
    this.#refreshing = locked().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  // ---- connection ------------------------------------------------------------------------

  /** Opens the socket (and keeps it open until {@link PlauderClient#disconnect}). */
  connect() {
    this.#wanted = true;
    if (this.#ws || this.#reconnectTimer) return;
    this.#open();
  }

  /**
   * Tries to reconnect now instead of waiting out the backoff, when the caller knows the server
   * is reachable again (the chat app's reachability check). Does nothing while connected.
   */
  retryNow() {
    this.#wakeUp();
  }

  /** Closes the socket and stops reconnecting. Pending messages stay queued. */
  disconnect() {
    this.#wanted = false;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    clearInterval(this.#pingTimer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = null;
      ws.close(1000);
      this.#failInflight();
    }
    this.#setState('closed');
  }

  async #open() {
    if (!this.session || !this.#wanted) return;
    this.#setState(this.#helloCount > 0 || this.#attempt > 0 ? 'reconnecting' : 'connecting');
    try {
      await this.#freshToken();
    } catch (e) {
      if (!this.session) return;
    }
    if (!this.session || !this.#wanted || this.#ws) return;
    const url = new URL('/ws', this.baseUrl || globalThis.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.session.access_token);
    this.#socketToken = this.session.access_token;
    let ws;
    try {
      ws = new WebSocket(url.toString());
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    ws.onmessage = (e) => this.#onFrame(e.data);
    ws.onclose = (e) => this.#onClose(ws, e.code);
    ws.onerror = () => {};
  }

  #onClose(ws, code) {
    if (ws !== this.#ws) return;
    this.#ws = null;
    clearInterval(this.#pingTimer);
    this.#failInflight();
    const final = FINAL_CLOSE.get(code);
    if (final === 'banned') {
      this.#endSession('banned');
      return;
    }
    if (final === 'revoked') {
      // Revoked tokens: a refresh will fail too, and that ends the session; if it works (the
      // revocation was of an older family), carry on with the new token.
      this.#refresh(true, 'revoked').then(() => this.#scheduleReconnect(), () => {});
      this.#setState('reconnecting');
      return;
    }
    // Before the first hello, an upgrade refused for an expired token looks like 1006 too.
    if (this.#attempt > 0 && tokenExpiry(this.session?.access_token ?? '') * 1000 < Date.now() + 30000) {
      this.#refresh(true).catch(() => {});
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    if (!this.#wanted || !this.session) {
      this.#setState('closed');
      return;
    }
    this.#setState('reconnecting');
    // Full jitter: a server restart does not get every client back in the same instant.
    const cap = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(this.#attempt, 10));
    const delay = Math.random() * cap;
    this.#attempt += 1;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#open();
    }, delay);
  }

  /** Back online or the tab woke up: try at once instead of waiting out the backoff. */
  #wakeUp() {
    if (this.#wanted && !this.#ws && this.#reconnectTimer) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
      this.#open();
    }
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    // Closed for good (signed out, or disconnect()): a choice still waiting will not be sent.
    if (state === 'closed' && this.#presenceChoice) {
      const { waiters } = this.#presenceChoice;
      this.#presenceChoice = null;
      for (const w of waiters) w.reject(new ApiError('unavailable', 'Not connected.', 0));
    }
    this.#emit('state', { state });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #onFrame(text) {
    this.#lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === 'reply') {
      const waiter = this.#inflight.get(frame.id);
      if (!waiter) return;
      this.#inflight.delete(frame.id);
      if (frame.ok) waiter.resolve(frame.data ?? {});
      else waiter.reject(new ApiError(frame.error?.code ?? 'internal', frame.error?.message ?? 'Error', 0, frame.error?.details));
      return;
    }
    if (frame.type === 'pong') return;
    const data = frame.data ?? {};
    if (frame.type === 'hello') {
      this.#onHello(data);
      return;
    }
    if (HISTORY_EVENTS.has(frame.type)) {
      this.#onHistory(frame.type, data);
      return;
    }
    if (frame.type === 'room.member_added' && data.room && data.user?.id === this.user?.id) {
      this.watchRoom(data.room.id, data.room.last_seq ?? 0);
    }
    if (frame.type === 'room.deleted' || (frame.type === 'room.member_removed' && data.user_id === this.user?.id)) {
      this.forgetRoom(data.room_id);
    }
    // Kept with the session, so that a reload before the next `hello` starts from it.
    if (frame.type === 'presence.chosen') this.#ownUser({ presence_status: data.status });
    this.#emit(frame.type, data);
  }

  async #onHello(data) {
    const reconnect = this.#helloCount > 0;
    this.#helloCount += 1;
    this.#attempt = 0;
    this.#heartbeatMs = data.heartbeat_ms || 15000;
    this.#ownUser(data.user);
    this.#setState('open');
    // Tokens refreshed while the socket was connecting: hand it the new one now.
    if (this.#socketToken !== this.session?.access_token) this.#refreshSocket();
    this.#startWatchdog();
    this.#sendPresenceChoice();
    this.#emit('hello', { ...data, reconnect });
    // Whatever happened while we were away is in the database: catch up, then send what waits.
    await Promise.all([...this.#lastSeq.keys()].map((room) => this.#syncRoom(room).catch(() => {})));
    this.#flush();
  }

  /** Pings at the heartbeat; a socket silent for two heartbeats is dead even if no close came. */
  #startWatchdog() {
    clearInterval(this.#pingTimer);
    const ws = this.#ws;
    this.#pingTimer = setInterval(() => {
      if (ws !== this.#ws || ws.readyState !== 1) return;
      if (Date.now() - this.#lastFrameAt > 2 * this.#heartbeatMs + 5000) {
        ws.close(4000);
        this.#onClose(ws, 1006);
        return;
      }
      ws.send('{"type":"ping"}');
    }, this.#heartbeatMs);
  }

  #failInflight() {
    for (const waiter of this.#inflight.values()) waiter.reject(new ApiError('unavailable', 'Disconnected.', 0));
    this.#inflight.clear();
    for (const p of this.#queue) if (p.state === 'sending') p.state = 'queued';
  }

  /**
   * Sends a command and resolves with its reply's data.
   * @param {string} type e.g. `typing`
   * @param {object} data
   * @returns {Promise<any>}
   * @throws {ApiError} the server's error, or `unavailable` when not connected
   */
  command(type, data) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1 || this.state !== 'open') {
      return Promise.reject(new ApiError('unavailable', 'Not connected.', 0));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#inflight.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, type, data }));
    });
  }

  // ---- rooms and recovery ----------------------------------------------------------------

  /**
   * Keeps a room in sync from `lastSeq` on: after every reconnect and on a seq gap, the client
   * asks for the changes since the last seq it saw. Rooms the user is added to are watched
   * automatically.
   * @param {string} roomId
   * @param {number} lastSeq the room's `last_seq` as the app last loaded it
   */
  watchRoom(roomId, lastSeq) {
    const known = this.#lastSeq.get(roomId);
    if (known === undefined || lastSeq > known) this.#lastSeq.set(roomId, lastSeq);
  }

  /** Stops watching a room (left or deleted). @param {string} roomId */
  forgetRoom(roomId) {
    this.#lastSeq.delete(roomId);
  }

  /**
   * Records a message the app loaded itself (history over REST), so the same revision is not
   * announced again and older ones never overwrite it. Returns whether it is news.
   * @param {Message} message
   * @returns {boolean}
   */
  accept(message) {
    const known = this.#revs.get(message.id);
    if (known !== undefined && known >= message.rev) return false;
    this.#revs.set(message.id, message.rev);
    return true;
  }

  #deliver(message, kind) {
    if (this.accept(message)) this.#emit('message', { message, kind });
  }

  #onHistory(kind, data) {
    const message = data.message;
    if (!message) return;
    const room = message.room_id;
    const seq = data.seq ?? message.rev;
    const last = this.#lastSeq.get(room);
    if (last !== undefined && seq > last + 1) {
      // A gap: something was missed (or superseded); sync from what we had. The event itself is
      // still applied now: sync may return it again, and the rev check drops the repeat.
      this.#syncRoom(room, last).catch(() => {});
    }
    if (last === undefined || seq > last) this.#lastSeq.set(room, seq);
    this.#deliver(message, kind);
  }

  /**
   * Fetches every change of a room since `since` (paging on the last rev) and announces it.
   * @param {string} roomId
   * @param {number} [since] defaults to the last seq seen
   */
  #syncRoom(roomId, since = this.#lastSeq.get(roomId) ?? 0) {
    const running = this.#syncing.get(roomId);
    if (running && running.since <= since) return running.promise;
    const promise = (async () => {
      let from = since;
      for (;;) {
        const r = await this.command('sync', { room_id: roomId, since_seq: from, limit: 500 });
        for (const m of r.messages ?? []) this.#deliver(m, 'sync');
        const lastRev = r.messages?.length ? r.messages[r.messages.length - 1].rev : from;
        if (!r.has_more || lastRev <= from) {
          const top = Math.max(r.last_seq ?? 0, lastRev);
          if (this.#lastSeq.has(roomId) && top > (this.#lastSeq.get(roomId) ?? 0)) this.#lastSeq.set(roomId, top);
          this.#emit('synced', { room_id: roomId, last_seq: this.#lastSeq.get(roomId) ?? top });
          return;
        }
        from = lastRev;
      }
    })().finally(() => {
      if (this.#syncing.get(roomId)?.promise === promise) this.#syncing.delete(roomId);
    });
    this.#syncing.set(roomId, { since, promise });
    return promise;
  }

  // ---- sending ---------------------------------------------------------------------------

  /**
   * Queues a message and sends it as soon as the socket is open; re-sent with the same
   * client_msg_id after a reconnect until the server confirms it.
   * @param {string} roomId
   * @param {string} body
   * @param {{replyTo?: ?string, attachments?: Attachment[]}} [options] `attachments`: files
   *   from {@link PlauderClient#upload} to send with it (the body may then be empty)
   * @returns {Promise<Message>} the stored message; rejects with the server's error when it is
   *   refused for good (the entry then stays in {@link PlauderClient#pending} as `failed`)
   */
  send(roomId, body, options = {}) {
    return new Promise((resolve, reject) => {
      /** @type {PendingMessage & {resolve: Function, reject: Function}} */
      const entry = {
        client_msg_id: randomId(),
        room_id: roomId,
        body,
        reply_to: options.replyTo ?? null,
        attachments: [...(options.attachments ?? [])],
        state: 'queued',
        error: null,
        created_at: new Date().toISOString(),
        resolve,
        reject,
      };
      this.#queue.push(entry);
      this.#emit('pending', { room_id: roomId });
      this.#flush();
    });
  }

  /**
   * Messages of a room not yet confirmed by the server, oldest first.
   * @param {string} roomId
   * @returns {PendingMessage[]}
   */
  pending(roomId) {
    return this.#queue
      .filter((p) => p.room_id === roomId)
      .map(({ client_msg_id, room_id, body, reply_to, attachments, state, error, created_at }) => ({ client_msg_id, room_id, body, reply_to, attachments, state, error, created_at }));
  }

  /** Sends a failed message again. @param {string} clientMsgId */
  retry(clientMsgId) {
    const p = this.#queue.find((q) => q.client_msg_id === clientMsgId);
    if (p && p.state === 'failed') {
      p.state = 'queued';
      p.error = null;
      this.#emit('pending', { room_id: p.room_id });
      this.#flush();
    }
  }

  /** Drops a failed or queued message. @param {string} clientMsgId */
  discard(clientMsgId) {
    const i = this.#queue.findIndex((q) => q.client_msg_id === clientMsgId && q.state !== 'sending');
    if (i < 0) return;
    const [p] = this.#queue.splice(i, 1);
    p.reject(new ApiError('bad_request', 'Discarded.', 0));
    this.#emit('pending', { room_id: p.room_id });
  }

  #flush() {
    if (this.state !== 'open') return;
    for (const p of this.#queue) {
      if (p.state !== 'queued' || p.retryAt > Date.now()) continue;
      p.state = 'sending';
      const data = { room_id: p.room_id, body: p.body, client_msg_id: p.client_msg_id };
      if (p.reply_to) data.reply_to = p.reply_to;
      if (p.attachments.length) data.attachment_ids = p.attachments.map((a) => a.id);
      this.command('message.send', data).then(
        (r) => {
          this.#queue = this.#queue.filter((q) => q !== p);
          this.#deliver(r.message, 'sent');
          this.#emit('pending', { room_id: p.room_id });
          p.resolve(r.message);
        },
        (e) => this.#sendFailed(p, e),
      );
    }
  }

  #sendFailed(p, e) {
    if (!this.#queue.includes(p)) return;
    if (e.code === 'unavailable' || e.code === 'internal') {
      // Disconnected, or the server is in trouble: the same client_msg_id goes again later,
      // after the next hello (or in a few seconds, for a server error).
      p.state = 'queued';
      if (e.code === 'internal' || this.state === 'open') this.#retryLater(p, 2000 + Math.random() * 3000);
      return;
    }
    if (e.code === 'rate_limited') {
      p.state = 'queued';
      this.#retryLater(p, Number(e.details?.retry_after_ms) || 1000);
      return;
    }
    p.state = 'failed';
    p.error = e;
    this.#emit('pending', { room_id: p.room_id });
    p.reject(e);
  }

  #retryLater(p, ms) {
    p.retryAt = Date.now() + ms;
    setTimeout(() => this.#flush(), ms + 10);
  }

  // ---- commands --------------------------------------------------------------------------

  /** @param {string} messageId @param {string} body @returns {Promise<Message>} */
  async edit(messageId, body) {
    const r = await this.command('message.edit', { message_id: messageId, body });
    this.#deliver(r.message, 'message.updated');
    return r.message;
  }

  /** @param {string} messageId @returns {Promise<void>} */
  async remove(messageId) {
    await this.command('message.delete', { message_id: messageId });
  }

  /** @param {string} messageId @param {string} emoji @returns {Promise<Message>} */
  async react(messageId, emoji) {
    const r = await this.command('reaction.add', { message_id: messageId, emoji });
    this.#deliver(r.message, 'reaction.updated');
    return r.message;
  }

  /** @param {string} messageId @param {string} emoji @returns {Promise<Message>} */
  async unreact(messageId, emoji) {
    const r = await this.command('reaction.remove', { message_id: messageId, emoji });
    this.#deliver(r.message, 'reaction.updated');
    return r.message;
  }

  /** Tells the room's other members that the user is (not) typing. Never throws. */
  typing(roomId, active) {
    return this.command('typing', { room_id: roomId, active }).catch(() => {});
  }

  /**
   * Moves the read marker (over the socket, or REST when it is down).
   * @param {string} roomId @param {number} seq
   * @returns {Promise<{unread_count: number}>}
   */
  async markRead(roomId, seq) {
    if (this.state === 'open') return this.command('read', { room_id: roomId, seq });
    return this.api('POST', `/rooms/${encodeURIComponent(roomId)}/read`, { seq });
  }

  /**
   * Sets the account's chosen status. Chosen while the socket is connecting or reconnecting (a
   * page just loaded, a network change), the choice is sent after the next `hello` instead of
   * failing with `unavailable`, as queued messages are; a later choice replaces a waiting one,
   * and every caller waiting is answered with the last one's reply.
   * @param {'online'|'away'|'dnd'|'invisible'} status
   */
  setPresence(status) {
    if (this.state === 'open' || !this.#wanted || !this.session) {
      return this.command('presence.set', { status });
    }
    return new Promise((resolve, reject) => {
      const choice = this.#presenceChoice ?? { waiters: [] };
      choice.status = status;
      choice.waiters.push({ resolve, reject });
      this.#presenceChoice = choice;
    });
  }

  /** Sends the status chosen while the socket was not open; called once it is. */
  #sendPresenceChoice() {
    const choice = this.#presenceChoice;
    if (!choice) return;
    this.#presenceChoice = null;
    this.command('presence.set', { status: choice.status }).then(
      (data) => {
        for (const w of choice.waiters) w.resolve(data);
      },
      (e) => {
        // The socket went down before the reply: the choice waits for the next hello again,
        // behind a newer one if that came meanwhile.
        if (e.code === 'unavailable' && this.#wanted && this.session) {
          if (this.#presenceChoice) this.#presenceChoice.waiters.unshift(...choice.waiters);
          else this.#presenceChoice = choice;
          return;
        }
        for (const w of choice.waiters) w.reject(e);
      },
    );
  }

  /**
   * Current presence of users, and `presence` events for them from now on.
   * @param {string[]} userIds at most 500
   * @returns {Promise<{statuses: {user_id: string, status: string, last_seen_at: ?string}[]}>}
   */
  subscribePresence(userIds) {
    return this.command('presence.subscribe', { user_ids: userIds.slice(0, 500) });
  }
}
