//! Outgoing mail: a durable queue in PostgreSQL and the worker that empties it.
//!
//! A mail is a `mail_queue` row, inserted by whatever causes it (usually in that change's own
//! transaction), rendered then in the recipient's language from the templates in
//! `mail_templates`. Requests never talk to SMTP: every instance runs a worker that claims due
//! rows (`FOR UPDATE SKIP LOCKED`, see `queries::mail_queue::claim_due`), sends them through
//! lettre, and records the outcome; a failed try comes due again after an exponential back-off,
//! and after `email.max_attempts` the row is marked failed and stays listed for admins. Without
//! `email.host` the "relay" is the log: each mail is written there and counts as sent.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::Serialize;
use uuid::Uuid;

use crate::config::{EmailSettings, SmtpTls};
use crate::db::models::{Language, NewMail, QueuedMail};
use crate::db::queries::mail_queue::{self, MailFilter};
use crate::error::{ApiError, ApiResult};
use crate::service::mail_templates::Rendered;
use crate::state::AppState;
use crate::views::format_time;

/// A mail's one-click unsubscribe (RFC 8058): mail programs offer their own button, which posts
/// `List-Unsubscribe=One-Click` to the address in `List-Unsubscribe`.
const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");

/// The headers a DKIM signature covers: what a reader sees and what a receiver acts on (RFC 8058
/// offers one-click unsubscribe only when both List-Unsubscribe headers are signed). A listed
/// header a mail lacks is signed as absent, so none can be added on the way. Content-Type is not
/// listed: lettre writes a multipart mail's Content-Type with its body, outside the headers it
/// signs, so listing it would sign it as absent and no receiver would verify the mail.
const DKIM_SIGNED: [&str; 8] =
    ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe", "List-Unsubscribe-Post"];

/// The queue's sending side on this instance: the transport and the worker's wake-up.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// Signs each mail sent through the relay (`email.dkim_*`).
    dkim: Option<DkimConfig>,
    settings: EmailSettings,
    /// Rung when a mail is queued here, so the worker sends it now rather than at its next poll.
    wake: tokio::sync::Notify,
}

enum Transport {
    /// No relay configured: mails go to the log.
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// # Errors
    /// A `from` that is no address, TLS parameters lettre refuses for the host, or a DKIM key
    /// that cannot be read or is no RSA key of at least 1024 bits.
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings.from.parse().map_err(|e| anyhow::anyhow!("email.from: {e}"))?;
        let dkim = dkim_signer(settings, &from)?;
        let transport = if settings.host.trim().is_empty() {
            Transport::Log
        } else {
            let host = settings.host.trim();
            let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(settings.port);
            let builder = match settings.tls {
                SmtpTls::None => builder.tls(Tls::None),
                SmtpTls::Starttls => builder.tls(Tls::Required(TlsParameters::new(host.to_owned())?)),
                SmtpTls::Tls => builder.tls(Tls::Wrapper(TlsParameters::new(host.to_owned())?)),
            };
            let builder = builder.timeout(Some(Duration::from_secs(settings.timeout_secs)));
            let builder = if settings.username.is_empty() {
                builder
            } else {
                builder.credentials(Credentials::new(
                    settings.username.clone(),
                    settings.password.expose_secret().to_owned(),
                ))
            };
            Transport::Smtp(builder.build())
        };
        Ok(Self { transport, from, dkim, settings: settings.clone(), wake: tokio::sync::Notify::new() })
    }

    /// Tells this instance's worker that a mail is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// One try at delivering `mail`.
    async fn deliver(&self, mail: &QueuedMail) -> Result<(), String> {
        let to: Mailbox = mail.recipient.parse().map_err(|e| format!("recipient: {e}"))?;
        match &self.transport {
            Transport::Log => {
                tracing::info!(
                    mail_id = %mail.id, kind = %mail.kind, to = %mail.recipient, subject = %mail.subject,
                    body = %mail.body_text, "email.host is not set: mail written to the log instead of sent"
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                // lettre adds no Message-ID, and some receivers (Gmail among them) refuse mail
                // without one: one per queued mail, so a retry carries the same.
                let domain = self.from.email.domain().to_owned();
                let mut message = Message::builder()
                    .message_id(Some(format!("<{}@{domain}>", mail.id)))
                    .from(self.from.clone())
                    .to(to)
                    .subject(mail.subject.clone());
                if let Some(url) = &mail.list_unsubscribe {
                    message = message
                        .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, format!("<{url}>")))
                        .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE_POST, "List-Unsubscribe=One-Click".to_owned()));
                }
                let mut message = message
                    .multipart(MultiPart::alternative_plain_html(mail.body_text.clone(), mail.body_html.clone()))
                    .map_err(|e| format!("building the message: {e}"))?;
                if let Some(dkim) = &self.dkim {
                    message.sign(dkim);
                }
                smtp.send(message).await.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }

    /// The wait before try `attempts + 1`, after `attempts` failed: doubling from
    /// `retry_initial_ms` up to `retry_max_ms`.
    fn backoff(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
        let ms = self.settings.retry_initial_ms.saturating_mul(1 << doublings).min(self.settings.retry_max_ms);
        Duration::from_millis(ms)
    }
}

/// The DKIM signer `email.dkim_*` describe, if `email.dkim_selector` is set: relaxed
/// canonicalization of headers and body, which survives relays that refold headers or change
/// trailing whitespace.
fn dkim_signer(settings: &EmailSettings, from: &Mailbox) -> anyhow::Result<Option<DkimConfig>> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;

    let selector = settings.dkim_selector.trim();
    if selector.is_empty() {
        return Ok(None);
    }
    let path = settings.dkim_key_file.trim();
    let pem = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("email.dkim_key_file {path:?}: {e}"))?;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&pem).or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(&pem)).map_err(
        |_| anyhow::anyhow!("email.dkim_key_file {path:?}: not an RSA private key in PEM (PKCS#1 or PKCS#8)"),
    )?;
    // RFC 8301: verifiers ignore signatures by shorter keys. It also keeps lettre's signing, which
    // panics on a key too short for the digest, from ever failing.
    let bits = key.n().bits();
    if bits < 1024 {
        anyhow::bail!("email.dkim_key_file {path:?}: the key has {bits} bits; DKIM needs at least 1024");
    }
    // lettre reads PKCS#1 only.
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("email.dkim_key_file {path:?}: {e}"))?;
    let signing = DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
        .map_err(|e| anyhow::anyhow!("email.dkim_key_file {path:?}: {e}"))?;
    let domain = match settings.dkim_domain.trim() {
        "" => from.email.domain().to_owned(),
        domain => domain.to_owned(),
    };
    // The domain of `from` may be an IP literal or an internationalised name in its Unicode form:
    // signed for such a `d=`, no receiver could verify a mail.
    if !crate::config::is_dns_name(&domain) {
        anyhow::bail!("email.dkim_domain: {domain:?} (the domain of email.from) is no ASCII DNS name; set it");
    }
    let relaxed =
        DkimCanonicalization { header: DkimCanonicalizationType::Relaxed, body: DkimCanonicalizationType::Relaxed };
    let headers = DKIM_SIGNED.iter().map(|name| HeaderName::new_from_ascii_str(name)).collect();
    Ok(Some(DkimConfig::new(selector.to_owned(), domain, signing, headers, relaxed)))
}

/// A link in a mail: `rest` (a path, with its query or fragment) under `email.public_url`, never a
/// request's Host header.
pub fn link(state: &AppState, rest: &str) -> String {
    format!("{}{rest}", state.settings.email.public_url.trim_end_matches('/'))
}

/// Queues one rendered mail; the caller's transaction decides whether it goes out. Call
/// [`Mailer::wake`] after the commit.
///
/// # Errors
/// Database failures only.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    kind: &str,
    recipient: &str,
    language: Language,
    rendered: &Rendered,
) -> ApiResult<Uuid> {
    insert(conn, kind, recipient, language, rendered, None).await
}

/// [`enqueue`] for a mail the recipient may stop (support replies, digests): `one_click` is the
/// address that stops it, for the mail's `List-Unsubscribe` header; it must answer a POST of the
/// form `List-Unsubscribe=One-Click` (RFC 8058). RFC 8058 wants an HTTPS address: with an
/// `http://` `email.public_url` (a laptop) the mail goes without the header, its link still works.
///
/// # Errors
/// Database failures only.
pub async fn enqueue_unsubscribable(
    conn: &mut AsyncPgConnection,
    kind: &str,
    recipient: &str,
    language: Language,
    rendered: &Rendered,
    one_click: &str,
) -> ApiResult<Uuid> {
    let list_unsubscribe = one_click.starts_with("https://").then_some(one_click);
    insert(conn, kind, recipient, language, rendered, list_unsubscribe).await
}

async fn insert(
    conn: &mut AsyncPgConnection,
    kind: &str,
    recipient: &str,
    language: Language,
    rendered: &Rendered,
    list_unsubscribe: Option<&str>,
) -> ApiResult<Uuid> {
    let id = Uuid::new_v4();
    let new = NewMail {
        id,
        kind,
        recipient,
        subject: &rendered.subject,
        body_text: &rendered.text,
        body_html: &rendered.html,
        language,
        list_unsubscribe,
    };
    mail_queue::insert(conn, &new).await?;
    metrics::counter!("mail_queued_total", "kind" => kind.to_owned()).increment(1);
    Ok(id)
}

/// Claims the due mails (up to `email.batch_size`) and tries each once; how many it tried.
///
/// # Errors
/// Database failures (the claimed rows come due again when their lease runs out).
pub async fn run_once(state: &AppState) -> ApiResult<usize> {
    let mailer = &state.mailer;
    // Past the send timeout with room to spare: a worker that died mid-send has its mails taken
    // over by another once this passes.
    let lease = Duration::from_secs(mailer.settings.timeout_secs.saturating_mul(2));
    let claimed = {
        let mut conn = state.db().await?;
        mail_queue::claim_due(&mut conn, mailer.settings.batch_size, lease).await?
    };
    for mail in &claimed {
        // The claim's lease covered the batch's first send only: each mail's is renewed as its
        // turn comes, and one taken over or dropped meanwhile is left alone (never sent twice).
        if !mail_queue::renew_lease(&mut *state.db().await?, mail.id, mail.attempts, lease).await? {
            continue;
        }
        let outcome = mailer.deliver(mail).await;
        let mut conn = state.db().await?;
        match outcome {
            Ok(()) => {
                mail_queue::mark_sent(&mut conn, mail.id).await?;
                metrics::counter!("mail_sent_total").increment(1);
            }
            Err(error) if mail.attempts >= mailer.settings.max_attempts => {
                tracing::error!(mail_id = %mail.id, kind = %mail.kind, attempts = mail.attempts, %error, "mail given up");
                mail_queue::mark_failed(&mut conn, mail.id, &error).await?;
                metrics::counter!("mail_failed_total").increment(1);
            }
            Err(error) => {
                let wait = mailer.backoff(mail.attempts);
                tracing::warn!(mail_id = %mail.id, attempts = mail.attempts, %error, retry_in_ms = wait.as_millis() as u64, "mail not sent; will retry");
                let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                mail_queue::mark_retry(&mut conn, mail.id, &error, retry_at).await?;
                metrics::counter!("mail_retries_total").increment(1);
            }
        }
    }
    Ok(claimed.len())
}

/// The worker of this instance: a round whenever a mail is queued here, and every
/// `email.poll_interval_ms` for mails queued elsewhere or due for a retry.
pub fn spawn_worker(state: Arc<AppState>) {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.mailer.settings.poll_interval_ms);
        let full = usize::try_from(state.mailer.settings.batch_size).unwrap_or(usize::MAX);
        loop {
            match run_once(&state).await {
                // A full batch: more may be due at once.
                Ok(n) if n >= full => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!("mail queue: {e:#}"),
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = state.mailer.wake.notified() => {}
            }
        }
    });
}

/// A queued mail as admins see it (no bodies: they may carry live links).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MailView {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// What the mail is for: `password_reset`.
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub language: Language,
    /// `queued` (waiting for its first or next try), `sent` or `failed` (given up).
    pub status: &'static str,
    /// Tries so far.
    pub attempts: i32,
    /// When the next try is due (queued mails only).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failed_at: Option<String>,
}

impl MailView {
    fn new(m: &QueuedMail) -> Self {
        let status = if m.sent_at.is_some() {
            "sent"
        } else if m.failed_at.is_some() {
            "failed"
        } else {
            "queued"
        };
        Self {
            id: m.id,
            kind: m.kind.clone(),
            recipient: m.recipient.clone(),
            subject: m.subject.clone(),
            language: m.language,
            status,
            attempts: m.attempts,
            next_attempt_at: (status == "queued").then(|| format_time(&m.next_attempt_at)),
            last_error: m.last_error.clone(),
            created_at: format_time(&m.created_at),
            sent_at: m.sent_at.as_ref().map(format_time),
            failed_at: m.failed_at.as_ref().map(format_time),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MailPage {
    pub mails: Vec<MailView>,
    pub total: i64,
    pub has_more: bool,
}

/// Largest page of `GET /admin/mail`.
pub const MAX_PAGE: i64 = 200;

/// `GET /admin/mail?status=&limit=&offset=`, newest first.
///
/// # Errors
/// `validation_failed` for an unknown status or a bad page.
pub async fn list(
    state: &AppState,
    status: Option<&str>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> ApiResult<MailPage> {
    let filter = match status {
        None | Some("all") => MailFilter::All,
        Some("queued") => MailFilter::Queued,
        Some("failed") => MailFilter::Failed,
        Some("sent") => MailFilter::Sent,
        Some(_) => return Err(ApiError::validation("status", "status must be queued, failed, sent or all.")),
    };
    let (limit, offset) = crate::service::validate::page(limit, offset, 50, MAX_PAGE)?;
    let mut conn = state.db().await?;
    let (page, total) = mail_queue::list(&mut conn, filter, limit, offset).await?;
    let has_more = offset + (page.len() as i64) < total;
    Ok(MailPage { mails: page.iter().map(MailView::new).collect(), total, has_more })
}
