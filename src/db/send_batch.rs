//! Group commit for message sends: concurrent fast-path sends (a member writing to a group room,
//! no reply) are queued to the writer tasks (`database.send_writers`, one by default), and each
//! writer inserts whatever has queued up while its previous statement ran as one multi-row
//! statement (`queries::messages::insert_batch`), one commit. Under load this turns a commit per
//! message into a commit per batch, which is where PostgreSQL spent its time; with a single
//! sender a batch is one message and nothing waits.
//!
//! Rooms are spread over the writers by id, so a room's sends stay in arrival order (but for the
//! sends handed back or parked, below: one sender's sends to a room always do) and two
//! concurrent batches never lock the same room row (no lock-order deadlocks between batches). A
//! batch does not wait for a room row that another transaction holds: the statement skips it and
//! those sends come back as [`Outcome::NotSimple`], to wait on the checked path for their room
//! alone. With one writer, waiting would hold up every room's sends behind one room's deletion.
//!
//! A send handed back keeps its place: while the caller holds the [`HandedBack`] it came with
//! (until that send's checked path has committed or failed), the writer parks every later send of
//! the same user to the same room, before its statement, so that none of them commits ahead of
//! it. Without this, the next batch committed a connection's later send as soon as the room's row
//! was free, while the earlier one was still on its way to the checked path, and the later send
//! took the lower seq. When the last `HandedBack` of that pair is dropped it wakes the writer, and
//! the parked sends go into the next batch, in the order they came and ahead of any newer send of
//! theirs. They are parked rather than handed back too: handed back, each would become a fence of
//! its own, and a user who kept pipelining to that room would stay on the checked path (a commit
//! per send) until a pause. Within one batch the statement keeps the same order
//! (`queries::messages::insert_batch`). A retry of a `client_msg_id` in the same batch as its
//! original is parked the same way, with its sender's later sends to the room, until the next
//! batch.
//!
//! Why parking cannot deadlock: every wait points to a send queued earlier. A parked send waits
//! only for handed-back sends of its pair queued before it (a pair's parked sends are released
//! together, and a send of a failed batch behind one handed back is handed back too, not parked
//! behind a retry of that batch that came after it); a handed-back send waits (`service::turn`)
//! only for its connection's writes queued, or done, before it, and then for one of its room's
//! places (`service::room_gate`), whose holders wait only for the pool and the room's row.
//!
//! This is a database writer, not a rule: the only rules it applies are the ones the batch
//! statement checks in SQL (a member, a group room, no reply, a new client_msg_id); everything
//! else goes back to `service::messages`, which takes the checked path.
//!
//! Each writer keeps a connection of its own (`db::own_connection`), on which the batch statement
//! always runs with its generic plan.
//!
//! Outgoing webhooks: while some endpoint wants `message.created` (`webhooks::Wanted`, one atomic
//! load per batch), the batch statement and the events' outbox rows commit in one transaction;
//! otherwise the batch runs exactly as without webhooks.
//!
//! Announcing: once a batch has committed, the writer hands its messages to the announcer it was
//! started with (`service::messages::announce_committed`, wired in `state`) before it answers
//! their senders, on its own thread: that is the actors' thread, so the room actors that deliver
//! them run next, without waiting for the senders' workers. It also announces in commit order.
//!
//! Web Push: once a batch has committed and its senders are answered, its message ids go to
//! `push::Pusher::messages_committed`, which queues their pushes in a task of its own (one
//! statement per batch); the writer goes on with its next batch at once.
//!
//! One bad row never fails its neighbours: when the batch statement fails for a reason in its
//! rows (not a lost connection), the writer inserts the sends one by one, so every good send
//! commits and only the bad one's sender gets the error.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel_async::AsyncPgConnection;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::db::PgPool;
use crate::db::models::Message;
use crate::db::queries::messages::{self as q, NewMessage};
use crate::error::ApiError;
use crate::ids::{MessageId, RoomId, UserId};
use crate::push::Pusher;
use crate::views::MessageView;
use crate::webhooks::Wanted;

/// A send as the writer needs it: owned, since it crosses to the writer task.
pub struct QueuedSend {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub body: String,
    pub client_msg_id: Option<String>,
}

/// What a writer does with the messages it has just committed (see the module's doc). Called on
/// the writer's thread before the senders are answered; it must not block.
pub type Announce = Arc<dyn Fn(&[Message]) + Send + Sync>;

/// What became of a queued send.
pub enum Outcome {
    /// Committed and announced; the message as stored.
    Inserted(Message),
    /// Not a fast-path send after all (not a member, not a group room, a known client_msg_id, …):
    /// the caller takes the checked path, which gives the precise answer. The send comes back,
    /// with what the caller holds until that path has finished.
    NotSimple(QueuedSend, HandedBack),
    Failed(ApiError),
}

struct Job {
    send: QueuedSend,
    reply: oneshot::Sender<Outcome>,
    /// When the send was queued: its wait for its batch's statement is measured from here.
    queued_at: std::time::Instant,
}

/// Held by the caller of a send the writer handed back until its checked path has finished
/// (committed or failed): meanwhile that sender's later sends to the room wait in the writer.
#[derive(Debug)]
pub struct HandedBack {
    fence: Option<Arc<()>>,
    wake: Arc<Notify>,
}

impl Drop for HandedBack {
    fn drop(&mut self) {
        // The count goes down before the wake-up, so that the writer, woken, finds it down.
        drop(self.fence.take());
        self.wake.notify_one();
    }
}

/// A (room, sender) pair with sends handed back: the count of [`HandedBack`]s still held, and the
/// sends that came after them, in order.
#[derive(Default)]
struct Fence {
    held: Arc<()>,
    parked: VecDeque<Job>,
}

impl Fence {
    fn is_held(&self) -> bool {
        Arc::strong_count(&self.held) > 1
    }
}

/// One writer's fences, as a room's sends all go to one writer.
struct Fences {
    pairs: HashMap<(RoomId, UserId), Fence>,
    /// Notified by every [`HandedBack`] dropped.
    wake: Arc<Notify>,
    parked: usize,
    /// All writers' parked sends, for [`SendBatcher::queued`].
    parked_total: Arc<AtomicUsize>,
}

impl Fences {
    fn new(parked_total: Arc<AtomicUsize>) -> Self {
        Self { pairs: HashMap::new(), wake: Arc::new(Notify::new()), parked: 0, parked_total }
    }

    fn count_parked(&mut self, n: usize) {
        self.parked += n;
        self.parked_total.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("db_send_parked_total").increment(n as u64);
    }

    fn count_released(&mut self, n: usize) {
        self.parked -= n;
        self.parked_total.fetch_sub(n, Ordering::Relaxed);
    }

    /// Answers `job` with [`Outcome::NotSimple`] and fences its (room, sender) pair until the
    /// answer's `HandedBack` is dropped (at once, if nobody waits for the answer).
    fn hand_back(&mut self, job: Job) {
        metrics::counter!("db_send_handed_back_total").increment(1);
        let held = self.pairs.entry((job.send.room_id, job.send.sender_id)).or_default().held.clone();
        let back = HandedBack { fence: Some(held), wake: self.wake.clone() };
        let _ = job.reply.send(Outcome::NotSimple(job.send, back));
    }

    /// Whether a send of `sender` to `room` must wait: one of theirs handed back has not
    /// finished, or earlier ones are parked.
    fn must_wait(&self, room: RoomId, sender: UserId) -> bool {
        self.pairs.get(&(room, sender)).is_some_and(|f| f.is_held() || !f.parked.is_empty())
    }

    /// Parks `job` behind whatever its (room, sender) pair has parked, for the next batch at the
    /// earliest.
    fn park(&mut self, job: Job) {
        self.pairs.entry((job.send.room_id, job.send.sender_id)).or_default().parked.push_back(job);
        self.count_parked(1);
    }

    /// Whether a send of `sender` to `room` was handed back and its checked path has not finished.
    fn holds(&self, room: RoomId, sender: UserId) -> bool {
        self.pairs.get(&(room, sender)).is_some_and(Fence::is_held)
    }

    /// Whether some parked sends wait for nothing any more.
    fn releasable(&self) -> bool {
        self.parked > 0 && self.pairs.values().any(|f| !f.is_held() && !f.parked.is_empty())
    }

    /// Moves the sends parked behind fences no longer held to `jobs`, until it holds `max`: each
    /// pair's whole queue (a pair's sends stay in one batch, in order, so none is parked behind a
    /// newer one), so one pair's may take it past `max`.
    fn release(&mut self, jobs: &mut Vec<Job>, max: usize) {
        if self.parked == 0 {
            return;
        }
        let mut released = 0;
        for fence in self.pairs.values_mut().filter(|f| !f.is_held() && !f.parked.is_empty()) {
            if jobs.len() >= max {
                break;
            }
            released += fence.parked.len();
            jobs.extend(fence.parked.drain(..));
        }
        self.count_released(released);
    }

    /// Forgets the pairs whose handed-back sends have all finished and that have nothing parked.
    fn sweep(&mut self) {
        self.pairs.retain(|_, fence| fence.is_held() || !fence.parked.is_empty());
    }

    /// Hands back every parked send: the writer is stopping.
    fn hand_back_parked(&mut self) {
        let parked: Vec<Job> = self.pairs.values_mut().flat_map(|f| f.parked.drain(..)).collect();
        self.count_released(parked.len());
        for job in parked {
            self.hand_back(job);
        }
    }
}

#[derive(Clone)]
pub struct SendBatcher {
    writers: Vec<mpsc::Sender<Job>>,
    parked: Arc<AtomicUsize>,
}

impl SendBatcher {
    /// Starts `writers` writer tasks on the current runtime, each inserting at most `max_batch`
    /// messages per statement (more only when one sender's parked sends to a room, released
    /// together, take it past that) and handing what it committed to `announce`.
    pub fn start(
        pool: PgPool,
        writers: usize,
        max_batch: usize,
        hooks: Arc<Wanted>,
        push: Arc<Pusher>,
        announce: Announce,
    ) -> Self {
        let parked = Arc::new(AtomicUsize::new(0));
        let writers = (0..writers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
                let out = Outlets { hooks: hooks.clone(), push: push.clone(), announce: announce.clone() };
                let fences = Fences::new(parked.clone());
                actix_web::rt::spawn(run_writer(pool.clone(), rx, max_batch.max(1), fences, out));
                tx
            })
            .collect();
        Self { writers, parked }
    }

    /// Sends queued for the writers and not yet taken into a batch, parked ones included.
    pub fn queued(&self) -> usize {
        let parked = self.parked.load(Ordering::Relaxed);
        parked + self.writers.iter().map(|w| w.max_capacity() - w.capacity()).sum::<usize>()
    }

    /// Queues a send and waits for its statement to commit (or fail).
    pub async fn submit(&self, send: QueuedSend) -> Outcome {
        self.enqueue(send).await.outcome().await
    }

    /// Queues a send; once this returns, a send of the same sender queued later for the same room
    /// commits after it (or, if this one comes back as [`Outcome::NotSimple`], after its checked
    /// path has finished).
    /// The result is waited for with [`Queued::outcome`].
    pub async fn enqueue(&self, send: QueuedSend) -> Queued {
        let shard = (send.room_id.0.as_u128() % self.writers.len() as u128) as usize;
        let (reply, answer) = oneshot::channel();
        if self.writers[shard].send(Job { send, reply, queued_at: std::time::Instant::now() }).await.is_err() {
            return Queued(None);
        }
        Queued(Some(answer))
    }
}

/// A send in a writer's queue (`None`: the writer had stopped).
pub struct Queued(Option<oneshot::Receiver<Outcome>>);

impl Queued {
    /// Waits for the send's statement to commit (or fail).
    pub async fn outcome(self) -> Outcome {
        let stopped = || Outcome::Failed(ApiError::Unavailable(anyhow::anyhow!("send writer stopped")));
        match self.0 {
            Some(answer) => answer.await.unwrap_or_else(|_| stopped()),
            None => stopped(),
        }
    }
}

/// What a writer hands committed messages to besides their senders.
struct Outlets {
    hooks: Arc<Wanted>,
    push: Arc<Pusher>,
    announce: Announce,
}

async fn run_writer(pool: PgPool, mut rx: mpsc::Receiver<Job>, max_batch: usize, mut fences: Fences, out: Outlets) {
    let mut incoming = Vec::with_capacity(max_batch);
    let mut jobs = Vec::with_capacity(max_batch);
    let mut own: Option<AsyncPgConnection> = None;
    let wake = fences.wake.clone();
    loop {
        if fences.releasable() {
            // Parked sends are ready: with whatever else has queued, without waiting for more.
            while incoming.len() < max_batch {
                let Ok(job) = rx.try_recv() else { break };
                incoming.push(job);
            }
        } else {
            tokio::select! {
                n = rx.recv_many(&mut incoming, max_batch) => if n == 0 { break },
                () = wake.notified(), if fences.parked > 0 => {}
            }
        }
        // Parked sends go first, ahead of their senders' newer ones.
        fences.release(&mut jobs, max_batch);
        jobs.append(&mut incoming);
        if jobs.is_empty() {
            continue;
        }
        let span = tracing::trace_span!("db.send_batch", size = jobs.len());
        tracing::Instrument::instrument(write(&pool, &mut own, &mut jobs, &mut fences, &out), span).await;
    }
    fences.hand_back_parked();
}

/// Inserts one batch on the writer's own connection (made on first use, and again after a
/// failure) and answers every job in it.
async fn write(
    pool: &PgPool,
    own: &mut Option<AsyncPgConnection>,
    jobs: &mut Vec<Job>,
    fences: &mut Fences,
    out: &Outlets,
) {
    let hooks = out.hooks.as_ref();
    fences.sweep();
    // A send behind one of its sender's handed back to the checked path waits for it. A retry
    // racing its original in the same batch would clash with it inside one statement and fail the
    // whole batch; it waits for the next batch instead, when the original has committed (the
    // statement then leaves it out, for the checked path to answer with the original) or failed,
    // and its sender's later sends to the room wait behind it. Handed back at once, it would have
    // fenced sends of this batch that came before it.
    let mut seen = HashSet::new();
    let mut batch = Vec::with_capacity(jobs.len());
    for job in jobs.drain(..) {
        let (room, sender) = (job.send.room_id, job.send.sender_id);
        let wait = fences.must_wait(room, sender)
            || job.send.client_msg_id.as_ref().is_some_and(|cmid| !seen.insert((room, sender, cmid.clone())));
        if wait {
            fences.park(job);
        } else {
            batch.push(job);
        }
    }
    if batch.is_empty() {
        return;
    }
    metrics::histogram!("db_send_batch_size").record(batch.len() as f64);
    let started = std::time::Instant::now();
    // How long each send waited for the statement that carries it (the writer busy with earlier
    // batches, or the send parked): with the batch's duration, the part of a send's time spent
    // in the writer, against the rest (`ws_command_duration_seconds`), in hops between threads.
    let waited = metrics::histogram!("db_send_queue_wait_seconds");
    for job in &batch {
        waited.record(started.duration_since(job.queued_at).as_secs_f64());
    }
    let rows: Vec<NewMessage<'_>> = batch
        .iter()
        .map(|j| NewMessage {
            id: j.send.id,
            room_id: j.send.room_id,
            sender_id: j.send.sender_id,
            body: &j.send.body,
            reply_to: None,
            client_msg_id: j.send.client_msg_id.as_deref(),
            mentions: None,
        })
        .collect();
    let result = match own {
        Some(conn) => insert(conn, &rows, hooks).await,
        None => match crate::db::own_connection(pool).await {
            Ok(conn) => insert(own.insert(conn), &rows, hooks).await,
            Err(e) => Err(Some(e)),
        },
    };
    metrics::histogram!("db_send_batch_duration_seconds").record(started.elapsed().as_secs_f64());
    // After a failure the connection may be broken: the next batch takes a fresh one.
    if matches!(result, Err(Some(_))) {
        *own = None;
    }
    drop(rows);
    match result {
        Ok(inserted) => {
            (out.announce)(&inserted);
            let committed: Vec<MessageId> = inserted.iter().map(|m| m.id).collect();
            let mut inserted: HashMap<MessageId, Message> = inserted.into_iter().map(|m| (m.id, m)).collect();
            for job in batch {
                match inserted.remove(&job.send.id) {
                    Some(m) => {
                        let _ = job.reply.send(Outcome::Inserted(m));
                    }
                    None => fences.hand_back(job),
                }
            }
            out.push.messages_committed(committed);
        }
        Err(None) => {
            for job in batch {
                fences.hand_back(job);
            }
        }
        // No connection (or it broke), or the statement ran past statement_timeout (a lock held
        // elsewhere, an overloaded database): nothing in a row is at fault, and trying each row
        // alone would only fail the same way, one timeout after another.
        Err(Some(error @ (ApiError::Unavailable(_) | ApiError::TimedOut(_)))) => {
            tracing::error!(error = ?error, size = batch.len(), "send batch failed");
            for job in batch {
                let _ = job.reply.send(Outcome::Failed(error.same_for_another()));
            }
        }
        // Something in one row (a value PostgreSQL refuses, a constraint) failed the statement and
        // rolled back every row. Which one is not told, so each send is tried alone, in arrival
        // order: the good ones commit (their room's seqs stay gapless, as the failed statement
        // took none) and only the bad row's sender gets the error. A batch aborted as a
        // deadlock's victim (`Contended`) takes the same way: its sends tried again, one by one.
        Err(Some(error)) => {
            tracing::warn!(error = ?error, size = batch.len(), "send batch failed; inserting its sends one by one");
            metrics::counter!("db_send_batch_isolations_total").increment(1);
            isolate(pool, batch, fences, out).await;
        }
    }
}

/// Inserts each send of a failed batch as a batch of one, and answers each with its own outcome.
async fn isolate(pool: &PgPool, batch: Vec<Job>, fences: &mut Fences, out: &Outlets) {
    let hooks = out.hooks.as_ref();
    let mut committed = Vec::new();
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            let error = ApiError::from(e);
            for job in batch {
                let _ = job.reply.send(Outcome::Failed(error.same_for_another()));
            }
            return;
        }
    };
    for job in batch {
        // Behind a send of its sender's handed back just now: it follows it. (Parked, it could
        // end up behind a retry of this batch that came after it.)
        if fences.holds(job.send.room_id, job.send.sender_id) {
            fences.hand_back(job);
            continue;
        }
        let row = NewMessage {
            id: job.send.id,
            room_id: job.send.room_id,
            sender_id: job.send.sender_id,
            body: &job.send.body,
            reply_to: None,
            client_msg_id: job.send.client_msg_id.as_deref(),
            mentions: None,
        };
        let result = insert(&mut conn, std::slice::from_ref(&row), hooks).await;
        match result {
            Ok(mut inserted) => match inserted.pop() {
                Some(m) => {
                    (out.announce)(std::slice::from_ref(&m));
                    committed.push(m.id);
                    let _ = job.reply.send(Outcome::Inserted(m));
                }
                None => fences.hand_back(job),
            },
            Err(None) => fences.hand_back(job),
            Err(Some(error)) => {
                tracing::error!(error = ?error, message_id = %job.send.id, "send failed on its own");
                let _ = job.reply.send(Outcome::Failed(error));
            }
        }
    }
    out.push.messages_committed(committed);
}

/// `Err(None)`: a client_msg_id committed meanwhile clashed, and the statement rolled back whole.
async fn insert(
    conn: &mut AsyncPgConnection,
    rows: &[NewMessage<'_>],
    hooks: &Wanted,
) -> Result<Vec<Message>, Option<ApiError>> {
    use diesel::result::{DatabaseErrorKind, Error};
    let result = if hooks.wants(crate::webhooks::EventType::MessageCreated) {
        use diesel_async::AsyncConnection;
        conn.transaction::<_, Error, _>(async |conn| {
            let inserted = q::insert_batch(conn, rows).await?;
            // The batch takes only sends without files (those go the transactional path).
            let views: Vec<MessageView> = inserted.iter().map(|m| MessageView::new(m.clone(), &[])).collect();
            crate::webhooks::enqueue_created(conn, hooks, &views).await?;
            Ok(inserted)
        })
        .await
    } else {
        q::insert_batch(conn, rows).await
    };
    result.map_err(|e| match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => None,
        other => Some(other.into()),
    })
}
