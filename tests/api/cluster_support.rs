//! What the cluster tests run besides plauder: two (or more) instances on one database and one
//! Redis prefix, a real nginx in front of them, a redis-server of a test's own that it can kill
//! and restart, and a TCP proxy in front of PostgreSQL that can cut it off.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::rt::task::JoinHandle;
use plauder::config::Settings;
use uuid::Uuid;

use crate::helpers::wait::eventually;
use crate::helpers::ws::WsClient;
use crate::helpers::{TestApp, spawn_app_from, test_settings};

/// The suite's Redis; scripts/test.sh starts it.
pub fn redis_url() -> String {
    std::env::var("PLAUDER_TEST_REDIS_URL")
        .expect("PLAUDER_TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub fn program(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

pub async fn wait_for_port(port: u16, what: &str) {
    eventually(&format!("{what} to listen on {port}"), async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(drop)
    })
    .await;
}

pub fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plauder-{kind}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The address nginx connects to the instances from, and the instances' one trusted proxy. It
/// differs from the clients' 127.0.0.1 so that, as in production, the client's own address is
/// not itself a trusted proxy (Linux answers on all of 127.0.0.0/8).
pub const NGINX_UPSTREAM_ADDR: &str = "127.0.0.2";

/// nginx proxying REST and WebSocket upgrades round-robin to the given ports, with the
/// forwarding headers deploy/nginx.conf sets.
pub struct Nginx {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    pub async fn start(upstreams: &[u16]) -> Self {
        let dir = scratch_dir("nginx");
        let port = free_port();
        let servers: String = upstreams.iter().map(|p| format!("    server 127.0.0.1:{p};\n")).collect();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
               upstream plauder {{\n{servers}  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                   proxy_pass http://plauder;\n      proxy_http_version 1.1;\n\
                   proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $connection_upgrade;\n\
                   proxy_set_header Host $host;\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_set_header Forwarded \"\";\n      proxy_bind {NGINX_UPSTREAM_ADDR};\n\
                   proxy_read_timeout 1h;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let child = Command::new(program("nginx"))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx (scripts/test.sh installs it)");
        wait_for_port(port, "nginx").await;
        Self { port, dir, child }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server of one test's own, which the test may kill (SIGKILL) and start again on the
/// same port.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self { port: free_port(), dir: scratch_dir("redis"), child: None };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let child = Command::new(program("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/test.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "redis-server").await;
    }

    /// The connected clients as `CLIENT LIST` shows them, one map per client: `id`, `flags` (`P`
    /// for a pub/sub connection), `cmd` (the last command it sent), ...
    pub async fn clients(&self) -> Vec<HashMap<String, String>> {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect to the test's redis-server");
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut conn).await.expect("CLIENT LIST");
        list.lines()
            .map(|line| {
                line.split(' ').filter_map(|f| f.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
            })
            .collect()
    }

    /// SIGKILL: no goodbye to the clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy in front of PostgreSQL: `cut` drops every proxied connection and refuses new
/// ones (PostgreSQL "down" for this test only), `restore` lets them through again.
pub struct PgProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl PgProxy {
    pub async fn start(target_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        let accept = actix_web::rt::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                let task = actix_web::rt::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().expect("lock").push(task);
            }
        });
        Self { port, up, conns, accept }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.conns.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Settings for one instance of a cluster on `redis_url` under `prefix`.
pub fn instance_settings(base: &Settings, redis_url: &str, prefix: &str, id: &str) -> Settings {
    let mut s = base.clone();
    s.redis.url = redis_url.to_owned().into();
    s.redis.channel_prefix = prefix.to_owned();
    s.server.instance_id = id.to_owned();
    s.server.trusted_proxies = vec![NGINX_UPSTREAM_ADDR.to_owned()];
    s
}

/// Two instances on one database and one Redis prefix, and nginx in front of both.
pub struct Cluster {
    pub a: TestApp,
    pub b: TestApp,
    /// The same API through nginx (its `state` is instance a's).
    pub front: TestApp,
    /// Kept for its lifetime: dropping it stops nginx.
    _nginx: Nginx,
}

pub fn port_of(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in address")
}

impl Cluster {
    pub async fn start(redis_url: &str) -> Self {
        Self::start_with(redis_url, |_| {}).await
    }

    pub async fn start_with(redis_url: &str, adjust: impl Fn(&mut Settings)) -> Self {
        let mut base = test_settings().await;
        adjust(&mut base);
        let prefix = format!("t{}", Uuid::new_v4().simple());
        let a = spawn_app_from(instance_settings(&base, redis_url, &prefix, "alpha")).await;
        let b = spawn_app_from(instance_settings(&base, redis_url, &prefix, "beta")).await;
        let nginx = Nginx::start(&[port_of(&a), port_of(&b)]).await;
        let front = TestApp {
            address: format!("http://127.0.0.1:{}", nginx.port),
            client: a.client.clone(),
            db_url: a.db_url.clone(),
            state: a.state.clone(),
        };
        Self { a, b, front, _nginx: nginx }
    }

    /// A WebSocket through nginx that landed on the instance with this id (nginx balances
    /// round-robin, so a few attempts reach either).
    pub async fn ws_on(&self, token: &str, instance: &str) -> WsClient {
        for _ in 0..20 {
            let client = self.front.ws(token).await;
            if client.hello["data"]["instance"] == instance {
                return client;
            }
            client.close().await;
        }
        panic!("nginx never sent a WebSocket to {instance}");
    }
}

/// A counter of one instance from its /metrics (the metrics recorder is shared by the
/// instances of one test process; the broker's series carry an `instance` label).
pub async fn instance_metric(app: &TestApp, name: &str, instance: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.expect("metrics");
    let label = format!("instance=\"{instance}\"");
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
