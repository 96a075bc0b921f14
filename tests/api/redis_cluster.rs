//! Two instances on a real Redis Cluster of three masters that the test starts itself
//! (`redis-server --cluster-enabled yes` on free ports, joined with `redis-cli --cluster create`):
//! delivery over sharded pub/sub, presence through the hash-tagged keys, a ban, and a master
//! killed mid-traffic with every committed message recovered by `sync`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster_support::{Cluster, free_port, instance_metric, program, scratch_dir};
use crate::helpers::wait::{check, eventually, eventually_within};
use crate::helpers::ws::{WsClient, new_bodies};
use crate::helpers::{TestUser, user_with_role};

/// Three masters, no replicas. A killed master takes its slots with it until it is restarted
/// (`cluster-require-full-coverage no` keeps the other slots serving meanwhile).
struct RedisCluster {
    ports: Vec<u16>,
    dirs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
}

impl RedisCluster {
    async fn start() -> Self {
        let dirs: Vec<PathBuf> = (0..3).map(|_| scratch_dir("redis-cluster")).collect();
        let mut cluster = Self { ports: Vec::new(), dirs, children: vec![None, None, None] };
        // A free port can be taken between our probe and redis-server's bind (the suite runs
        // many tests at once), and a cluster node also needs port + 10000 for its bus. A node
        // that exits at start gets fresh ports rather than failing the test.
        for attempt in 1..=5 {
            cluster.ports = (0..3).map(|_| free_cluster_port()).collect();
            let mut all_up = true;
            for i in 0..3 {
                if let Err(why) = cluster.start_node(i).await {
                    eprintln!("cluster node on {} did not start (attempt {attempt}): {why}", cluster.ports[i]);
                    all_up = false;
                    break;
                }
            }
            if all_up {
                break;
            }
            for i in 0..3 {
                cluster.kill(i);
                let _ = std::fs::remove_file(cluster.dirs[i].join("nodes.conf"));
            }
            assert!(attempt < 5, "no redis-server cluster node could be started in 5 attempts");
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new(program("redis-cli"))
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("redis-cli --cluster create (scripts/test.sh installs redis-tools)");
        assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        for i in 0..3 {
            cluster.wait_ok(i).await;
        }
        cluster
    }

    /// Starts node `i` and waits until it listens; `Err` with its log when it exits first (its
    /// port or bus port was taken) or does not listen in time.
    async fn start_node(&mut self, i: usize) -> Result<(), String> {
        let log = self.dirs[i].join("redis.log");
        let mut child = Command::new(program("redis-server"))
            .args(["--port", &self.ports[i].to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no"])
            .arg("--dir")
            .arg(&self.dirs[i])
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let port = self.ports[i];
        // Ours answering, not merely something listening: another test's server can hold the port
        // this one failed to bind (it then exits), and `--cluster create` would fail on it.
        let pid = format!("process_id:{}\r\n", child.id());
        let listening = async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("exited with {status}"));
                }
                if node_command(port, &["INFO", "server"]).await.is_some_and(|info| info.contains(&pid)) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let result = match tokio::time::timeout(Duration::from_secs(15), listening).await {
            Ok(result) => result,
            Err(_) => Err("not listening after 15 s".to_owned()),
        };
        self.children[i] = Some(child);
        result.map_err(|why| format!("{why}; log: {}", std::fs::read_to_string(&log).unwrap_or_default()))
    }

    /// Waits until node `i` sees the whole cluster serving.
    async fn wait_ok(&self, i: usize) {
        let port = self.ports[i];
        eventually_within(Duration::from_secs(30), "the cluster to be ok", async || {
            let info = node_command(port, &["CLUSTER", "INFO"]).await;
            check(info, |i| i.as_deref().is_some_and(|i| i.contains("cluster_state:ok")))
        })
        .await;
    }

    /// The seed list plauder is given: every node.
    fn url(&self) -> String {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    /// The node that serves `key`'s slot.
    async fn owner_of(&self, key: &str) -> usize {
        let slot: i64 = node_query(self.ports[0], &["CLUSTER", "KEYSLOT", key]).await;
        for (i, port) in self.ports.iter().enumerate() {
            let nodes = node_command(*port, &["CLUSTER", "NODES"]).await.expect("CLUSTER NODES");
            let me = nodes.lines().find(|l| l.contains("myself")).expect("myself");
            let owns = me.split(' ').skip(8).any(|range| match range.split_once('-') {
                Some((a, b)) => a.parse::<i64>().is_ok_and(|a| a <= slot) && b.parse::<i64>().is_ok_and(|b| slot <= b),
                None => range.parse::<i64>().is_ok_and(|s| s == slot),
            });
            if owns {
                return i;
            }
        }
        panic!("no node owns slot {slot}");
    }

    /// SIGKILL: no goodbye, its slots are gone until it is restarted.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts node `i` from its nodes.conf: it comes back as the master of its slots.
    async fn restart(&mut self, i: usize) {
        if let Err(why) = self.start_node(i).await {
            panic!("restarting cluster node {i}: {why}");
        }
        for n in 0..3 {
            self.wait_ok(n).await;
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
            let _ = std::fs::remove_dir_all(&self.dirs[i]);
        }
    }
}

/// A free port whose cluster bus port (port + 10000) is free as well.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= u16::MAX - 10_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One command to one node (not through the cluster's routing); None when it is down.
async fn node_command(port: u16, args: &[&str]) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async::<String>(&mut conn).await.ok()
}

async fn node_query<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> T {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect to a cluster node");
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async::<T>(&mut conn).await.expect("cluster node command")
}

async fn start(redis: &RedisCluster) -> Cluster {
    Cluster::start_with(&redis.url(), |s| s.redis.cluster = true).await
}

fn room_channel(c: &Cluster, room: uuid::Uuid) -> String {
    format!("{}:room:{room}", c.a.state.settings.redis.channel_prefix)
}

async fn presence_of(ws: &mut WsClient, user: &TestUser) -> Value {
    ws.event_where("presence", |ev| ev["user_id"] == user.id.to_string()).await
}

#[actix_web::test]
async fn delivery_presence_and_a_ban_cross_instances_over_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    let c = start(&redis).await;
    let admin = user_with_role(&c.front, "root", "admin").await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    c.front.befriend(&ada, &bob).await;
    let room = c.front.group(&ada, "sharded", &[&bob]).await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;
    let mut ada_a = c.ws_on(&ada.access_token, "alpha").await;
    for app in [&c.a, &c.b] {
        let body: Value = app.get("/health/ready", None).await.json().await.unwrap();
        assert_eq!(body["checks"]["redis"], "up", "{body}");
    }

    // Presence: the report script ran on the cluster (its keys share a slot) and its event
    // reached beta.
    assert_eq!(presence_of(&mut bob_b, &ada).await["status"], "online");

    // Delivery, once, over the room's sharded channel: the shard that owns it counts beta's
    // and alpha's sharded subscriptions, and no node has a classic one.
    let r = ada_a.command("message.send", json!({"room_id": room, "body": "over a shard"})).await;
    assert_eq!(r["ok"], true, "{r}");
    let mut frames = bob_b.frames_until("the message", |f| !new_bodies(f, None).is_empty()).await;
    frames.extend(bob_b.frames_within(Duration::from_millis(300)).await);
    assert_eq!(new_bodies(&frames, None), ["over a shard"]);
    let channel = room_channel(&c, room);
    let owner = redis.owner_of(&channel).await;
    let sharded: Vec<redis::Value> = node_query(redis.ports[owner], &["PUBSUB", "SHARDNUMSUB", &channel]).await;
    assert_eq!(sharded.get(1), Some(&redis::Value::Int(2)), "both instances SSUBSCRIBEd: {sharded:?}");
    for port in &redis.ports {
        let classic: Vec<redis::Value> = node_query(*port, &["PUBSUB", "NUMSUB", &channel]).await;
        assert_eq!(classic.get(1), Some(&redis::Value::Int(0)), "no classic subscription: {classic:?}");
    }

    // A ban issued on alpha closes ada's socket on beta.
    let mut ada_b = c.ws_on(&ada.access_token, "beta").await;
    let res =
        c.a.patch(
            &format!("/api/v1/admin/users/{}", ada.id),
            Some(&admin.access_token),
            json!({"banned": true, "ban_reason": "spam"}),
        )
        .await;
    assert!(res.status().is_success(), "ban: {}", res.status());
    assert_eq!(ada_b.closed_with_reason().await, (4003, "banned".to_owned()));
    assert_eq!(ada_a.closed_with_reason().await, (4003, "banned".to_owned()));
}

#[actix_web::test]
async fn a_master_killed_mid_traffic_loses_no_committed_message() {
    let mut redis = RedisCluster::start().await;
    let c = start(&redis).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let room = c.front.group(&ada, "failover", &[&bob]).await;
    let mut ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    let mut committed = ada_a.send_burst(room, "before", 5).await;
    // The master of the room's channel goes away in the middle of the traffic.
    let victim = redis.owner_of(&room_channel(&c, room)).await;
    redis.kill(victim);
    committed.extend(ada_a.send_burst(room, "during", 10).await);
    // The outage mattered: the room's publishes had no shard to go to.
    eventually("alpha to count publishes that failed", async || {
        check(instance_metric(&c.a, "plauder_broker_publish_errors_total", "alpha").await, |&n| n >= 1.0)
    })
    .await;
    redis.restart(victim).await;
    eventually_within(Duration::from_secs(30), "both instances ready again", async || {
        let ready = (c.a.get("/health/ready", None).await.status(), c.b.get("/health/ready", None).await.status());
        check(ready, |&r| r == (StatusCode::OK, StatusCode::OK))
    })
    .await;
    // Delivery over the restarted shard resumes (the client subscribed again by itself).
    let tagged = |frames: &[Value], tag: &str| new_bodies(frames, None).iter().filter(|b| b.starts_with(tag)).count();
    let mut after = 0;
    eventually_within(Duration::from_secs(30), "a message sent after the restart to reach beta", async || {
        committed.extend(ada_a.send_burst(room, "after", 1).await);
        after += tagged(&bob_b.frames_within(Duration::from_millis(500)).await, "after");
        check(after, |&n| n >= 1)
    })
    .await;

    let r = bob_b.command("sync", json!({"room_id": room, "since_seq": 0, "limit": 100})).await;
    let synced: BTreeSet<i64> =
        r["data"]["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    for seq in &committed {
        assert!(synced.contains(seq), "committed seq {seq} recoverable by sync: {synced:?}");
    }
    assert_eq!(r["data"]["has_more"], false);
}
