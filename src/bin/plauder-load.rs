//! plauder-load: a load generator and checker for a running plauder server.
//!
//! ```text
//! plauder-load fanout --rooms 100 --members 10 --duration-secs 20 [--rate 10000]
//! plauder-load idle --connections 19500 --hold-secs 10
//! plauder-load churn --cycles 20000 --concurrency 50
//! plauder-load churn-rounds --rounds 10 --conns 2000
//! ```
//!
//! `fanout` registers rooms × members users, puts each room's members in a group, opens one
//! WebSocket per user, and has one sender per room send `message.send` either closed-loop (the
//! next message after the previous one's reply, i.e. after its commit) or at a fixed total rate.
//! Every connection checks that it receives every message of its room exactly once and in seq
//! order. Reported: deliveries/s, end-to-end latency (send to delivery) p50/p99/max, and the
//! server's memory from /metrics. `idle` opens connections and holds them (spreading source
//! addresses over 127.0.0.x past the ~28k ephemeral ports of one address); `churn` connects and
//! disconnects; `churn-rounds` opens a batch of connections together and closes them all, round
//! after round (the server's RSS growth says whether freed connection memory is kept). Registration needs a server whose auth rate limit allows it
//! (PLAUDER__RATE_LIMIT__AUTH_BURST).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser)]
#[command(name = "plauder-load", about = "Load generator and checker for plauder")]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// PostgreSQL's postmaster pid, when it runs on this machine: the report then includes the CPU
    /// its processes used during the run.
    #[arg(long, global = true)]
    pg_pid: Option<u32>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Messages fanned out to room members, checked for loss, duplication and order.
    Fanout {
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        members: usize,
        #[arg(long, default_value_t = 20)]
        duration_secs: u64,
        /// Total messages per second over all rooms; without it each room's sender is closed-loop.
        #[arg(long)]
        rate: Option<u64>,
    },
    /// Many open, idle connections: connect rate and server memory per connection.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        hold_secs: u64,
        /// Distinct users the connections belong to.
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// Connect, read hello, disconnect, over and over: the server's memory before and after.
    Churn {
        #[arg(long, default_value_t = 20_000)]
        cycles: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
    },
    /// Rounds of opening `conns` connections together and then closing them all: the server's
    /// memory before, after each round, and at the end (a leak and allocator-retention check).
    ChurnRounds {
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        #[arg(long, default_value_t = 2_000)]
        conns: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

struct Target {
    http: String,
    ws_host: SocketAddr,
    ws_url: String,
    client: reqwest::Client,
    pg_pid: Option<u32>,
}

impl Target {
    fn new(url: &str, pg_pid: Option<u32>) -> anyhow::Result<Self> {
        let http = url.trim_end_matches('/').to_owned();
        let hostport = http.trim_start_matches("http://");
        let ws_host: SocketAddr = hostport.parse().map_err(|_| anyhow::anyhow!("--url must be http://IP:PORT"))?;
        Ok(Self { ws_url: format!("ws://{hostport}/ws"), http, ws_host, client: reqwest::Client::new(), pg_pid })
    }

    async fn register(&self, name: &str) -> anyhow::Result<(String, String)> {
        let body = json!({"username": name, "email": format!("{name}@load.test"), "password": "load test passphrase"});
        let res = self.client.post(format!("{}/api/v1/auth/register", self.http)).json(&body).send().await?;
        let status = res.status();
        let v: Value = res.json().await?;
        anyhow::ensure!(status.is_success(), "register {name}: {status} {v}");
        Ok((
            v["user"]["id"].as_str().unwrap_or_default().to_owned(),
            v["access_token"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    async fn create_room(&self, token: &str, name: &str, members: &[String]) -> anyhow::Result<String> {
        let res = self
            .client
            .post(format!("{}/api/v1/rooms", self.http))
            .bearer_auth(token)
            .json(&json!({"kind": "group", "name": name, "member_ids": members}))
            .send()
            .await?;
        let v: Value = res.json().await?;
        v["id"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("create room: {v}"))
    }

    async fn rss(&self) -> anyhow::Result<f64> {
        self.metric("plauder_process_resident_memory_bytes").await
    }

    /// CPU seconds of PostgreSQL's postmaster and its children (backends, WAL writer, …).
    fn pg_cpu(&self) -> f64 {
        let Some(root) = self.pg_pid else { return 0.0 };
        let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
        dir.flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                let pid = stat.split(' ').next().and_then(|p| p.parse::<u32>().ok());
                let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok());
                pid == Some(root) || ppid == Some(root)
            })
            .filter_map(|stat| plauder::metrics::cpu_seconds(&stat))
            .sum()
    }

    /// The server's CPU seconds so far.
    async fn cpu(&self) -> anyhow::Result<f64> {
        self.metric("plauder_process_cpu_seconds_total").await
    }

    async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = self.client.get(format!("{}/metrics", self.http)).send().await?.text().await?;
        text.lines()
            .find(|l| l.split(' ').next() == Some(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no {name} in /metrics"))
    }

    /// A WebSocket from source address `source` (127.0.0.x), its hello read.
    async fn connect(&self, token: &str, source: Option<IpAddr>) -> anyhow::Result<Ws> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(self.ws_host).await?;
        stream.set_nodelay(true)?;
        let mut request = self.ws_url.as_str().into_client_request()?;
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        // tungstenite zero-fills its whole read buffer (128 KiB by default) before every read: with
        // one small frame per read that memset was most of this tool's CPU.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"hello\"") => Ok(ws),
            other => anyhow::bail!("expected hello, got {other:?}"),
        }
    }
}

/// Registers `n` users named `prefix-i`, 16 at a time.
async fn register_many(t: &Arc<Target>, prefix: &str, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let results: Vec<_> = futures_util::stream::iter(names)
        .map(|name| {
            let t = t.clone();
            async move { t.register(&name).await }
        })
        .buffered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

fn run_id() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
            % 0xffff_ffff
    )
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// This process's CPU seconds (see `plauder::metrics::cpu_seconds`).
fn own_cpu() -> f64 {
    plauder::metrics::cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()).unwrap_or(0.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct NewEvent<'a> {
    #[serde(borrow)]
    data: NewEventData<'a>,
}

#[derive(serde::Deserialize)]
struct NewEventData<'a> {
    seq: i64,
    #[serde(borrow)]
    message: NewEventMessage<'a>,
}

#[derive(serde::Deserialize)]
struct NewEventMessage<'a> {
    #[serde(borrow)]
    body: std::borrow::Cow<'a, str>,
}

/// One reading client: its room index, what it received, its reply signal and its task.
type Reader = (usize, Arc<std::sync::Mutex<Received>>, Arc<tokio::sync::Notify>, tokio::task::JoinHandle<()>);

#[derive(Default)]
struct Received {
    seqs: Vec<i64>,
    latencies_us: Vec<u64>,
    /// The close code, when the server closed this connection (4009: it fell behind).
    closed: Option<u16>,
}

async fn fanout(
    t: Arc<Target>,
    rooms: usize,
    members: usize,
    duration: Duration,
    rate: Option<u64>,
) -> anyhow::Result<()> {
    let id = run_id();
    eprintln!("setup: registering {} users", rooms * members);
    let users = register_many(&t, &format!("f{id}"), rooms * members).await?;
    let mut room_ids = Vec::new();
    for r in 0..rooms {
        let group = &users[r * members..(r + 1) * members];
        let others: Vec<String> = group[1..].iter().map(|(uid, _)| uid.clone()).collect();
        room_ids.push(t.create_room(&group[0].1, &format!("load {r}"), &others).await?);
    }
    eprintln!("setup: opening {} connections", users.len());
    let epoch = Instant::now();
    let refused = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    let mut senders: Vec<Option<futures_util::stream::SplitSink<Ws, Message>>> = Vec::new();
    for (i, (_, token)) in users.iter().enumerate() {
        let ws = t.connect(token, None).await?;
        let (sink, mut stream) = ws.split();
        let received = Arc::new(std::sync::Mutex::new(Received::default()));
        let replies = Arc::new(tokio::sync::Notify::new());
        let (rec, rep, refused) = (received.clone(), replies.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Close(frame) = &msg {
                    let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                    rec.lock().unwrap_or_else(std::sync::PoisonError::into_inner).closed = Some(code);
                    break;
                }
                let Message::Text(text) = msg else { continue };
                if text.contains("\"type\":\"reply\"") {
                    if text.contains("\"ok\":false") {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    rep.notify_one();
                    continue;
                }
                if !text.contains("\"type\":\"message.new\"") {
                    continue;
                }
                // Borrowed, typed parsing: the checker must cost far less than the server it measures.
                let Ok(ev) = serde_json::from_str::<NewEvent>(&text) else { continue };
                let sent_us = ev.data.message.body.split(' ').next().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
                let now_us = epoch.elapsed().as_micros() as u64;
                let mut r = rec.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                r.seqs.push(ev.data.seq);
                r.latencies_us.push(now_us.saturating_sub(sent_us));
            }
        });
        readers.push((i / members, received, replies, task));
        // Room r's sender is its member r % members, not always its first: connections alternate
        // between the server's workers as they are accepted, and with an even room size the first
        // members would all have landed on one worker, which then did every send's work.
        senders.push(if i % members == (i / members) % members {
            Some(sink)
        } else {
            drop(sink);
            None
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = t.rss().await.unwrap_or(0.0);
    let (cpu_before, own_cpu_before, pg_cpu_before) = (t.cpu().await.unwrap_or(0.0), own_cpu(), t.pg_cpu());
    eprintln!(
        "run: {} rooms x {} members, {}s, {}",
        rooms,
        members,
        duration.as_secs(),
        rate.map_or("closed loop".to_owned(), |r| format!("{r} msg/s"))
    );
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut room_index = 0;
    for (i, sink) in senders.into_iter().enumerate() {
        let Some(mut sink) = sink else { continue };
        let room = room_ids[i / members].clone();
        let replies = readers[i].2.clone();
        let (sent, errors) = (sent.clone(), errors.clone());
        let interval = rate.map(|r| Duration::from_secs_f64(rooms as f64 / r as f64));
        let offset = interval.map(|iv| iv.mul_f64(room_index as f64 / rooms as f64));
        room_index += 1;
        tasks.push(tokio::spawn(async move {
            if let Some(offset) = offset {
                tokio::time::sleep(offset).await;
            }
            let mut next = Instant::now();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let body = format!("{} load message {n}", epoch.elapsed().as_micros());
                let frame = json!({"id": n, "type": "message.send", "data": {"room_id": room, "body": body}});
                if sink.send(Message::text(frame.to_string())).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                match interval {
                    None => {
                        // Closed loop: wait for the reply, which comes after the commit.
                        if tokio::time::timeout(Duration::from_secs(10), replies.notified()).await.is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(iv) => {
                        next += iv;
                        tokio::time::sleep_until(next.into()).await;
                    }
                }
            }
            sink
        }));
    }
    let mut sinks = Vec::new();
    for task in tasks {
        if let Ok(sink) = task.await {
            sinks.push(sink);
        }
    }
    let send_elapsed = started.elapsed();
    // Let the last deliveries arrive: until nothing new came for a second (at most 30 s).
    let total =
        |readers: &[Reader]| readers.iter().map(|(_, r, _, _)| r.lock().map_or(0, |r| r.seqs.len())).sum::<usize>();
    let drain_deadline = Instant::now() + Duration::from_secs(30);
    let mut last = usize::MAX;
    while Instant::now() < drain_deadline {
        let now = total(&readers);
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let rss_after = t.rss().await.unwrap_or(0.0);
    let (server_cpu, own_cpu, pg_cpu) =
        (t.cpu().await.unwrap_or(0.0) - cpu_before, own_cpu() - own_cpu_before, t.pg_cpu() - pg_cpu_before);

    let mut per_room_max: HashMap<usize, i64> = HashMap::new();
    for (room, received, _, _) in &readers {
        let r = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let max = r.seqs.iter().copied().max().unwrap_or(0);
        let e = per_room_max.entry(*room).or_insert(0);
        *e = (*e).max(max);
    }
    let (mut lost, mut duplicated, mut out_of_order, mut deliveries) = (0u64, 0u64, 0u64, 0u64);
    let mut closed: HashMap<u16, u64> = HashMap::new();
    let mut latencies = Vec::new();
    for (room, received, _, _) in &readers {
        let r = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        deliveries += r.seqs.len() as u64;
        latencies.extend_from_slice(&r.latencies_us);
        let expected = per_room_max.get(room).copied().unwrap_or(0);
        let mut seen = std::collections::HashSet::new();
        let mut last = 0;
        for &s in &r.seqs {
            if !seen.insert(s) {
                duplicated += 1;
            }
            if s < last {
                out_of_order += 1;
            }
            last = s;
        }
        match r.closed {
            // A closed connection misses what came after; a client recovers it with sync.
            Some(code) => *closed.entry(code).or_insert(0) += 1,
            None => lost += (1..=expected).filter(|s| !seen.contains(s)).count() as u64,
        }
    }
    latencies.sort_unstable();
    let secs = send_elapsed.as_secs_f64();
    println!(
        "mode: fanout, {rooms} rooms x {members} members, {}",
        rate.map_or("closed loop".into(), |r| format!("fixed rate {r} msg/s"))
    );
    println!("machine load at end: {}", loadavg());
    println!(
        "messages sent: {} ({:.0}/s), refused by the server: {}, send errors: {}",
        sent.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) as f64 / secs,
        refused.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
    println!("deliveries: {deliveries} ({:.0}/s)", deliveries as f64 / secs);
    println!(
        "latency ms: p50 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!("lost: {lost}  duplicated: {duplicated}  out of order: {out_of_order}  (on connections still open)");
    println!("connections closed by the server: {closed:?}");
    println!("server RSS: {:.1} MB before the run, {:.1} MB after", rss_before / 1e6, rss_after / 1e6);
    // CPU time per delivery does not depend on what else runs on the machine the way rates do.
    println!(
        "CPU: server {server_cpu:.2} s ({:.2} us per delivery), PostgreSQL {}, load tool {own_cpu:.2} s",
        server_cpu * 1e6 / deliveries.max(1) as f64,
        if t.pg_pid.is_some() {
            format!("{pg_cpu:.2} s ({:.1} us per message)", pg_cpu * 1e6 / sent.load(Ordering::Relaxed).max(1) as f64)
        } else {
            "not measured (--pg-pid)".into()
        }
    );
    drop(sinks);
    for (_, _, _, task) in readers {
        task.abort();
    }
    anyhow::ensure!(lost == 0 && duplicated == 0 && out_of_order == 0, "delivery check failed");
    Ok(())
}

/// Source addresses past the first 25,000 connections: 127.0.0.2, .3, ... each carrying at most
/// 25,000. The first ones are not bound at all: an explicit bind to port 0 makes the kernel search
/// for a free port on every socket, which with ~20,000 in use cost this tool a whole core.
fn source_for(i: usize) -> Option<IpAddr> {
    (i >= 25_000).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i / 25_000) as u8)))
}

async fn idle(
    t: Arc<Target>,
    connections: usize,
    hold: Duration,
    users: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let id = run_id();
    let accounts = register_many(&t, &format!("i{id}"), users).await?;
    let rss_before = t.rss().await?;
    let (cpu_before, pg_cpu_before) = (t.cpu().await?, t.pg_cpu());
    let started = Instant::now();
    let opened: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(0..connections)
        .map(|i| {
            let t = t.clone();
            let token = accounts[i % accounts.len()].1.clone();
            async move { t.connect(&token, source_for(i)).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let (server_cpu, pg_cpu) = (t.cpu().await? - cpu_before, t.pg_cpu() - pg_cpu_before);
    let failed = opened.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = opened.iter().find(|r| r.is_err()) {
        eprintln!("first connect error: {e}");
    }
    let open = connections - failed;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = t.rss().await?;
    println!(
        "mode: idle, {connections} connections from {} source addresses, {users} users",
        connections.div_ceil(25_000)
    );
    println!("machine load: {}", loadavg());
    println!(
        "opened: {open} ({failed} failed) in {:.2}s: {:.0} connects/s",
        elapsed.as_secs_f64(),
        open as f64 / elapsed.as_secs_f64()
    );
    // CPU time per connect is what a shared machine cannot distort the way it distorts the rate.
    println!(
        "CPU while connecting: server {server_cpu:.2} s ({:.0} us per connect), PostgreSQL {pg_cpu:.2} s ({:.0} us per connect)",
        server_cpu * 1e6 / open.max(1) as f64,
        pg_cpu * 1e6 / open.max(1) as f64
    );
    println!(
        "server RSS: {:.1} MB before, {:.1} MB with them open: {:.2} KiB per connection",
        rss_before / 1e6,
        rss_open / 1e6,
        (rss_open - rss_before) / 1024.0 / open.max(1) as f64
    );
    tokio::time::sleep(hold).await;
    drop(opened);
    Ok(())
}

async fn churn(t: Arc<Target>, cycles: usize, concurrency: usize) -> anyhow::Result<()> {
    let id = run_id();
    let accounts = register_many(&t, &format!("c{id}"), 20).await?;
    // Warm up, so allocator pools that any server grows once are not counted as a leak.
    for (_, token) in &accounts {
        drop(t.connect(token, None).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = t.rss().await?;
    let started = Instant::now();
    let failures = Arc::new(AtomicU64::new(0));
    futures_util::stream::iter(0..cycles)
        .for_each_concurrent(concurrency, |i| {
            let (t, token, failures) = (t.clone(), accounts[i % accounts.len()].1.clone(), failures.clone());
            async move {
                match t.connect(&token, source_for(i % 50_000)).await {
                    Ok(mut ws) => {
                        let _ = ws.close(None).await;
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .await;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = t.rss().await?;
    println!("mode: churn, {cycles} connect/disconnect cycles, concurrency {concurrency}");
    println!("machine load: {}", loadavg());
    println!("cycles/s: {:.0}, failures: {}", cycles as f64 / elapsed.as_secs_f64(), failures.load(Ordering::Relaxed));
    println!(
        "server RSS: {:.1} MB before, {:.1} MB after ({:+.1} MB)",
        rss_before / 1e6,
        rss_after / 1e6,
        (rss_after - rss_before) / 1e6
    );
    Ok(())
}

async fn churn_rounds(t: Arc<Target>, rounds: usize, conns: usize, concurrency: usize) -> anyhow::Result<()> {
    let id = run_id();
    let accounts = register_many(&t, &format!("r{id}"), 100).await?;
    for (_, token) in &accounts {
        drop(t.connect(token, None).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = t.rss().await?;
    println!("mode: churn-rounds, {rounds} rounds of {conns} connections opened together, then closed");
    println!("machine load: {}", loadavg());
    let mut failed = 0;
    for round in 0..rounds {
        let opened: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(0..conns)
            .map(|i| {
                let (t, token) = (t.clone(), accounts[i % accounts.len()].1.clone());
                async move { t.connect(&token, source_for(i)).await }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        failed += opened.iter().filter(|r| r.is_err()).count();
        let rss_open = t.rss().await?;
        futures_util::stream::iter(opened.into_iter().flatten())
            .for_each_concurrent(concurrency, |mut ws| async move {
                let _ = ws.close(None).await;
            })
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_closed = t.rss().await?;
        println!("round {}: RSS {:.1} MB open, {:.1} MB closed", round + 1, rss_open / 1e6, rss_closed / 1e6);
    }
    let rss_after = t.rss().await?;
    println!(
        "server RSS: {:.1} MB before, {:.1} MB after ({:+.1} MB), {failed} connects failed",
        rss_before / 1e6,
        rss_after / 1e6,
        (rss_after - rss_before) / 1e6
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built with rustls and no provider of its own (plauder's webhooks): install ring.
    plauder::db::tls::provider();
    let cli = Cli::parse();
    let t = Arc::new(Target::new(&cli.url, cli.pg_pid)?);
    match cli.mode {
        Mode::Fanout { rooms, members, duration_secs, rate } => {
            fanout(t, rooms, members, Duration::from_secs(duration_secs), rate).await
        }
        Mode::Idle { connections, hold_secs, users, concurrency } => {
            idle(t, connections, Duration::from_secs(hold_secs), users, concurrency).await
        }
        Mode::Churn { cycles, concurrency } => churn(t, cycles, concurrency).await,
        Mode::ChurnRounds { rounds, conns, concurrency } => churn_rounds(t, rounds, conns, concurrency).await,
    }
}
