//! The test harness: `spawn_app()` gives each test its own database (cloned from a migrated
//! template) and its own server on a random port, and `TestApp` has a method per endpoint. The
//! helpers shared by test files live here: `ws` is the WebSocket client, `wait` waits for
//! conditions (`eventually`) and keeps the unavoidable absence windows explicit.

use std::path::Path;
use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use plauder::config::Settings;
use plauder::realtime::registry::RegistryStats;
use plauder::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use uuid::Uuid;

use self::wait::{check, eventually};
use self::ws::WsClient;

pub mod s3;
pub mod smtp;
pub mod wait;
pub mod ws;

pub const PASSWORD: &str = "correct horse battery staple";
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long!";

/// The server PostgreSQL, without a database name; scripts/test.sh sets it.
pub fn base_url() -> String {
    std::env::var("PLAUDER_TEST_DATABASE_URL")
        .expect("PLAUDER_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh")
}

/// A name that changes whenever a migration file does, so a stale template is never reused.
fn template_name() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut entries: Vec<_> = walk(&dir);
    entries.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, content) in entries {
        for b in name.bytes().chain(content) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("plauder_tpl_{hash:016x}")
}

fn walk(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).expect("migration file")));
        }
    }
    out
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Builds the migrated template once per cluster: nextest runs each test in its own process, so
/// processes coordinate through an advisory lock and the template's existence.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", base_url()))
                .await
                .expect("connect to the test PostgreSQL");
            sql_query("SELECT pg_advisory_lock(727274)").execute(&mut admin).await.expect("lock");
            let exists: Count = sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&name)
                .get_result(&mut admin)
                .await
                .expect("look up template");
            if exists.n == 0 {
                let building = format!("{name}_building");
                sql_query(format!("DROP DATABASE IF EXISTS {building}")).execute(&mut admin).await.expect("drop");
                sql_query(format!("CREATE DATABASE {building}")).execute(&mut admin).await.expect("create");
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
                let settings = Settings::load_unchecked(&dir, "test").expect("config/test.toml");
                plauder::db::run_migrations(&settings.database, &format!("{}/{building}", base_url()))
                    .await
                    .expect("migrate template");
                sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("rename");
            }
            sql_query("SELECT pg_advisory_unlock(727274)").execute(&mut admin).await.expect("unlock");
            name
        })
        .await
        .clone()
}

/// A new empty database with the schema, for one test.
pub async fn fresh_database() -> String {
    let template = template().await;
    let name = format!("plauder_test_{}", Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", base_url())).await.expect("connect");
    sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await.expect("clone template");
    format!("{}/{name}", base_url())
}

/// The test settings (config/test.toml) pointed at a fresh database.
pub async fn test_settings() -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_unchecked(&dir, "test").expect("config/test.toml");
    settings.database.url = fresh_database().await.into();
    settings.auth.jwt_secret = JWT_SECRET.to_owned().into();
    settings.database.migrate_on_start = false;
    // Each test's own attachment store, so tests can count its files.
    settings.attachments.directory = format!("{}/attachments-{}", env!("CARGO_TARGET_TMPDIR"), Uuid::new_v4().simple());
    // The VAPID key beside it, not in it: the attachment tests count what the store keeps there.
    settings.push.vapid_key_file = format!("{}/vapid-{}.pem", env!("CARGO_TARGET_TMPDIR"), Uuid::new_v4().simple());
    settings.validate().expect("valid test settings");
    settings
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_url: String,
    /// The running application's state, for fault injection and counters.
    pub state: actix_web::web::Data<plauder::state::AppState>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `adjust` has changed its settings (rate limits, token lifetimes...).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings().await;
    adjust(&mut settings);
    spawn_app_from(settings).await
}

/// Settings for tests that count the process's database queries: the mail, push and webhook
/// workers poll (and count) on their own timers, so they are slowed to once in ten minutes.
pub fn quiet_workers(s: &mut Settings) {
    s.email.poll_interval_ms = 600_000;
    s.push.poll_interval_ms = 600_000;
    s.notifications.digest_poll_interval_ms = 600_000;
    s.webhooks.poll_interval_ms = 600_000;
    s.webhooks.refresh_interval_ms = 600_000;
}

/// Spawns the app with exactly these settings (the cluster tests start several on one database).
pub async fn spawn_app_from(settings: Settings) -> TestApp {
    // Failures log their causes; nextest shows a test's output when it fails.
    plauder::telemetry::init(&settings.log.level, false);
    let db_url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let app = Application::build(settings).await.expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state.clone();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    TestApp { address, client, db_url, state }
}

/// The password hash [`TestApp::hold_password_change`] writes.
pub const CHANGED_PASSWORD_HASH: &str = "changed by the owner";

/// A registered account with its tokens.
pub struct TestUser {
    pub id: Uuid,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    /// The request is built at once, so the future borrows nothing and closures can return it.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> impl Future<Output = reqwest::Response> + use<> {
        let mut req = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move { req.send().await.expect("request") }
    }

    /// Sends a raw body with a JSON content type (for malformed JSON tests).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request")
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> impl Future<Output = reqwest::Response> + use<> {
        self.request(Method::GET, path, token, None)
    }

    pub fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> impl Future<Output = reqwest::Response> + use<> {
        self.request(Method::POST, path, token, Some(body))
    }

    pub async fn register_raw(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        self.post("/api/v1/auth/register", None, json!({"username": username, "email": email, "password": password}))
            .await
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        self.post("/api/v1/auth/login", None, json!({"login": login, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.get("/api/v1/users/me", Some(token)).await
    }

    /// Registers `username` (email `username@example.org`, password [`PASSWORD`]).
    pub async fn register(&self, username: &str) -> TestUser {
        let res = self.register_raw(username, &format!("{username}@example.org"), PASSWORD).await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        let body: Value = res.json().await.expect("json");
        TestUser {
            id: body["user"]["id"].as_str().and_then(|s| s.parse().ok()).expect("user id"),
            access_token: body["access_token"].as_str().expect("access token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh token").to_owned(),
        }
    }

    pub fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> impl Future<Output = reqwest::Response> + use<> {
        self.request(Method::PATCH, path, token, Some(body))
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> impl Future<Output = reqwest::Response> + use<> {
        self.request(Method::DELETE, path, token, None)
    }

    /// Creates a group room owned by `owner` with `members`; returns its id.
    pub async fn group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> Uuid {
        let ids: Vec<Uuid> = members.iter().map(|m| m.id).collect();
        let res = self
            .post("/api/v1/rooms", Some(&owner.access_token), json!({"kind": "group", "name": name, "member_ids": ids}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create room");
        let body: Value = res.json().await.expect("json");
        body["id"].as_str().and_then(|s| s.parse().ok()).expect("room id")
    }

    /// The direct room of `a` and `b`, opened by `a` (made, or found), asserting success.
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> Uuid {
        let res =
            self.post("/api/v1/rooms", Some(&a.access_token), json!({"kind": "direct", "member_ids": [b.id]})).await;
        assert!(res.status().is_success(), "open a direct room: {}", res.status());
        let body: Value = res.json().await.expect("json");
        body["id"].as_str().and_then(|s| s.parse().ok()).expect("room id")
    }

    /// Sends `body` to `room` as `user`, asserting success; returns the message.
    pub async fn send(&self, user: &TestUser, room: Uuid, body: &str) -> Value {
        let res =
            self.post(&format!("/api/v1/rooms/{room}/messages"), Some(&user.access_token), json!({"body": body})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "send");
        res.json().await.expect("json")
    }

    /// A history page of `room` as `user`, with `query` (e.g. "?limit=5").
    pub async fn history(&self, user: &TestUser, room: Uuid, query: &str) -> Value {
        let res = self.get(&format!("/api/v1/rooms/{room}/messages{query}"), Some(&user.access_token)).await;
        assert_eq!(res.status(), StatusCode::OK, "history");
        res.json().await.expect("json")
    }

    /// Makes `a` and `b` friends: `a` asks, `b` accepts.
    pub async fn befriend(&self, a: &TestUser, b: &TestUser) {
        let res = self.post("/api/v1/friends/requests", Some(&a.access_token), json!({"user_id": b.id})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "friend request");
        let req: Value = res.json().await.expect("json");
        let res = self
            .post(
                &format!("/api/v1/friends/requests/{}/accept", req["id"].as_str().expect("request id")),
                Some(&b.access_token),
                json!({}),
            )
            .await;
        assert!(res.status().is_success(), "accept: {}", res.status());
    }

    /// `user`'s friend list (`{"friends": [{"user": {.., "presence": ..}, ..}]}`).
    pub async fn friends(&self, user: &TestUser) -> Value {
        let res = self.get("/api/v1/friends", Some(&user.access_token)).await;
        assert_eq!(res.status(), StatusCode::OK, "friends");
        res.json().await.expect("json")
    }

    /// Opens a WebSocket with the token in the Authorization header and reads its `hello`.
    pub async fn ws(&self, token: &str) -> WsClient {
        let mut client = self.ws_raw(token).await.expect("websocket upgrade");
        let hello = client.next_frame().await;
        assert_eq!(hello["type"], "hello", "first frame: {hello}");
        client.hello = hello;
        client
    }

    /// Opens a WebSocket without reading anything.
    pub async fn ws_raw(&self, token: &str) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        WsClient::connect(&self.ws_url(), Some(token)).await
    }

    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replace("http://", "ws://"))
    }

    /// A counter or gauge from /metrics, summed over its labels.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics", None).await.text().await.expect("metrics");
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// This instance's registry: its rooms with local connections, and connection-room
    /// attachments (one per connection and room of its user).
    pub async fn registry_stats(&self) -> RegistryStats {
        self.state.realtime.registry_stats().await.expect("the registry answers")
    }

    /// Waits until this instance's registry holds `n` connection-room attachments: a membership
    /// change has reached the member's connections (they hear the room from then on, or no more).
    pub async fn wait_for_attachments(&self, n: usize) {
        eventually(&format!("{n} connection-room attachments in the registry"), async || {
            check(self.registry_stats().await, |s| s.attachments == n)
        })
        .await;
    }

    /// The number a `SELECT count(*) AS n …` (or any query of one bigint `n`) answers on this
    /// test's database.
    pub async fn count(&self, query: &str) -> i64 {
        let mut conn = AsyncPgConnection::establish(&self.db_url).await.expect("connect");
        let row: Count = sql_query(query).get_result(&mut conn).await.expect("count query");
        row.n
    }

    /// A session holding `room`'s row, so a send's statement (which bumps `rooms.last_seq`) waits
    /// on it until the session commits or rolls back.
    pub async fn hold_room_row(&self, room: uuid::Uuid) -> AsyncPgConnection {
        self.hold(&format!("SELECT 1 FROM rooms WHERE id = '{room}' FOR UPDATE")).await
    }

    /// A session holding `user`'s membership row of `room` (a hand-over to them waits on it).
    pub async fn hold_membership_row(&self, room: uuid::Uuid, user: uuid::Uuid) -> AsyncPgConnection {
        self.hold(&format!("SELECT 1 FROM room_members WHERE room_id = '{room}' AND user_id = '{user}' FOR UPDATE"))
            .await
    }

    /// A session in a transaction that has run `statements` and holds what they locked.
    pub async fn hold(&self, statements: &str) -> AsyncPgConnection {
        let mut blocker = AsyncPgConnection::establish(&self.db_url).await.expect("connect");
        blocker.batch_execute(&format!("BEGIN; {statements}")).await.expect("lock");
        blocker
    }

    /// A session holding the owner's password change of `user` open, as it writes the account's
    /// row (the hash [`CHANGED_PASSWORD_HASH`], the token version moved): what was checked against
    /// the old password waits for it.
    pub async fn hold_password_change(&self, user: &TestUser) -> AsyncPgConnection {
        self.hold(&format!(
            "UPDATE users SET token_version = token_version + 1, password_hash = '{CHANGED_PASSWORD_HASH}' \
             WHERE id = '{}'",
            user.id
        ))
        .await
    }

    /// Runs `request` while `held` (from [`hold`](Self::hold)) keeps its locks, and ends `held`'s
    /// transaction with `end` (`COMMIT` or `ROLLBACK`) once `waits` statements of this test's
    /// database wait for a lock: a race staged with the request queued behind the held rows.
    pub async fn while_held<T>(
        &self,
        mut held: AsyncPgConnection,
        waits: i64,
        end: &str,
        request: impl std::future::Future<Output = T>,
    ) -> T {
        let release = async {
            self.wait_for_lock_waits(waits).await;
            held.batch_execute(end).await.expect("end the held transaction");
        };
        tokio::join!(request, release).0
    }

    /// The owners of `room` by user id (one, or none for a room left empty).
    pub async fn owners(&self, room: uuid::Uuid) -> Vec<Uuid> {
        #[derive(QueryableByName)]
        struct Owner {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            user_id: Uuid,
        }
        let mut conn = AsyncPgConnection::establish(&self.db_url).await.expect("connect");
        let query =
            format!("SELECT user_id FROM room_members WHERE room_id = '{room}' AND role = 'owner' ORDER BY user_id");
        let rows: Vec<Owner> = sql_query(query).load(&mut conn).await.expect("owners query");
        rows.into_iter().map(|r| r.user_id).collect()
    }

    /// Waits until one backend of this test's database waits for a lock, running a statement
    /// whose text is `LIKE query` (`%` for any): a request the test holds up has reached it.
    pub async fn wait_for_a_lock_wait(&self, query: &str) {
        let sql = format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '{}'",
            query.replace('\'', "''")
        );
        crate::helpers::wait::eventually(&format!("a statement like {query:?} waiting for a lock"), async || {
            crate::helpers::wait::check(self.count(&sql).await, |&n| n == 1)
        })
        .await;
    }

    /// Waits until `n` backends of this test's database wait for a lock, whatever they run.
    pub async fn wait_for_lock_waits(&self, n: i64) {
        let sql = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";
        crate::helpers::wait::eventually(&format!("{n} statements waiting for a lock"), async || {
            crate::helpers::wait::check(self.count(sql).await, |&waiting| waiting == n)
        })
        .await;
    }

    /// Stores `n` messages of `sender` in `room` (seqs 1..=n, the room's counter moved past them)
    /// straight in the database: for tests that need a history far larger than sends could make.
    pub async fn insert_messages(&self, room: uuid::Uuid, sender: uuid::Uuid, n: u32) {
        self.sql(&format!(
            "INSERT INTO messages (id, room_id, seq, rev, sender_id, body) \
             SELECT gen_random_uuid(), '{room}', g, g, '{sender}', 'message ' || g || ' stored by the test' \
             FROM generate_series(1, {n}) g"
        ))
        .await;
        self.sql(&format!("UPDATE rooms SET last_seq = {n} WHERE id = '{room}'")).await;
    }

    /// Runs SQL against this test's database, for arranging states the API cannot reach.
    pub async fn sql(&self, statement: &str) {
        let mut conn = AsyncPgConnection::establish(&self.db_url).await.expect("connect");
        sql_query(statement).execute(&mut conn).await.expect("sql");
    }
}

/// Sequential scans of `table` made so far by the transaction open on `conn` (PostgreSQL counts
/// them per transaction): for tests that a statement finds its rows by index.
pub async fn seq_scans_in_transaction(conn: &mut AsyncPgConnection, table: &str) -> i64 {
    let row: Count = sql_query(format!("SELECT pg_stat_get_xact_numscans('{table}'::regclass) AS n"))
        .get_result(conn)
        .await
        .expect("scans");
    row.n
}

/// A registered user given a global role by SQL (what `plauder user create --role` makes).
pub async fn user_with_role(app: &TestApp, name: &str, role: &str) -> TestUser {
    let user = app.register(name).await;
    app.sql(&format!("UPDATE users SET role = '{role}' WHERE id = '{}'", user.id)).await;
    user
}

/// A support visitor: its guest account (as a `TestUser`), session and room.
pub struct Visitor {
    pub guest: TestUser,
    pub session_id: Uuid,
    pub room: Uuid,
}

/// Opens a support session as visitor `name`.
pub async fn open_session(app: &TestApp, name: &str) -> Visitor {
    let res = app
        .post("/api/v1/support/sessions", None, json!({"name": name, "email": format!("{name}@visitor.example")}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "open a support session");
    let body: Value = res.json().await.expect("json");
    Visitor {
        guest: TestUser {
            id: uuid_of(&body["user"]["id"]),
            access_token: body["access_token"].as_str().expect("access token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh token").to_owned(),
        },
        session_id: uuid_of(&body["session_id"]),
        room: uuid_of(&body["room"]["id"]),
    }
}

/// The UUID in a JSON string.
pub fn uuid_of(v: &Value) -> Uuid {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a uuid: {v}"))
}

/// Asserts the protocol's error shape and code, returning the body.
pub async fn assert_error(res: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "code in {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    body
}
