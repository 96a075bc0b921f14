//! Settings: config/default.toml, then config/$PLAUDER_ENV.toml, then PLAUDER__SECTION__KEY
//! environment variables (and DATABASE_URL / REDIS_URL), checked once at start-up so that a bad
//! value stops the process with a message naming the key rather than failing later.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub realtime: RealtimeSettings,
    pub quota: QuotaSettings,
    pub retention: RetentionSettings,
    pub webhooks: WebhookSettings,
    pub cors: CorsSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub email: EmailSettings,
    pub password_reset: PasswordResetSettings,
    pub mfa: MfaSettings,
    pub attachments: AttachmentSettings,
    pub assistant: AssistantSettings,
    pub support: SupportSettings,
    pub accounts: AccountSettings,
    pub push: PushSettings,
    pub notifications: NotificationSettings,
}

/// Mail around support chats (`service::support_mail`): staff answers mailed to a visitor who is
/// away, the link back into the conversation, and the staff's mail for a new chat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportSettings {
    /// How long after a staff answer to an absent visitor its mail goes out; answers meanwhile
    /// join the same mail, and none goes when the visitor reads them or is connected by then.
    pub reply_mail_delay_secs: u64,
    /// How long the conversation link of such a mail works (closing the session ends it sooner).
    pub resume_token_ttl_secs: u64,
    /// `POST /support/resume` per client address: a burst, then one per interval (429 past it).
    pub resume_burst: u32,
    pub resume_replenish_interval_ms: u64,
    /// Mail every admin and moderator with an address when a visitor starts a chat (with its
    /// first message) while none of them is online.
    pub staff_new_chat_mail: bool,
}

/// Registration's email verification (`service::verification`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Registration mails a verification link either way; with this on, an account must follow it
    /// before it can log in (403 with `details.reason = "email_not_verified"`).
    pub require_email_verification: bool,
    /// How long a verification link works.
    pub verification_token_ttl_secs: u64,
    /// Verification mails per address asked for (`POST /auth/verify-email/resend`): a burst, then
    /// one per interval; past it the answer is still 202 but no mail goes out.
    pub resend_address_burst: u32,
    pub resend_address_replenish_interval_ms: u64,
}

/// The built-in assistant (`service::assistant`): when it answers, the language model it streams
/// from (optional: without one it answers from the FAQ), and what it may spend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantSettings {
    /// Off: the assistant never answers (the knowledge base can still be edited).
    pub enabled: bool,
    /// The bot account's username (created on first use); `@username` in a message calls it.
    pub username: String,
    /// The bot account's display name.
    pub display_name: String,
    /// An OpenAI-compatible chat-completions URL (`https://api.example.com/v1/chat/completions`);
    /// empty: no model, answers come from the FAQ.
    pub endpoint: String,
    /// The `model` of each request.
    pub model: String,
    /// The environment variable holding the endpoint's API key (sent as a bearer token); unset or
    /// empty: no Authorization header. The key itself never goes into config files.
    pub api_key_env: String,
    /// In a support chat, how long after a visitor's message the assistant waits for staff to
    /// answer before it does; with no staff online it answers at once.
    pub support_wait_ms: u64,
    /// The model's whole answer, from the request to the last chunk; past it the answer falls back
    /// to the FAQ.
    pub timeout_ms: u64,
    /// The longest silence between two chunks of a streamed answer before it counts as failed.
    pub idle_timeout_ms: u64,
    /// `max_tokens` of each request: the longest answer.
    pub max_tokens: u32,
    /// Tokens (prompt and answer, as the endpoint reports them, else estimated at four
    /// characters a token) the model may use per rolling hour; past it answers come from the FAQ.
    pub tokens_per_hour: u64,
    /// Answers per rolling minute, across all rooms of this instance; past it the assistant stays
    /// silent (a loop of bots or a flood of mentions must not become a flood of answers).
    pub answers_per_minute: u32,
    /// Earlier messages of the room sent to the model with the question.
    pub history_messages: i64,
    /// Knowledge-base passages put into the prompt.
    pub passages: i64,
    /// The share of a question's terms (0 to 1) the best FAQ entry must hold for the assistant to
    /// answer with it when it has no model; below it, it says it does not know.
    pub faq_min_coverage: f64,
    /// The instructions put first in every prompt.
    pub system_prompt: String,
}

/// Outgoing mail (`service::mail`): the SMTP relay, the queue's retries and the links in mails.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// SMTP relay host; empty: no relay, each mail is written to the log instead (and counts as
    /// sent), so a deployment without mail still works.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// SMTP credentials; both empty: no authentication.
    pub username: String,
    pub password: SecretString,
    /// The `From` of every mail, `Name <address>` or a bare address.
    pub from: String,
    /// Where the links in mails point: the public URL of the chat app (`https://chat.example.org`).
    pub public_url: String,
    /// Tries per mail before it is marked failed (and shown as such to admins).
    pub max_attempts: i32,
    /// The wait after the first failure; each further failure doubles it...
    pub retry_initial_ms: u64,
    /// ...up to this.
    pub retry_max_ms: u64,
    /// How often an idle worker looks for due mails (mails queued on this instance wake it at once).
    pub poll_interval_ms: u64,
    /// Mails one worker claims at a time.
    pub batch_size: i64,
    /// Connecting to and talking to the relay, per mail; a claimed mail is not retried by
    /// another instance before twice this has passed.
    pub timeout_secs: u64,
    /// DKIM (RFC 6376): the selector whose public key is published at
    /// `<selector>._domainkey.<domain>`. Empty: mails go out unsigned (the relay may sign).
    pub dkim_selector: String,
    /// The signing domain (`d=`); empty: the domain of `from`.
    pub dkim_domain: String,
    /// The RSA private key that signs, PEM (PKCS#1 or PKCS#8), at least 1024 bits; read at start.
    pub dkim_key_file: String,
}

/// Web Push (`crate::push`): the VAPID key, what subscriptions may name, and the queue's retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    /// The VAPID private key (PKCS#8 PEM), made at first start when missing (mode 0600). Empty:
    /// `vapid_key.pem` under `attachments.directory`, the data directory. Instances of one
    /// deployment must share it: browsers subscribe with its public key.
    pub vapid_key_file: String,
    /// The VAPID `sub` claim: how a push service reaches the operator (`mailto:` or `https:`).
    pub subject: String,
    /// Also accept `http://` endpoints on 127.0.0.1, ::1 or localhost (a local stand-in for a push
    /// service in tests); `https://` is required otherwise, and endpoints must be public addresses.
    pub allow_insecure_endpoints: bool,
    /// How long a push service keeps an undelivered notification (the `TTL` header).
    pub ttl_secs: u32,
    /// Subscriptions (devices) one account may have; a new one past it replaces the oldest.
    pub subscriptions_per_user_max: i64,
    /// Tries per notification before it is dropped.
    pub max_attempts: i32,
    /// The wait after the first failure; each further failure doubles it...
    pub retry_initial_ms: u64,
    /// ...up to this.
    pub retry_max_ms: u64,
    /// How often an idle worker looks for due notifications (ones queued on this instance wake it).
    pub poll_interval_ms: u64,
    /// Notifications one worker claims at a time.
    pub batch_size: i64,
    /// Milliseconds for one request to the push service; a claimed notification is not tried
    /// again by another instance before twice this has passed.
    pub timeout_ms: u64,
}

/// The email digest for users who are away (`service::digest`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Off: no digests are scheduled or sent (users' own choice, `email_digest`, stays stored).
    pub email_digest: bool,
    /// The quiet period: a digest goes this long after the first message it carries, and only to
    /// a user who has been connected nowhere for this long; messages meanwhile join it.
    pub digest_delay_secs: u64,
    /// At most one digest per user per this long.
    pub digest_interval_secs: u64,
    /// How often each instance's worker looks for new messages and due digests.
    pub digest_poll_interval_ms: u64,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on localhost or a private network only).
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `POST /auth/password-reset` and its links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetSettings {
    /// How long a reset link works.
    pub token_ttl_secs: u64,
    /// Requests per client address: a burst, then one per interval (429 past it).
    pub ip_burst: u32,
    pub ip_replenish_interval_ms: u64,
    /// Mails per address asked for: a burst, then one per interval. Past it the request is
    /// still answered 202 but no mail goes out, so nobody can flood a mailbox.
    pub address_burst: u32,
    pub address_replenish_interval_ms: u64,
}

/// TOTP two-factor (`service::mfa`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSettings {
    /// The issuer shown in authenticator apps (the `otpauth://` URI's label and `issuer`).
    pub issuer: String,
    /// How long the challenge of a password login stays open for its code.
    pub challenge_ttl_secs: u64,
    /// Wrong codes in a row an account takes before it is locked for `lockout_secs`.
    pub max_failed_attempts: i32,
    pub lockout_secs: u64,
    /// Admins and moderators without two-factor act as plain users (no staff rights, REST or
    /// WebSocket) until they enrol.
    pub require_for_staff: bool,
}

/// Uploaded files (`service::attachments`): where they are kept, what is accepted, how much.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Where the files are kept: `local` (under `directory`) or `s3` (a bucket, see `s3`).
    pub store: BlobStoreKind,
    /// Where the local store keeps blobs (`blobs/`) and uploads in progress (`tmp/`). Uploads
    /// are written here first whatever the store, so it must have room for a few at once.
    pub directory: String,
    /// Largest upload; a larger one is refused with 413 as soon as the body passes it.
    pub max_bytes: u64,
    /// Media types accepted, as decided from the content (magic bytes).
    pub allowed_types: Vec<String>,
    /// Bytes one account may hold in attachments, sent or not.
    pub user_quota_bytes: u64,
    /// Uploads per account: a burst, then one more every interval.
    pub upload_burst: u32,
    pub upload_replenish_interval_ms: u64,
    /// Largest image, in pixels (width × height, read from the header before any decoding): a
    /// small file that would decode to a huge image is refused.
    pub max_image_pixels: u64,
    /// Most attachments on one message.
    pub max_per_message: usize,
    /// Longer side of image thumbnails, in pixels.
    pub thumbnail_max_px: u32,
    /// Largest avatar upload (`PUT /users/me/avatar`), read into memory to be decoded; larger
    /// is 413.
    pub avatar_max_bytes: u64,
    /// Side of the square picture made of an avatar upload, in pixels (smaller uploads keep
    /// their size).
    pub avatar_px: u32,
    /// A command run on every upload before it can be used, with the file's path as its last
    /// argument: exit 0 accepts, 1 rejects (the file is deleted), anything else or a timeout
    /// refuses the upload as `unavailable`. Empty: no scan.
    pub scan_command: String,
    pub scan_timeout_ms: u64,
    /// Uploads never sent with a message are deleted (row and bytes) this long after upload,
    /// by the retention job.
    pub unsent_retention_secs: u64,
    /// Signed download links are valid for at least this long, at most twice it.
    pub url_ttl_secs: u64,
    /// The bucket, when `store = "s3"`.
    pub s3: S3Settings,
}

/// Which [`crate::storage::BlobStore`] keeps attachment files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// A directory on this machine (`attachments.directory`).
    Local,
    /// An S3 bucket (`attachments.s3`), which several instances can share.
    S3,
}

/// The bucket of `attachments.store = "s3"` (Amazon S3 or an S3-compatible server).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket's name; it must exist (plauder does not create it).
    pub bucket: String,
    /// The bucket's region (S3-compatible servers mostly accept any, `us-east-1` by convention).
    pub region: String,
    /// The server's base URL (`https://minio.internal:9000`); empty: Amazon S3 in `region`.
    pub endpoint: String,
    /// Addresses the bucket as `<bucket>.<endpoint host>` rather than `<endpoint>/<bucket>`,
    /// for servers that only take that form.
    pub virtual_hosted_style: bool,
    /// The access key's id and secret; both are required.
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Allows an `http://` endpoint (a server on a private network only: the keys sign each
    /// request, but the files travel in the clear).
    pub allow_http: bool,
    /// Objects are named `<prefix>/<sha256>`: several deployments (or other data) can share a
    /// bucket under different prefixes. Empty: the bucket's top level.
    pub prefix: String,
    /// Milliseconds one request to the bucket may take, retries included; past it the upload or
    /// download gets 503 `unavailable`.
    pub timeout_ms: u64,
}

/// OpenTelemetry trace export (see `telemetry`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Base URL of an OTLP/HTTP collector (`http://collector:4318`); empty: no traces exported.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

/// Outgoing webhooks (`webhooks`): where deliveries may go, how long they may take, how often
/// they are retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Lets endpoints resolve to loopback, private, link-local and other internal addresses.
    /// Off: such URLs are refused at registration and at every delivery (no request forgery into
    /// the deployment's own network).
    pub allow_private: bool,
    /// Networks (CIDR, e.g. `10.1.2.0/24`) allowed even when `allow_private` is off: known
    /// internal receivers.
    pub allowed_networks: Vec<String>,
    /// Milliseconds to wait for the receiver's TCP (and TLS) connection.
    pub connect_timeout_ms: u64,
    /// Milliseconds for a whole delivery (connect, send, answer); past it the attempt failed.
    pub timeout_ms: u64,
    /// Failed attempts in a row after which an endpoint is disabled (an admin re-enables it).
    pub max_consecutive_failures: i32,
    /// Failed attempts after which one event is given up (`failed`), so that its room's later
    /// events go out; "Send again" queues it once more.
    pub max_attempts: i32,
    /// The first retry's delay; each further one doubles, up to `retry_max_ms`, with up to half
    /// of it added at random (jitter) so failed receivers are not hit in lock-step.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Milliseconds between the delivery worker's looks at the outbox when it found nothing.
    pub poll_interval_ms: u64,
    /// Deliveries one worker pass takes (each to a different endpoint and room).
    pub batch_size: i64,
    /// Milliseconds between re-reads of which events some endpoint wants (endpoint changes made
    /// on this instance apply at once; those of other instances within this interval).
    pub refresh_interval_ms: u64,
}

/// The retention job (`service::retention`): what it deletes, and how old it must be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Seconds between passes on each instance (one instance of the cluster runs a pass at a
    /// time, the others skip); 0 turns the background job off (`plauder retention run` still works).
    pub interval_secs: u64,
    /// Refresh tokens are deleted this many days after they were spent, revoked or expired
    /// (whichever came first). A spent token is kept that long so that presenting it again still
    /// revokes its family (reuse detection).
    pub refresh_token_days: u32,
    /// Guests (support visitors) with no activity for this many days are deleted with their
    /// support rooms and history.
    pub guest_inactive_days: u32,
    /// Closed support sessions are deleted (room, history and the visitor's guest account) this
    /// many days after they were closed.
    pub closed_support_session_days: u32,
    /// Rows deleted per statement, so each statement stays short and holds few locks.
    pub batch_size: i64,
}

/// Cross-origin access to the API for the origins of the operator's own front ends (a dev
/// server, an app on another host); see `web::cors`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`scheme://host[:port]`) allowed to call every API route.
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer.
    pub max_age_secs: u32,
}

/// Bounds on what one client may make the server hold (counts, not rates); each refusal is
/// described in docs/protocol.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// Users one WebSocket connection may watch with `presence.subscribe`, over all its calls.
    pub presence_subscriptions_per_connection_max: usize,
    /// Users one account may watch over all its connections on one instance (each connection
    /// counts the users it named).
    pub presence_subscriptions_per_user_max: usize,
    /// Distinct reaction strings on one message.
    pub reactions_per_message_max: i64,
    /// Reactions one user may put on one message.
    pub reactions_per_user_per_message_max: i64,
    /// Incoming webhooks one room may have (each posts as a bot account of its own).
    pub incoming_hooks_per_room_max: i64,
    /// Open WebSockets of one account on one instance.
    pub sockets_per_user_max: usize,
    /// Open WebSockets from one client address on one instance.
    pub sockets_per_address_max: usize,
    /// Open support rooms one staff connection follows live (the most recently active, and the
    /// ones it opened or that opened since, newest kept).
    pub staff_support_rooms_per_connection_max: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub instance_id: String,
    pub shutdown_timeout_secs: u64,
    /// actix-web's client disconnect timeout: how long a connection the server is done with
    /// waits for the client to close it; also how long a WebSocket closed by the server waits
    /// for the client's answering close frame.
    pub client_disconnect_timeout_ms: u64,
    /// Length of the listening sockets' queue of connections the kernel has set up and the
    /// server not yet accepted (`listen(2)`'s backlog; the kernel caps it at
    /// `net.core.somaxconn`). When it is full the kernel drops the next SYN and the client sends
    /// it again only after a second.
    pub listen_backlog: u32,
    pub max_json_body_bytes: usize,
    /// Addresses and CIDR networks of the proxies whose `X-Forwarded-For` is believed (see
    /// `auth::client_ip`). Empty: the TCP peer is always the client.
    pub trusted_proxies: Vec<String>,
    /// Removed: it trusted the forwarding headers of *every* peer, so any client could pick the
    /// address its limits were counted against. Kept only so that a config still setting it
    /// true stops start-up with a pointer to `trusted_proxies` instead of silently trusting
    /// nobody (or everybody); `false` is accepted and means nothing.
    #[serde(default)]
    pub trust_forwarded_headers: Option<bool>,
    /// `address:port` of a second listener serving only `/metrics`, `/health` and
    /// `/health/ready`, for operators' networks; when set, `/metrics` leaves the main port (the
    /// health routes stay there for balancers). Empty: no admin listener, `/metrics` on the main
    /// port.
    pub admin_bind: String,
}

impl ServerSettings {
    /// The admin listener's address, if one is configured.
    pub fn admin_address(&self) -> Option<&str> {
        Some(self.admin_bind.trim()).filter(|a| !a.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_max_size: usize,
    pub pool_timeout_ms: u64,
    pub migrate_on_start: bool,
    pub send_writers: usize,
    pub send_batch_max: usize,
    /// PostgreSQL's statement_timeout on every pooled connection: a statement running (or
    /// waiting for a lock) longer is cancelled and its request answered 503 `unavailable`.
    pub statement_timeout_ms: u64,
    /// PEM file of the CA(s) the server's certificate must chain to (sslmode in `url`); empty:
    /// the system's roots for verify-ca/verify-full, no check for prefer/require.
    pub tls_ca_file: String,
    /// PEM client certificate and key, for servers that authenticate clients by certificate;
    /// both or neither.
    pub tls_client_cert_file: String,
    pub tls_client_key_file: String,
    /// The tighter statement_timeout of a search's transaction (`SET LOCAL`): full-text search
    /// is the one request whose cost the client's text decides.
    pub search_statement_timeout_ms: u64,
    /// The statement_timeout of the deletions that take a room's or an account's data in one
    /// transaction (`SET LOCAL`): they grow with the messages and may need far longer than
    /// `statement_timeout_ms`.
    pub erase_statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: SecretString,
    /// `url` lists seed nodes of a Redis Cluster (comma-separated): sharded pub/sub and
    /// hash-tagged keys (`realtime/broker/redis/cluster.rs`).
    pub cluster: bool,
    pub channel_prefix: String,
    pub heartbeat_interval_ms: u64,
    pub instance_ttl_ms: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub publish_queue: usize,
    /// PEM file of the CA(s) a `rediss://` server's certificate must chain to; empty: the
    /// system's roots.
    pub tls_ca_file: String,
    /// PEM client certificate and key for `rediss://` servers that ask for one; both or neither.
    pub tls_client_cert_file: String,
    pub tls_client_key_file: String,
}

impl RedisSettings {
    /// Whether instances share events through Redis (a URL is set) or run on the in-process broker.
    pub fn enabled(&self) -> bool {
        !self.url.expose_secret().is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u32,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password hashes (register, login, password change) running at once; 0 means one per CPU
    /// core. Each holds `argon2_memory_kib` while it runs, so this bounds hashing's memory.
    pub password_hash_max_concurrent: usize,
    /// Hashes waiting for a running slot; one more is refused with 503 `unavailable`.
    pub password_hash_max_queued: usize,
}

impl AuthSettings {
    /// `password_hash_max_concurrent`, with 0 resolved to the number of cores.
    pub fn password_hash_concurrency(&self) -> usize {
        match self.password_hash_max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub auth_burst: u32,
    pub auth_replenish_interval_ms: u64,
    pub support_burst: u32,
    pub support_replenish_interval_ms: u64,
    pub contact_burst: u32,
    pub contact_replenish_interval_ms: u64,
    /// Password changes per user (each costs two Argon2 runs): a burst, then one per interval.
    pub password_change_burst: u32,
    pub password_change_replenish_interval_ms: u64,
    /// Rooms one user creates (`POST /rooms`): a burst, then one per interval.
    pub room_create_burst: u32,
    pub room_create_replenish_interval_ms: u64,
    /// Member additions one user makes (`POST /rooms/{id}/members`, one per request).
    pub member_add_burst: u32,
    pub member_add_replenish_interval_ms: u64,
    /// Friend requests one user sends.
    pub friend_request_burst: u32,
    pub friend_request_replenish_interval_ms: u64,
    /// Searches one user runs (messages and users together).
    pub search_burst: u32,
    pub search_replenish_interval_ms: u64,
    pub message_burst: u32,
    pub message_replenish_interval_ms: u64,
    pub command_burst: u32,
    pub command_replenish_interval_ms: u64,
    pub abuse_close_after: u32,
    /// Login attempts one login name gets before it backs off, from any address.
    pub login_attempts_before_backoff: u32,
    /// The first back-off; each further attempt doubles it...
    pub login_backoff_initial_ms: u64,
    /// ...up to this.
    pub login_backoff_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSettings {
    pub heartbeat_interval_ms: u64,
    pub max_frame_bytes: usize,
    pub outbox_limit: usize,
    pub max_in_flight_per_connection: usize,
    pub room_idle_ms: u64,
    pub gap_timeout_ms: u64,
    pub presence_offline_grace_ms: u64,
    pub presence_flush_ms: u64,
    pub last_seen_flush_ms: u64,
    pub token_grace_ms: u64,
    pub revalidate_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

/// The deployment environment, from PLAUDER_ENV (default `development`).
pub fn environment() -> String {
    std::env::var("PLAUDER_ENV").unwrap_or_else(|_| "development".to_owned())
}

impl Settings {
    /// Loads the layered settings from `config_dir` and the process environment.
    ///
    /// # Errors
    /// A missing config/default.toml, a malformed file, an unknown key, a value of the wrong type
    /// or a value that fails [`Settings::validate`]; the message names the key.
    pub fn load(config_dir: &Path) -> Result<Self, String> {
        let settings = Self::load_unchecked(config_dir, &environment())?;
        settings.validate()?;
        Ok(settings)
    }

    /// As [`Settings::load`], checking only what `plauder migrate` needs (the database URL), so
    /// migrations can run where the server's secrets are not present.
    ///
    /// # Errors
    /// As [`Settings::load`], for the database settings only.
    pub fn load_for_migrations(config_dir: &Path) -> Result<Self, String> {
        let settings = Self::load_unchecked(config_dir, &environment())?;
        settings.validate_database()?;
        Ok(settings)
    }

    /// The layered settings for environment `env`, before [`Settings::validate`]; the tests use it
    /// to fill in their database and secret first.
    ///
    /// # Errors
    /// As [`Settings::load`], less validation.
    pub fn load_unchecked(config_dir: &Path, env: &str) -> Result<Self, String> {
        let conventional = |plauder: &str, name: &str| {
            if std::env::var_os(plauder).is_some() { None } else { std::env::var(name).ok() }
        };
        config::Config::builder()
            .add_source(config::File::from(config_dir.join("default.toml")).required(true))
            .add_source(config::File::from(config_dir.join(format!("{env}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("PLAUDER")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // PLAUDER__SERVER__TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("cors.allowed_origins")
                    .with_list_parse_key("attachments.allowed_types"),
            )
            .set_override_option("database.url", conventional("PLAUDER__DATABASE__URL", "DATABASE_URL"))
            .and_then(|b| b.set_override_option("redis.url", conventional("PLAUDER__REDIS__URL", "REDIS_URL")))
            .and_then(|b| b.build())
            .and_then(config::Config::try_deserialize)
            .map_err(|e| format!("configuration (PLAUDER_ENV={env}): {e}"))
    }

    /// Checks what serde cannot: required secrets and ranges.
    ///
    /// # Errors
    /// The first bad setting, named by its key and the environment variable that sets it.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_database()?;
        self.validate_push()?;
        for (key, value) in [
            ("notifications.digest_delay_secs", self.notifications.digest_delay_secs),
            ("notifications.digest_interval_secs", self.notifications.digest_interval_secs),
            ("notifications.digest_poll_interval_ms", self.notifications.digest_poll_interval_ms),
        ] {
            if value == 0 {
                return bad(key, "must be positive");
            }
        }
        if self.auth.jwt_secret.expose_secret().len() < 32 {
            return bad("auth.jwt_secret", "must be at least 32 bytes");
        }
        if self.auth.access_token_ttl_secs == 0 {
            return bad("auth.access_token_ttl_secs", "must be positive");
        }
        if self.realtime.revalidate_interval_ms == 0 {
            return bad("realtime.revalidate_interval_ms", "must be positive");
        }
        if self.auth.refresh_token_ttl_days == 0 {
            return bad("auth.refresh_token_ttl_days", "must be positive");
        }
        if self.rate_limit.auth_burst == 0 {
            return bad("rate_limit.auth_burst", "must be positive");
        }
        if self.rate_limit.auth_replenish_interval_ms == 0 {
            return bad("rate_limit.auth_replenish_interval_ms", "must be positive");
        }
        for (key, value) in [
            ("rate_limit.support_burst", u64::from(self.rate_limit.support_burst)),
            ("rate_limit.support_replenish_interval_ms", self.rate_limit.support_replenish_interval_ms),
            ("rate_limit.contact_burst", u64::from(self.rate_limit.contact_burst)),
            ("rate_limit.contact_replenish_interval_ms", self.rate_limit.contact_replenish_interval_ms),
            ("rate_limit.message_burst", u64::from(self.rate_limit.message_burst)),
            ("rate_limit.message_replenish_interval_ms", self.rate_limit.message_replenish_interval_ms),
            ("rate_limit.command_burst", u64::from(self.rate_limit.command_burst)),
            ("rate_limit.command_replenish_interval_ms", self.rate_limit.command_replenish_interval_ms),
            ("realtime.heartbeat_interval_ms", self.realtime.heartbeat_interval_ms),
            ("realtime.outbox_limit", self.realtime.outbox_limit as u64),
            ("realtime.max_in_flight_per_connection", self.realtime.max_in_flight_per_connection as u64),
            ("realtime.presence_flush_ms", self.realtime.presence_flush_ms),
            ("realtime.last_seen_flush_ms", self.realtime.last_seen_flush_ms),
            ("webhooks.connect_timeout_ms", self.webhooks.connect_timeout_ms),
            ("webhooks.timeout_ms", self.webhooks.timeout_ms),
            ("webhooks.retry_base_ms", self.webhooks.retry_base_ms),
            ("webhooks.retry_max_ms", self.webhooks.retry_max_ms),
            ("webhooks.poll_interval_ms", self.webhooks.poll_interval_ms),
            ("webhooks.refresh_interval_ms", self.webhooks.refresh_interval_ms),
            ("webhooks.max_consecutive_failures", u64::try_from(self.webhooks.max_consecutive_failures).unwrap_or(0)),
            ("webhooks.max_attempts", u64::try_from(self.webhooks.max_attempts).unwrap_or(0)),
            ("webhooks.batch_size", u64::try_from(self.webhooks.batch_size).unwrap_or(0)),
        ] {
            if value == 0 {
                return bad(key, "must be positive");
            }
        }
        for (key, value) in [
            (
                "quota.presence_subscriptions_per_connection_max",
                self.quota.presence_subscriptions_per_connection_max as i64,
            ),
            ("quota.presence_subscriptions_per_user_max", self.quota.presence_subscriptions_per_user_max as i64),
            ("quota.reactions_per_message_max", self.quota.reactions_per_message_max),
            ("quota.reactions_per_user_per_message_max", self.quota.reactions_per_user_per_message_max),
            ("quota.incoming_hooks_per_room_max", self.quota.incoming_hooks_per_room_max),
            ("quota.sockets_per_user_max", self.quota.sockets_per_user_max as i64),
            ("quota.sockets_per_address_max", self.quota.sockets_per_address_max as i64),
        ] {
            if value <= 0 {
                return bad(key, "must be positive");
            }
        }
        if self.realtime.max_frame_bytes < 1024 {
            return bad("realtime.max_frame_bytes", "must be at least 1024");
        }
        if self.redis.enabled() {
            for (key, value) in [
                ("redis.heartbeat_interval_ms", self.redis.heartbeat_interval_ms),
                ("redis.reconnect_min_ms", self.redis.reconnect_min_ms),
                ("redis.publish_queue", self.redis.publish_queue as u64),
            ] {
                if value == 0 {
                    return bad(key, "must be positive");
                }
            }
            if self.redis.instance_ttl_ms < 2 * self.redis.heartbeat_interval_ms {
                return bad("redis.instance_ttl_ms", "must be at least twice redis.heartbeat_interval_ms");
            }
            if self.redis.reconnect_max_ms < self.redis.reconnect_min_ms {
                return bad("redis.reconnect_max_ms", "must be at least redis.reconnect_min_ms");
            }
            if self.redis.tls_client_cert_file.trim().is_empty() != self.redis.tls_client_key_file.trim().is_empty() {
                return bad("redis.tls_client_cert_file", "and redis.tls_client_key_file must be set together");
            }
            if self.redis.channel_prefix.is_empty() || self.redis.channel_prefix.contains(char::is_whitespace) {
                return bad("redis.channel_prefix", "must be non-empty, without spaces");
            }
            if self.redis.cluster && self.redis.channel_prefix.contains(['{', '}']) {
                return bad(
                    "redis.channel_prefix",
                    "must not hold braces on a Redis Cluster (it becomes the keys' hash tag)",
                );
            }
            if !self.redis.cluster && self.redis.url.expose_secret().contains(',') {
                return bad("redis.url", "lists several nodes: set redis.cluster = true for a Redis Cluster");
            }
        }
        if let Err(why) = crate::auth::client_ip::TrustedProxies::parse(&self.server.trusted_proxies) {
            return bad("server.trusted_proxies", &format!("has an entry {why}"));
        }
        if self.server.trust_forwarded_headers == Some(true) {
            return bad(
                "server.trust_forwarded_headers",
                "is removed (it let any client choose its own address): list your proxies' addresses in \
                 server.trusted_proxies instead",
            );
        }
        if self.rate_limit.login_attempts_before_backoff == 0 {
            return bad("rate_limit.login_attempts_before_backoff", "must be positive");
        }
        if self.rate_limit.login_backoff_max_ms < self.rate_limit.login_backoff_initial_ms {
            return bad("rate_limit.login_backoff_max_ms", "must be at least rate_limit.login_backoff_initial_ms");
        }
        if let Some(admin) = self.server.admin_address()
            && admin.parse::<std::net::SocketAddr>().is_err()
        {
            return bad("server.admin_bind", "must be an IP address and port, e.g. 127.0.0.1:9090, or empty");
        }
        for (key, value) in [
            ("retention.refresh_token_days", i64::from(self.retention.refresh_token_days)),
            ("retention.guest_inactive_days", i64::from(self.retention.guest_inactive_days)),
            ("retention.closed_support_session_days", i64::from(self.retention.closed_support_session_days)),
            ("retention.batch_size", self.retention.batch_size),
        ] {
            if value <= 0 {
                return bad(key, "must be positive");
            }
        }
        for origin in &self.cors.allowed_origins {
            if let Err(why) = crate::web::cors::check_origin(origin) {
                return bad("cors.allowed_origins", &format!("has an entry {why}"));
            }
        }
        self.validate_accounts()?;
        for (key, value) in [
            ("attachments.max_bytes", self.attachments.max_bytes),
            ("attachments.user_quota_bytes", self.attachments.user_quota_bytes),
            ("attachments.upload_burst", u64::from(self.attachments.upload_burst)),
            ("attachments.upload_replenish_interval_ms", self.attachments.upload_replenish_interval_ms),
            ("attachments.max_image_pixels", self.attachments.max_image_pixels),
            ("attachments.max_per_message", self.attachments.max_per_message as u64),
            ("attachments.thumbnail_max_px", u64::from(self.attachments.thumbnail_max_px)),
            ("attachments.avatar_max_bytes", self.attachments.avatar_max_bytes),
            ("attachments.avatar_px", u64::from(self.attachments.avatar_px)),
            ("attachments.scan_timeout_ms", self.attachments.scan_timeout_ms),
            ("attachments.unsent_retention_secs", self.attachments.unsent_retention_secs),
            ("attachments.url_ttl_secs", self.attachments.url_ttl_secs),
        ] {
            if value == 0 {
                return bad(key, "must be positive");
            }
        }
        if self.attachments.avatar_px > 1024 {
            return bad("attachments.avatar_px", "must be at most 1024");
        }
        if self.attachments.directory.trim().is_empty() {
            return bad("attachments.directory", "must name a directory");
        }
        if self.attachments.store == BlobStoreKind::S3 {
            self.attachments.s3.validate()?;
        }
        self.validate_assistant()?;
        if self.server.max_json_body_bytes < 1024 {
            return bad("server.max_json_body_bytes", "must be at least 1024");
        }
        Ok(())
    }

    /// The assistant's settings.
    fn validate_push(&self) -> Result<(), String> {
        let p = &self.push;
        if !(p.subject.starts_with("mailto:") || p.subject.starts_with("https://")) {
            return bad("push.subject", "must be a mailto: or https: URL");
        }
        for (key, value) in [
            ("push.ttl_secs", u64::from(p.ttl_secs)),
            ("push.subscriptions_per_user_max", p.subscriptions_per_user_max.max(0) as u64),
            ("push.max_attempts", p.max_attempts.max(0) as u64),
            ("push.retry_initial_ms", p.retry_initial_ms),
            ("push.retry_max_ms", p.retry_max_ms),
            ("push.poll_interval_ms", p.poll_interval_ms),
            ("push.batch_size", p.batch_size.max(0) as u64),
            ("push.timeout_ms", p.timeout_ms),
        ] {
            if value == 0 {
                return bad(key, "must be positive");
            }
        }
        Ok(())
    }

    fn validate_assistant(&self) -> Result<(), String> {
        let a = &self.assistant;
        for (key, value) in [
            ("assistant.timeout_ms", a.timeout_ms),
            ("assistant.idle_timeout_ms", a.idle_timeout_ms),
            ("assistant.max_tokens", u64::from(a.max_tokens)),
            ("assistant.answers_per_minute", u64::from(a.answers_per_minute)),
        ] {
            if value == 0 {
                return bad(key, "must be positive");
            }
        }
        if !a.endpoint.is_empty() && !a.endpoint.starts_with("http://") && !a.endpoint.starts_with("https://") {
            return bad("assistant.endpoint", "must be an http:// or https:// URL, or empty");
        }
        if !a.endpoint.is_empty() && a.model.trim().is_empty() {
            return bad("assistant.model", "must be set when assistant.endpoint is");
        }
        if crate::service::validate::username(&a.username).is_err() {
            return bad("assistant.username", "must be 3 to 32 letters, digits, '_', '.' or '-'");
        }
        if a.display_name.trim().is_empty() || a.display_name.chars().count() > 64 {
            return bad("assistant.display_name", "must be 1 to 64 characters");
        }
        if !(0..=50).contains(&a.history_messages) || !(0..=20).contains(&a.passages) {
            return bad("assistant.history_messages", "must be 0 to 50 (and assistant.passages 0 to 20)");
        }
        if !(0.0..=1.0).contains(&a.faq_min_coverage) {
            return bad("assistant.faq_min_coverage", "must be between 0 and 1");
        }
        Ok(())
    }

    /// The settings of mail, password reset and two-factor.
    fn validate_accounts(&self) -> Result<(), String> {
        let e = &self.email;
        for (key, value) in [
            ("email.max_attempts", i64::from(e.max_attempts)),
            ("email.retry_initial_ms", e.retry_initial_ms as i64),
            ("email.poll_interval_ms", e.poll_interval_ms as i64),
            ("email.batch_size", e.batch_size),
            ("email.timeout_secs", e.timeout_secs as i64),
            ("password_reset.token_ttl_secs", self.password_reset.token_ttl_secs as i64),
            ("password_reset.ip_burst", i64::from(self.password_reset.ip_burst)),
            ("password_reset.ip_replenish_interval_ms", self.password_reset.ip_replenish_interval_ms as i64),
            ("password_reset.address_burst", i64::from(self.password_reset.address_burst)),
            ("password_reset.address_replenish_interval_ms", self.password_reset.address_replenish_interval_ms as i64),
            ("mfa.challenge_ttl_secs", self.mfa.challenge_ttl_secs as i64),
            ("mfa.max_failed_attempts", i64::from(self.mfa.max_failed_attempts)),
            ("mfa.lockout_secs", self.mfa.lockout_secs as i64),
            ("support.reply_mail_delay_secs", self.support.reply_mail_delay_secs as i64),
            ("support.resume_token_ttl_secs", self.support.resume_token_ttl_secs as i64),
            ("support.resume_burst", i64::from(self.support.resume_burst)),
            ("support.resume_replenish_interval_ms", self.support.resume_replenish_interval_ms as i64),
            ("accounts.verification_token_ttl_secs", self.accounts.verification_token_ttl_secs as i64),
            ("accounts.resend_address_burst", i64::from(self.accounts.resend_address_burst)),
            (
                "accounts.resend_address_replenish_interval_ms",
                self.accounts.resend_address_replenish_interval_ms as i64,
            ),
        ] {
            if value <= 0 {
                return bad(key, "must be positive");
            }
        }
        if e.retry_max_ms < e.retry_initial_ms {
            return bad("email.retry_max_ms", "must be at least email.retry_initial_ms");
        }
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("email.from", "must be an address, or `Name <address>`");
        }
        if !e.public_url.starts_with("http://") && !e.public_url.starts_with("https://") {
            return bad("email.public_url", "must be an http:// or https:// URL");
        }
        if e.username.is_empty() != e.password.expose_secret().is_empty() {
            return bad("email.username", "and email.password must be set together");
        }
        if !e.dkim_selector.is_empty() {
            // DNS labels: the selector and the domain name a TXT record (RFC 6376, 3.1).
            if !is_dns_name(&e.dkim_selector) {
                return bad("email.dkim_selector", "must be a DNS name: letters, digits, '-' and '.'");
            }
            if !e.dkim_domain.is_empty() && !is_dns_name(&e.dkim_domain) {
                return bad("email.dkim_domain", "must be a domain name, or empty for the domain of email.from");
            }
            if e.dkim_key_file.trim().is_empty() {
                return bad("email.dkim_key_file", "must name the signing key when email.dkim_selector is set");
            }
        }
        if self.mfa.issuer.is_empty() || self.mfa.issuer.contains(':') {
            return bad("mfa.issuer", "must be non-empty, without ':'");
        }
        Ok(())
    }

    /// # Errors
    /// A missing database URL or an empty pool.
    pub fn validate_database(&self) -> Result<(), String> {
        if self.database.url.expose_secret().is_empty() {
            return bad("database.url", "is required (DATABASE_URL also works)");
        }
        if self.database.pool_max_size == 0 {
            return bad("database.pool_max_size", "must be positive");
        }
        // The writers' connections and the account reader's come out of pool_max_size
        // (`db::own_connections`); the pool needs at least one left.
        if self.database.send_writers == 0 || self.database.send_writers + 1 >= self.database.pool_max_size {
            return bad("database.send_writers", "must be positive and at most database.pool_max_size - 2");
        }
        let db = &self.database;
        for (key, ms) in [
            ("database.statement_timeout_ms", db.statement_timeout_ms),
            ("database.search_statement_timeout_ms", db.search_statement_timeout_ms),
            ("database.erase_statement_timeout_ms", db.erase_statement_timeout_ms),
        ] {
            // 0 would mean "no limit" to PostgreSQL: the very thing these settings exist to stop.
            // Past i32::MAX PostgreSQL refuses the value, and every statement it guards would fail.
            if ms == 0 || ms > i32::MAX as u64 {
                return bad(key, "must be between 1 and 2147483647 (milliseconds)");
            }
        }
        if self.quota.staff_support_rooms_per_connection_max == 0 {
            return bad("quota.staff_support_rooms_per_connection_max", "must be positive");
        }
        if self.database.send_batch_max == 0 {
            return bad("database.send_batch_max", "must be positive");
        }
        if let Err(why) = crate::db::tls::split_sslmode(self.database.url.expose_secret()) {
            return bad("database.url", &why);
        }
        if self.database.tls_client_cert_file.trim().is_empty() != self.database.tls_client_key_file.trim().is_empty() {
            return bad("database.tls_client_cert_file", "and database.tls_client_key_file must be set together");
        }
        Ok(())
    }

    /// Whether logs should be JSON, resolving `auto` by the environment.
    pub fn json_logs(&self) -> bool {
        match self.log.format {
            LogFormat::Json => true,
            LogFormat::Pretty => false,
            LogFormat::Auto => environment() == "production",
        }
    }
}

impl S3Settings {
    /// What can be checked without asking the server (start-up then lists the bucket once).
    fn validate(&self) -> Result<(), String> {
        let bucket = self.bucket.trim();
        if bucket.is_empty() {
            return bad("attachments.s3.bucket", "is required with attachments.store = \"s3\"");
        }
        if bucket != self.bucket || bucket.contains(['/', ' ']) {
            return bad("attachments.s3.bucket", "must be a bucket name, without spaces or slashes");
        }
        if self.region.trim().is_empty() {
            return bad("attachments.s3.region", "must be set (us-east-1 where the server does not care)");
        }
        let endpoint = self.endpoint.trim();
        if !endpoint.is_empty() {
            if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
                return bad("attachments.s3.endpoint", "must be an http:// or https:// URL, or empty for Amazon S3");
            }
            if endpoint.starts_with("http://") && !self.allow_http {
                return bad(
                    "attachments.s3.endpoint",
                    "is http://: set attachments.s3.allow_http = true to send the files unencrypted",
                );
            }
        }
        if self.access_key_id.trim().is_empty() || self.secret_access_key.expose_secret().is_empty() {
            return bad("attachments.s3.access_key_id", "and attachments.s3.secret_access_key are both required");
        }
        let prefix = self.prefix.trim_matches('/');
        let part_ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !prefix.is_empty() && !prefix.split('/').all(part_ok) {
            return bad("attachments.s3.prefix", "must be path segments of letters, digits, '-', '_' and '.'");
        }
        if self.timeout_ms == 0 {
            return bad("attachments.s3.timeout_ms", "must be positive");
        }
        Ok(())
    }
}

fn bad(key: &str, why: &str) -> Result<(), String> {
    let var = format!("PLAUDER__{}", key.replace('.', "__").to_uppercase());
    Err(format!("configuration: {key} {why} (set it in config/ or with {var})"))
}

/// Dot-separated labels of letters, digits and inner hyphens, each 1 to 63 long.
pub(crate) fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
