//! The built-in assistant: a bot account that answers (a) in a support chat when no staff member
//! has answered the visitor within `assistant.support_wait_ms`, or at once when no staff member is
//! online, and (b) in any room where a message mentions it (`@assistant`).
//!
//! An answer is worked out in a task of its own, never in the request or a room actor: the
//! send that triggered it has been answered long before. The task reads the room's recent
//! messages and the knowledge-base passages that best match the question (full-text search,
//! `service::knowledge`), and with a model configured streams the model's answer into the room as
//! `message.delta` events, then commits the whole answer once as an ordinary message (its seq, the
//! webhook outbox, `message.new` with the id the deltas named), so a client that reconnects
//! mid-answer gets it through sync. Without a model, past the token budget, or when the model
//! fails, times out or streams garbage, the answer is the best-matching FAQ entry's, or a plain
//! "I don't know; a person will follow up".
//!
//! Once a staff member has answered in a support session (its first response is recorded), the
//! assistant stays out of it. Answers are limited per minute (silence past it) and model tokens
//! per hour (FAQ answers past it), across the deployment when Redis is configured (a shared
//! bucket and a shared running total, `realtime::cluster_limits`), with each instance's own count
//! as the bound while Redis is away; /metrics has the figures.

pub mod model;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::auth::ratelimit::SharedBuckets;
use crate::config::AssistantSettings;
use crate::db::models::{NewUser, Role, RoomKind, SupportStatus, User};
use crate::db::queries::knowledge::{self as kb, Hit};
use crate::db::queries::{messages, support, users};
use crate::db::{PgConn, PgPool};
use crate::error::{ApiError, ApiResult};
use crate::ids::{MessageId, RoomId, Seq, UserId};
use crate::protocol::ServerEvent;
use crate::protocol::events::MessageDelta;
use crate::service::notify::Notify;
use crate::views::MessageView;
use crate::webhooks::Wanted;
use model::{Failure, Turn};

/// The assistant's handle, in the shared state. Cheap to clone; inert when the assistant is off.
#[derive(Clone)]
pub struct Assistant {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    settings: AssistantSettings,
    pool: PgPool,
    notify: Arc<dyn Notify>,
    hooks: Arc<Wanted>,
    model: Option<model::Client>,
    /// The bot account's id, once found or made.
    bot: tokio::sync::OnceCell<UserId>,
    /// Rooms with an answer being prepared (or waited for): one at a time per room.
    busy: Mutex<HashSet<RoomId>>,
    /// This instance's rate and budget windows: the limits alone without Redis (or while it is
    /// away), and a bound that never refuses what the deployment's count would pass.
    limits: Mutex<Limits>,
    /// The deployment's count of answers and tokens (Redis), when there is one.
    shared: Option<Arc<dyn SharedBuckets>>,
    /// The deployment's tokens of the last hour as Redis last told this instance (for /metrics).
    shared_tokens: AtomicU64,
    /// `mfa.require_for_staff`: staff without two-factor cannot answer, so they do not count as
    /// online.
    staff_need_two_factor: bool,
}

/// The rolling windows of the rate and the budget.
#[derive(Default)]
struct Limits {
    answers: VecDeque<Instant>,
    tokens: VecDeque<(Instant, u64)>,
}

impl Limits {
    fn prune(&mut self, now: Instant) {
        while self.answers.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            self.answers.pop_front();
        }
        while self.tokens.front().is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(3600)) {
            self.tokens.pop_front();
        }
    }

    fn tokens_last_hour(&self) -> u64 {
        self.tokens.iter().map(|(_, n)| n).sum()
    }
}

/// The name of the deployment's running token total (Redis).
const TOKENS_TOTAL: &str = "assistant_tokens";

/// Why an answer is being given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occasion {
    /// A visitor waits in a support chat.
    Support,
    /// Someone wrote `@assistant`.
    Mention,
}

/// The message that called the assistant.
#[derive(Debug, Clone, Copy)]
struct Call {
    id: MessageId,
    seq: Seq,
    sender: UserId,
}

/// Removes a room from the busy set when the answer's task ends, however it ends.
struct Claim {
    inner: Arc<Inner>,
    room_id: RoomId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.inner.busy.lock() {
            busy.remove(&self.room_id);
        }
    }
}

impl Assistant {
    /// # Errors
    /// The model's HTTP client cannot be built.
    pub fn new(
        settings: &AssistantSettings,
        pool: PgPool,
        notify: Arc<dyn Notify>,
        hooks: Arc<Wanted>,
        shared: Option<Arc<dyn SharedBuckets>>,
        staff_need_two_factor: bool,
    ) -> anyhow::Result<Self> {
        if !settings.enabled {
            return Ok(Self { inner: None });
        }
        Ok(Self {
            inner: Some(Arc::new(Inner {
                model: model::Client::new(settings)?,
                settings: settings.clone(),
                pool,
                notify,
                hooks,
                bot: tokio::sync::OnceCell::new(),
                busy: Mutex::new(HashSet::new()),
                limits: Mutex::new(Limits::default()),
                shared,
                shared_tokens: AtomicU64::new(0),
                staff_need_two_factor,
            })),
        })
    }

    /// Model tokens spent in the last hour (for /metrics): the deployment's as Redis last told
    /// this instance, or this instance's own when that is more (or there is no Redis).
    pub fn tokens_last_hour(&self) -> u64 {
        let Some(inner) = &self.inner else { return 0 };
        inner.tokens_last_hour()
    }

    /// A message was committed: decides whether the assistant answers it, and if so starts the
    /// answer's task. Returns at once.
    pub fn on_sent(&self, sender: &User, room_kind: RoomKind, message: &MessageView) {
        let Some(inner) = &self.inner else { return };
        // Bots never call it, so two bots cannot talk each other into a loop.
        if sender.is_bot {
            return;
        }
        let occasion = if room_kind == RoomKind::Support && sender.role == Role::Guest {
            Occasion::Support
        } else if mentions(&message.body, &inner.settings.username) {
            Occasion::Mention
        } else {
            return;
        };
        let room_id = message.room_id;
        let call = Call { id: message.id, seq: message.seq, sender: sender.id };
        let claimed = inner.busy.lock().is_ok_and(|mut busy| busy.insert(room_id));
        if !claimed {
            metrics::counter!("assistant_skipped_total", "reason" => "busy").increment(1);
            return;
        }
        let claim = Claim { inner: inner.clone(), room_id };
        let inner = inner.clone();
        actix_web::rt::spawn(async move {
            let result = inner.run(room_id, occasion, call).await;
            // The room is free again before the answer is counted, so whoever sees the count can
            // call the assistant again.
            drop(claim);
            match result {
                Ok(Some(source)) => metrics::counter!("assistant_answers_total", "source" => source).increment(1),
                Ok(None) => {}
                Err(e) => {
                    metrics::counter!("assistant_failures_total", "reason" => "internal").increment(1);
                    tracing::warn!(room = %room_id, "assistant: no answer: {e}");
                }
            }
        });
    }
}

/// Whether `body` holds `@username` as a word of its own (case ignored).
fn mentions(body: &str, username: &str) -> bool {
    let needle = format!("@{}", username.to_ascii_lowercase());
    let lower = body.to_ascii_lowercase();
    lower.match_indices(&needle).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + needle.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric() && c != '@')
            && after.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
    })
}

/// The language the fallback texts are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    De,
}

fn dont_know(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "I'm sorry, I don't know the answer to that. A person will follow up here as soon as possible.",
        Lang::De => "Das weiß ich leider nicht. Eine Person aus unserem Team meldet sich hier so bald wie möglich.",
    }
}

impl Inner {
    async fn db(&self) -> ApiResult<PgConn> {
        Ok(self.pool.get().await?)
    }

    /// Works out and posts one answer; the source of the answer posted, if any.
    async fn run(&self, room_id: RoomId, occasion: Occasion, call: Call) -> ApiResult<Option<&'static str>> {
        let mut lang = Lang::En;
        if occasion == Occasion::Support {
            let Some(german) = self.session_needs_answer(room_id).await? else { return Ok(None) };
            if self.staff_online().await? {
                tokio::time::sleep(Duration::from_millis(self.settings.support_wait_ms)).await;
                // Staff may have answered meanwhile.
                if self.session_needs_answer(room_id).await?.is_none() {
                    return Ok(None);
                }
            }
            if german {
                lang = Lang::De;
            }
        }
        if !self.take_answer_slot().await {
            metrics::counter!("assistant_skipped_total", "reason" => "rate").increment(1);
            return Ok(None);
        }
        let bot = self.bot().await?;
        let mut conn = self.db().await?;
        let limit = self.settings.history_messages.max(1);
        // A mention is answered as of its own message: what others wrote after it is neither the
        // question nor in the prompt, and the answer replies to it. A visitor is answered as of
        // their latest message: what they added while the answer waited is part of the question.
        let before = (occasion == Occasion::Mention).then(|| call.seq + 1);
        let mut recent = messages::page(&mut conn, room_id, before, None, limit).await?;
        recent.reverse();
        recent.retain(|m| m.deleted_at.is_none() && !m.body.trim().is_empty());
        let asked = match occasion {
            Occasion::Mention => recent.iter().find(|m| m.id == call.id),
            Occasion::Support => recent.iter().rev().find(|m| m.sender_id == Some(call.sender)),
        };
        // The mention deleted meanwhile, or none of the visitor's messages left in the window:
        // nothing to answer.
        let Some(question) = asked.map(|m| m.body.clone()) else {
            return Ok(None);
        };
        let question = strip_mention(&question, &self.settings.username);
        let hits = if question.trim().is_empty() {
            Vec::new()
        } else {
            let n = self.settings.passages.max(1);
            kb::search(&mut conn, &question, None, n).await?
        };
        let id = MessageId::new();
        let mut streamed_any = false;
        let within_budget = self.model.is_some() && self.within_budget().await;
        let streamed = match &self.model {
            Some(client) if within_budget => {
                let names = names(&mut conn, &recent).await?;
                drop(conn);
                let turns = self.prompt(&recent, &names, bot, &hits);
                Some(self.stream(client, &turns, room_id, id, bot, &mut streamed_any).await)
            }
            Some(_) => {
                metrics::counter!("assistant_skipped_total", "reason" => "budget").increment(1);
                drop(conn);
                None
            }
            None => {
                drop(conn);
                None
            }
        };
        let (text, source) = match streamed {
            Some(Ok(text)) => (text, "model"),
            Some(Err(failure)) => {
                metrics::counter!("assistant_failures_total", "reason" => failure.reason()).increment(1);
                tracing::warn!(room = %room_id, "assistant: the model gave no answer ({failure}); answering from the FAQ");
                self.fallback(&question, &hits, lang).await?
            }
            None => self.fallback(&question, &hits, lang).await?,
        };
        if !streamed_any {
            // An answer that was not streamed is announced as one piece all the same, so clients
            // see every answer of the assistant come the same way (the widget learns from it who
            // the assistant is).
            let whole =
                MessageDelta { room_id, message_id: id, sender_id: bot, index: 0, delta: &text, aborted: false };
            self.notify.room_event(room_id, &ServerEvent::MessageDelta(whole));
        }
        let mut conn = self.db().await?;
        let post = crate::service::messages::BotPost {
            id,
            room_id,
            sender_id: bot,
            body: &text,
            reply_to: (occasion == Occasion::Mention).then_some(call.id),
            support_answer: occasion == Occasion::Support,
        };
        let posted = crate::service::messages::post_as_bot(&mut conn, &self.hooks, self.notify.as_ref(), post).await;
        match posted {
            Ok(Some(_)) => Ok(Some(source)),
            // The session closed, or staff answered a visitor, while the answer was made: it
            // stays out.
            Ok(None) => {
                metrics::counter!("assistant_skipped_total", "reason" => "staff_answered").increment(1);
                self.abort(room_id, id, bot);
                Ok(None)
            }
            Err(e) => {
                self.abort(room_id, id, bot);
                Err(e)
            }
        }
    }

    /// Tells whoever saw part of an answer to drop it: it was not posted.
    fn abort(&self, room_id: RoomId, id: MessageId, bot: UserId) {
        let aborted = MessageDelta { room_id, message_id: id, sender_id: bot, index: 0, delta: "", aborted: true };
        self.notify.room_event(room_id, &ServerEvent::MessageDelta(aborted));
    }

    /// Whether the support session of `room_id` still wants the assistant: open, and no staff
    /// answer yet (a staff reply stops the assistant in the session for good). `Some(german)`
    /// when it does, saying whether the visitor's browser asked for German.
    async fn session_needs_answer(&self, room_id: RoomId) -> ApiResult<Option<bool>> {
        let mut conn = self.db().await?;
        let Some(session) = support::find_by_room(&mut conn, room_id).await? else { return Ok(None) };
        if session.first_response_at.is_some() || session.status != SupportStatus::Open {
            metrics::counter!("assistant_skipped_total", "reason" => "staff_answered").increment(1);
            return Ok(None);
        }
        Ok(Some(session.visitor_language.as_deref().is_some_and(|l| l.to_ascii_lowercase().starts_with("de"))))
    }

    /// Streams the model's answer into the room; the whole text when it came complete.
    async fn stream(
        &self,
        client: &model::Client,
        turns: &[Turn],
        room_id: RoomId,
        message_id: MessageId,
        bot: UserId,
        streamed_any: &mut bool,
    ) -> Result<String, Failure> {
        let mut index = 0u32;
        let notify = self.notify.clone();
        let started = std::time::Instant::now();
        let result = client
            .stream(turns, |piece| {
                let delta = MessageDelta { room_id, message_id, sender_id: bot, index, delta: piece, aborted: false };
                notify.room_event(room_id, &ServerEvent::MessageDelta(delta));
                index = index.saturating_add(1);
            })
            .await;
        metrics::histogram!("assistant_model_duration_seconds").record(started.elapsed().as_secs_f64());
        let prompt_chars: usize = turns.iter().map(|t| t.content.chars().count()).sum();
        let tokens = match &result {
            Ok(answer) => answer.tokens.unwrap_or_else(|| estimate(prompt_chars + answer.text.chars().count())),
            Err(_) => estimate(prompt_chars),
        };
        self.spend(tokens).await;
        *streamed_any = index > 0;
        result.map(|answer| answer.text)
    }

    /// The answer without the model: the best FAQ entry when it covers enough of the question,
    /// else a plain "I don't know".
    async fn fallback(&self, question: &str, hits: &[Hit], lang: Lang) -> ApiResult<(String, &'static str)> {
        let faq = match hits.iter().find(|h| h.kind == "faq") {
            Some(hit) => Some(hit.clone()),
            None if question.trim().is_empty() => None,
            None => {
                let mut conn = self.db().await?;
                kb::search(&mut conn, question, Some("faq"), 1).await?.into_iter().next()
            }
        };
        Ok(match faq {
            Some(hit) if hit.coverage >= self.settings.faq_min_coverage => (hit.body, "faq"),
            _ => (dont_know(lang).to_owned(), "unknown"),
        })
    }

    fn prompt(
        &self,
        recent: &[crate::db::models::Message],
        names: &HashMap<UserId, String>,
        bot: UserId,
        hits: &[Hit],
    ) -> Vec<Turn> {
        let mut system = self.settings.system_prompt.clone();
        if hits.is_empty() {
            system.push_str("\n\nThe knowledge base holds nothing on this question.");
        } else {
            system.push_str("\n\nKnowledge base passages:");
            for (i, hit) in hits.iter().enumerate() {
                system.push_str(&format!("\n\n[{}] {}\n{}", i + 1, hit.title, hit.content));
            }
        }
        let mut turns = vec![Turn { role: "system", content: system }];
        for m in recent {
            if m.sender_id == Some(bot) {
                turns.push(Turn { role: "assistant", content: m.body.clone() });
            } else {
                let name = m.sender_id.and_then(|id| names.get(&id)).map_or("Someone", String::as_str);
                turns.push(Turn { role: "user", content: format!("{name}: {}", m.body) });
            }
        }
        turns
    }

    /// Whether anyone of the staff has a connection, whatever their status: an invisible admin
    /// still reads the inbox and may answer, as the new-chat mail and push count them.
    async fn staff_online(&self) -> ApiResult<bool> {
        let staff = {
            let mut conn = self.db().await?;
            users::staff_ids(&mut conn, self.staff_need_two_factor).await?
        };
        if staff.is_empty() {
            return Ok(false);
        }
        Ok(!self.notify.connected(staff).await.is_empty())
    }

    /// The bot account, found by its username or made on first use.
    async fn bot(&self) -> ApiResult<UserId> {
        self.bot
            .get_or_try_init(|| async {
                let mut conn = self.db().await?;
                let name = &self.settings.username;
                if let Some(found) = users::find_by_login(&mut conn, name).await? {
                    return bot_or_refuse(&found);
                }
                let new = NewUser {
                    id: UserId::new(),
                    username: name,
                    email: None,
                    display_name: self.settings.display_name.trim(),
                    role: Role::User,
                    password_hash: None,
                    is_bot: true,
                };
                match users::insert(&mut conn, &new).await {
                    Ok(user) => Ok(user.id),
                    // Another instance made it first.
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => {
                        let found = users::find_by_login(&mut conn, name).await?;
                        found.as_ref().map_or_else(
                            || Err(ApiError::internal(anyhow::anyhow!("assistant account vanished"))),
                            bot_or_refuse,
                        )
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
            .copied()
    }

    /// Counts an answer against the per-minute rate; `false` when the rate is used up, on this
    /// instance or (with Redis) in the deployment, whose bucket lets `answers_per_minute` through
    /// at once and then one per 60 s / `answers_per_minute`.
    async fn take_answer_slot(&self) -> bool {
        let per_minute = self.settings.answers_per_minute;
        let now = Instant::now();
        {
            let Ok(mut limits) = self.limits.lock() else { return false };
            limits.prune(now);
            if limits.answers.len() >= per_minute as usize {
                return false;
            }
            limits.answers.push_back(now);
        }
        let Some(shared) = &self.shared else { return true };
        let interval = Duration::from_secs(60) / per_minute.max(1);
        // Unavailable: this instance's window alone decides.
        let refused =
            matches!(shared.take("assistant", "answers".to_owned(), per_minute, interval).await, Some(Err(_)));
        if refused && let Ok(mut limits) = self.limits.lock() {
            // No answer is given: the local window gets its slot back.
            if let Some(i) = limits.answers.iter().rposition(|t| *t == now) {
                limits.answers.remove(i);
            }
        }
        !refused
    }

    /// Whether the last hour's tokens are below `tokens_per_hour`: this instance's, and (with
    /// Redis, while it answers) the deployment's.
    async fn within_budget(&self) -> bool {
        let local = {
            let Ok(mut limits) = self.limits.lock() else { return false };
            limits.prune(Instant::now());
            limits.tokens_last_hour()
        };
        if local >= self.settings.tokens_per_hour {
            return false;
        }
        let Some(shared) = &self.shared else { return true };
        match shared.add_to_hour(TOKENS_TOTAL, 0).await {
            Some(total) => {
                self.shared_tokens.store(total, Ordering::Relaxed);
                total < self.settings.tokens_per_hour
            }
            None => true,
        }
    }

    /// Counts tokens spent, here and (with Redis) in the deployment's total.
    async fn spend(&self, tokens: u64) {
        metrics::counter!("assistant_tokens_total").increment(tokens);
        if let Ok(mut limits) = self.limits.lock() {
            let now = Instant::now();
            limits.tokens.push_back((now, tokens));
            limits.prune(now);
        }
        if let Some(shared) = &self.shared
            && let Some(total) = shared.add_to_hour(TOKENS_TOTAL, tokens).await
        {
            self.shared_tokens.store(total, Ordering::Relaxed);
        }
        metrics::gauge!("assistant_tokens_last_hour").set(self.tokens_last_hour() as f64);
    }

    fn tokens_last_hour(&self) -> u64 {
        let local = self.limits.lock().map_or(0, |mut l| {
            l.prune(Instant::now());
            l.tokens_last_hour()
        });
        local.max(self.shared_tokens.load(Ordering::Relaxed))
    }
}

fn bot_or_refuse(user: &User) -> ApiResult<UserId> {
    if user.is_bot {
        Ok(user.id)
    } else {
        Err(ApiError::internal(anyhow::anyhow!(
            "assistant.username names a person's account: choose another username for the assistant"
        )))
    }
}

/// The display names of the senders among `recent`.
async fn names(conn: &mut PgConn, recent: &[crate::db::models::Message]) -> ApiResult<HashMap<UserId, String>> {
    let ids: Vec<UserId> = recent.iter().filter_map(|m| m.sender_id).collect::<HashSet<_>>().into_iter().collect();
    Ok(users::find_many(conn, &ids).await?.into_iter().map(|u| (u.id, u.display_name)).collect())
}

/// The question without the `@username` that called the assistant.
fn strip_mention(body: &str, username: &str) -> String {
    let needle = format!("@{username}");
    let mut out = body.to_owned();
    // ASCII case folding keeps byte offsets (usernames are ASCII).
    while let Some(at) = out.to_ascii_lowercase().find(&needle.to_ascii_lowercase()) {
        out.replace_range(at..at + needle.len(), "");
    }
    out.trim().to_owned()
}

/// Tokens of `chars` characters when the endpoint does not say: about four characters a token.
fn estimate(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_is_the_name_as_a_word_of_its_own() {
        assert!(mentions("@assistant how do I reset it?", "assistant"));
        assert!(mentions("hey @Assistant, help", "assistant"));
        assert!(mentions("(@assistant)", "assistant"));
        assert!(!mentions("mail me at me@assistant.example", "assistant"));
        assert!(!mentions("@assistants are nice", "assistant"));
        assert!(!mentions("@assistant-two", "assistant"));
        assert!(!mentions("no mention", "assistant"));
        assert_eq!(strip_mention("@Assistant how do I reset my password?", "assistant"), "how do I reset my password?");
    }
}
