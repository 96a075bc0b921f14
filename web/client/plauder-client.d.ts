// Type declarations for plauder-client.js, written by hand from docs/protocol.md (the wire
// contract: objects, REST errors, WebSocket commands and events). `tsc --noEmit` checks them
// against the usage examples in examples/ (scripts/check-client.sh, run by scripts/test.sh).
// When the protocol gains a command or an event, add it here and to an example.

// ---- objects ------------------------------------------------------------------------------

/** One of the protocol's error codes. */
export type ErrorCode =
  /** `login` of an account with two-factor on: `details.mfa_token` goes to `completeLogin`. */
  | 'mfa_required'
  | 'bad_request'
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'payload_too_large'
  /** An upload of a type the server does not accept, or whose name or declared type disagree. */
  | 'unsupported_media_type'
  /** A download's `Range` outside the file. */
  | 'range_not_satisfiable'
  | 'unavailable'
  | 'internal';

/** RFC 3339 UTC time with milliseconds. */
export type Timestamp = string;

export type Role = 'admin' | 'moderator' | 'user' | 'guest';
export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';
/** What a user may set; `invisible` shows as `offline` to others. */
export type SettablePresence = 'online' | 'away' | 'dnd' | 'invisible';

export interface Presence {
  status: PresenceStatus;
  last_seen_at: Timestamp | null;
}

export interface User {
  id: string;
  username: string;
  display_name: string;
  avatar_url: string | null;
  bio: string | null;
  role: Role;
  /** An account for a program (a bot); show it with a badge. */
  is_bot: boolean;
  created_at: Timestamp;
  /** Only on the caller's own user object. */
  email?: string;
  /** Own profile only: whether `email` was confirmed through a verification mail's link. */
  email_verified?: boolean;
  /** Only on the caller's own user object: the status chosen last with `presence.set`. */
  presence_status?: SettablePresence;
  /** Only on the caller's own user object: who sees the user's presence besides staff. */
  presence_visibility?: 'contacts' | 'everyone';
  presence?: Presence;
}

export interface Reaction {
  emoji: string;
  user_ids: string[];
}

/** A file: uploaded (`upload`), then part of a message once a `send` names it. */
export interface Attachment {
  id: string;
  /** The uploader's file name, for display only. */
  name: string;
  /** Bytes. */
  size: number;
  /** Decided by the server from the content. */
  content_type: string;
  /** Images only. */
  width: number | null;
  height: number | null;
  /** A signed link (relative to the server) that works without a token, e.g. in `<img src>`;
   * valid for a while (history, sync and events hand out fresh ones). */
  url: string;
  /** A smaller image for inline display; null for files that are not images. */
  thumbnail_url: string | null;
}

export interface Message {
  id: string;
  room_id: string;
  /** The room's seq when the message was created. */
  seq: number;
  /** The seq of its latest change. */
  rev: number;
  /** null once the sender's account is deleted (a "deleted user"). */
  sender_id: string | null;
  /** Empty when deleted. */
  body: string;
  reply_to: string | null;
  client_msg_id: string | null;
  created_at: Timestamp;
  edited_at: Timestamp | null;
  deleted: boolean;
  reactions: Reaction[];
  /** Files sent with it (empty once deleted, and in room listings' `last_message` previews). */
  attachments: Attachment[];
}

export type RoomKind = 'group' | 'direct' | 'support';
export type MemberRole = 'owner' | 'moderator' | 'member';

export interface Room {
  id: string;
  kind: RoomKind;
  name: string | null;
  topic: string | null;
  is_public: boolean;
  created_by: string | null;
  created_at: Timestamp;
  last_seq: number;
  /** In listings and details for the caller. */
  my_role?: MemberRole | null;
  last_read_seq?: number | null;
  unread_count?: number | null;
  last_message?: Message | null;
}

export interface FriendRequest {
  id: string;
  from: User;
  to: User;
  created_at: Timestamp;
}

export interface SupportSessionSummary {
  id: string;
  email: string | null;
  status: 'open' | 'closed';
  created_at: Timestamp;
}

export interface Session {
  user: User;
  access_token: string;
  refresh_token: string;
}

export interface PendingMessage {
  client_msg_id: string;
  room_id: string;
  body: string;
  reply_to: string | null;
  attachments: Attachment[];
  state: 'queued' | 'sending' | 'failed';
  error: ApiError | null;
  created_at: Timestamp;
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** An error in the protocol's model. */
export class ApiError extends Error {
  constructor(code: ErrorCode, message: string, status?: number, details?: Record<string, unknown>);
  readonly name: 'ApiError';
  code: ErrorCode;
  /** The HTTP status; 0 for WebSocket replies and network failures. */
  status: number;
  /** E.g. `retry_after_ms` for `rate_limited`, `fields` for `validation_failed`. */
  details: Record<string, unknown> | undefined;
}

// ---- WebSocket commands ------------------------------------------------------------------

/** Every client command: its `data` and the `data` of its ok reply. */
export interface Commands {
  'message.send': {
    data: { room_id: string; body: string; client_msg_id?: string; reply_to?: string; attachment_ids?: string[] };
    reply: { message: Message };
  };
  'message.edit': { data: { message_id: string; body: string }; reply: { message: Message } };
  'message.delete': { data: { message_id: string }; reply: Record<string, never> };
  'reaction.add': { data: { message_id: string; emoji: string }; reply: { message: Message } };
  'reaction.remove': { data: { message_id: string; emoji: string }; reply: { message: Message } };
  typing: { data: { room_id: string; active: boolean }; reply: Record<string, never> };
  read: { data: { room_id: string; seq: number }; reply: { unread_count: number } };
  sync: {
    data: { room_id: string; since_seq: number; limit?: number };
    reply: { room_id: string; last_seq: number; messages: Message[]; has_more: boolean };
  };
  'presence.set': { data: { status: SettablePresence }; reply: Record<string, never> };
  'presence.subscribe': { data: { user_ids: string[] }; reply: { statuses: PresenceUpdate[] } };
  'auth.refresh': { data: { token: string }; reply: { expires_at: Timestamp } };
  ping: { data: Record<string, never>; reply: Record<string, never> };
}

export type CommandType = keyof Commands;

// ---- events ------------------------------------------------------------------------------

export interface PresenceUpdate {
  user_id: string;
  status: PresenceStatus;
  last_seen_at: Timestamp | null;
}

/** Server events the client passes on under their own names, with their `data` as detail. */
export interface ServerEvents {
  typing: { room_id: string; user_id: string; active: boolean };
  /**
   * A piece of a message still being written (the assistant streaming an answer): append the
   * `delta`s of one `message_id` in `index` order, replace them with the `message` event that
   * carries that id; `aborted` ends a stream that will have no message.
   */
  'message.delta': {
    room_id: string;
    message_id: string;
    sender_id: string;
    index: number;
    delta: string;
    aborted: boolean;
  };
  /** To a bot: a message started with one of its slash commands (docs/integrations.md). */
  'command.invoked': {
    invocation_id: string;
    command: string;
    args: string;
    room_id: string;
    message_id: string;
    caller: User;
  };
  /** A bot's answer to the user's slash command that nobody else sees. */
  'command.reply': { invocation_id: string; room_id: string; bot_id: string; text: string };
  read: { room_id: string; user_id: string; seq: number };
  presence: PresenceUpdate;
  /** To each of the user's own connections: the status chosen with `presence.set` on any of them. */
  'presence.chosen': { status: SettablePresence };
  'room.member_added': { room_id: string; user: User; room?: Room };
  'room.member_removed': { room_id: string; user_id: string };
  'room.updated': { room: Room };
  'room.deleted': { room_id: string };
  'friend.request': { request: FriendRequest };
  'friend.accepted': { user: User };
  'support.session_created': { room: Room; user: User; session: SupportSessionSummary };
  'support.session_closed': { session_id: string; room_id: string; status: 'closed'; closed_at: Timestamp };
  error: { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };
}

/** How a message reached the client: a history event's type, a sync, or the reply to a send. */
export type MessageKind = 'message.new' | 'message.updated' | 'message.deleted' | 'reaction.updated' | 'sync' | 'sent';

export type SignedOutReason = 'logout' | 'revoked' | 'banned' | 'expired';

/** The client's own events. */
export interface ClientEvents {
  state: { state: ConnectionState };
  hello: { user: User; session_id: string; heartbeat_ms: number; instance: string; reconnect: boolean };
  message: { message: Message; kind: MessageKind };
  synced: { room_id: string; last_seq: number };
  pending: { room_id: string };
  session: { session: Session };
  signedout: { reason: SignedOutReason };
}

/** Every event a {@link PlauderClient} dispatches, by name, with its `detail`. */
export type PlauderEvents = ClientEvents & ServerEvents;

export type PlauderEventListener<K extends keyof PlauderEvents> = (event: CustomEvent<PlauderEvents[K]>) => void;

// ---- the client --------------------------------------------------------------------------

export interface PlauderClientOptions {
  /** The server's origin; the page's own by default. */
  baseUrl?: string;
  /** Where the session is kept: localStorage by default; null keeps it in memory only. */
  storage?: Storage | null;
  /** The storage key, `plauder.session` by default. */
  storageKey?: string;
  /** The longest wait between reconnect attempts, 30 s by default. */
  maxBackoffMs?: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class PlauderClient extends EventTarget {
  constructor(options?: PlauderClientOptions);

  readonly baseUrl: string;
  storage: Storage | null;
  storageKey: string;
  maxBackoffMs: number;
  session: Session | null;
  state: ConnectionState;
  /** The signed-in user, or null. */
  readonly user: User | null;

  /**
   * Where the server requires a confirmed address, resolves without signing in (the user's
   * `email_verified` is false; a mail's link confirms it).
   */
  register(fields: { username: string; email: string; password: string; display_name?: string }): Promise<User>;
  /** Rejects with code `mfa_required` (and `details.mfa_token`) when two-factor is on. */
  login(login: string, password: string): Promise<User>;
  completeLogin(mfaToken: string, code: string): Promise<User>;
  /** Resolves the same whether or not the address has an account. */
  requestPasswordReset(email: string): Promise<void>;
  /** Sets the password with a reset mail's token; every session ends (sign in afterwards). */
  confirmPasswordReset(token: string, password: string): Promise<void>;
  /** Turns two-factor on; the new session replaces this one; resolves with the recovery codes. */
  confirmTotp(code: string): Promise<string[]>;
  /** Changes the password; other devices are signed out, this one carries on with a new session. */
  changePassword(current: string, next: string): Promise<void>;
  /** Confirms the account's address with the token of a verification mail's link. */
  verifyEmail(token: string): Promise<void>;
  /** Asks for a new verification mail (answered the same for every address). */
  resendVerification(email: string): Promise<void>;
  openSupport(fields: {
    name: string;
    email?: string;
    /**
     * Where the chat started, shown to staff (docs/protocol.md); `browser_id` (16–64 of
     * `[A-Za-z0-9_-]`) lets staff block this browser and is never shown.
     */
    context?: { page_url?: string; language?: string; time_zone?: string; browser_id?: string };
  }): Promise<{ session_id: string; room: Room; user: User }>;
  /** Continues a support chat from a reply mail's link (`#plauder-resume=<token>`). */
  resumeSupport(token: string): Promise<{ session_id: string; room: Room; user: User }>;
  logout(): Promise<void>;
  /** Ends every session of the account (`POST /auth/logout-all`), this one included. */
  logoutEverywhere(): Promise<void>;

  /**
   * A REST call under `/api/v1`; resolves with the JSON body (null for 204), rejects with an
   * {@link ApiError}. `T` is the body's type as docs/protocol.md gives it, e.g.
   * `api<{ rooms: Room[] }>('GET', '/rooms')`.
   */
  api<T = unknown>(method: HttpMethod, path: string, body?: object): Promise<T>;

  connect(): void;
  /** Reconnects at once instead of waiting out the backoff (no-op while connected). */
  retryNow(): void;
  disconnect(): void;

  /** Any WebSocket command; resolves with its reply's data. */
  command<K extends CommandType>(type: K, data: Commands[K]['data']): Promise<Commands[K]['reply']>;

  watchRoom(roomId: string, lastSeq: number): void;
  forgetRoom(roomId: string): void;
  accept(message: Message): boolean;

  /**
   * Sets the caller's avatar from an image (`PUT /users/me/avatar`): the server crops it to a
   * square, scales and re-encodes it; the user comes back with `avatar_url` naming the picture.
   * Rejects with an {@link ApiError} (`unsupported_media_type`, `payload_too_large`, …).
   */
  setAvatar(image: Blob): Promise<User>;
  /** Removes the caller's avatar (`DELETE /users/me/avatar`). */
  removeAvatar(): Promise<User>;
  /**
   * Uploads a file to send with a message (`POST /attachments`); rejects with an
   * {@link ApiError} (`unsupported_media_type`, `payload_too_large`, …) or, when `signal`
   * aborts it, a DOMException named `AbortError`.
   */
  upload(
    file: Blob,
    options?: { name?: string; onProgress?: (sent: number, total: number) => void; signal?: AbortSignal },
  ): Promise<Attachment>;
  /** `attachments`: uploads to send with the message (the body may then be empty). */
  send(roomId: string, body: string, options?: { replyTo?: string | null; attachments?: Attachment[] }): Promise<Message>;
  pending(roomId: string): PendingMessage[];
  retry(clientMsgId: string): void;
  discard(clientMsgId: string): void;

  edit(messageId: string, body: string): Promise<Message>;
  remove(messageId: string): Promise<void>;
  react(messageId: string, emoji: string): Promise<Message>;
  unreact(messageId: string, emoji: string): Promise<Message>;
  /** Never rejects. */
  typing(roomId: string, active: boolean): Promise<Record<string, never> | void>;
  markRead(roomId: string, seq: number): Promise<{ unread_count: number }>;
  /** While the socket is (re)connecting, the choice is sent after the next `hello`; the last one wins. */
  setPresence(status: SettablePresence): Promise<Record<string, never>>;
  subscribePresence(userIds: string[]): Promise<{ statuses: PresenceUpdate[] }>;

  addEventListener<K extends keyof PlauderEvents>(
    type: K,
    listener: PlauderEventListener<K>,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof PlauderEvents>(
    type: K,
    listener: PlauderEventListener<K>,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}
