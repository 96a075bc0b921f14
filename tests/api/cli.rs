//! The `plauder` binary: migrate, user create, the administrative commands (set-role, ban,
//! unban, reset-password, token revoke, stats, retention run, config check), and start-up
//! refusing bad configuration.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{JWT_SECRET, PASSWORD, TestApp, assert_error, fresh_database, spawn_app, spawn_app_with};

pub fn plauder() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plauder"));
    cmd.arg("--config-dir")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("PLAUDER_ENV", "test")
        .env("PLAUDER__AUTH__JWT_SECRET", JWT_SECRET)
        .env_remove("PLAUDER__DATABASE__URL")
        .env_remove("RUST_LOG");
    cmd
}

#[actix_web::test]
async fn migrate_applies_the_migrations_once() {
    let db = empty_database().await;
    // Migrations need no server secrets.
    let out =
        plauder().arg("migrate").env("DATABASE_URL", &db).env_remove("PLAUDER__AUTH__JWT_SECRET").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!first.starts_with("0 "), "{first}");
    let again = plauder().arg("migrate").env("DATABASE_URL", &db).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("0 migration"), "{:?}", again);
}

/// N replicas starting together on a fresh database: every one starts (none fails on objects
/// another has just created) and the schema is migrated once.
#[actix_web::test]
async fn concurrent_migrations_all_succeed_and_migrate_once() {
    let db = empty_database().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            plauder()
                .arg("migrate")
                .env("DATABASE_URL", &db)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "a concurrent migrate failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let n: usize = stdout.split_whitespace().next().and_then(|n| n.parse().ok()).expect("N migration(s) applied");
        applied.push(n);
    }
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().count();
    // One run applied everything, the others found nothing pending.
    applied.sort_unstable();
    assert_eq!(applied, vec![0, 0, 0, embedded], "migrations applied per run");
    use diesel::sql_query;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&db).await.unwrap();
    let rows: N =
        sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations").get_result(&mut conn).await.unwrap();
    assert_eq!(usize::try_from(rows.n).unwrap(), embedded);
}

async fn empty_database() -> String {
    use diesel::sql_query;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let name = format!("plauder_empty_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", crate::helpers::base_url())).await.unwrap();
    sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    format!("{}/{name}", crate::helpers::base_url())
}

#[actix_web::test]
async fn user_create_makes_an_admin_who_can_log_in() {
    let db = fresh_database().await;
    let out = plauder()
        .args(["user", "create", "--username", "root", "--email", "root@example.org", "--role", "admin"])
        .env("DATABASE_URL", &db)
        .env("PLAUDER_USER_PASSWORD", "a long admin passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin root"));

    let url = db.clone();
    let app = spawn_app_with(move |s| s.database.url = url.into()).await;
    let res = app.login("root", "a long admin passphrase").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");

    // The same rules as registration: a duplicate or a weak password is refused with a message.
    let dup = plauder()
        .args(["user", "create", "--username", "root", "--email", "x@example.org", "--password", "another long one"])
        .env("DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("taken"), "{}", String::from_utf8_lossy(&dup.stderr));
    let weak = plauder()
        .args(["user", "create", "--username", "weak", "--email", "w@example.org", "--password", "123"])
        .env("DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(!weak.status.success());
}

#[test]
fn a_missing_secret_stops_start_up_naming_the_key() {
    let out = plauder()
        .arg("serve")
        .env("DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .env_remove("PLAUDER__AUTH__JWT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.jwt_secret") && err.contains("PLAUDER__AUTH__JWT_SECRET"), "{err}");
}

#[test]
fn a_missing_database_url_stops_start_up_naming_the_key() {
    let out = plauder().arg("serve").env_remove("DATABASE_URL").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url"));
}

#[test]
fn a_mistyped_or_unknown_setting_stops_start_up_naming_the_key() {
    let out = plauder()
        .arg("serve")
        .env("DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .env("PLAUDER__SERVER__PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port"), "{err}");

    let out = plauder()
        .arg("serve")
        .env("DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .env("PLAUDER__SERVER__PROT", "80")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("prot"), "{err}");
}

/// The S3 store configured wholly through the environment (the secret as
/// `PLAUDER__ATTACHMENTS__S3__SECRET_ACCESS_KEY`): without the secret the start is refused by
/// name; with it, a bucket that does not exist stops the start with S3's reason.
#[actix_web::test]
async fn an_s3_store_from_the_environment_is_checked_at_start_up() {
    let db = fresh_database().await;
    let s3 = |cmd: &mut Command| {
        cmd.arg("serve")
            .env("DATABASE_URL", &db)
            .env("PLAUDER__ATTACHMENTS__STORE", "s3")
            .env("PLAUDER__ATTACHMENTS__DIRECTORY", std::env::temp_dir().join("plauder-cli-s3"))
            .env("PLAUDER__ATTACHMENTS__S3__BUCKET", "plauder-test-cli-no-such-bucket")
            .env("PLAUDER__ATTACHMENTS__S3__ENDPOINT", crate::helpers::s3::url())
            .env("PLAUDER__ATTACHMENTS__S3__ALLOW_HTTP", "true")
            .env("PLAUDER__ATTACHMENTS__S3__ACCESS_KEY_ID", "plauder-test");
    };

    let mut cmd = plauder();
    s3(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PLAUDER__ATTACHMENTS__S3__ACCESS_KEY_ID"), "{err}");

    let mut cmd = plauder();
    s3(&mut cmd);
    let out = cmd.env("PLAUDER__ATTACHMENTS__S3__SECRET_ACCESS_KEY", "plauder-test-secret").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plauder-test-cli-no-such-bucket") && err.contains("NoSuchBucket"), "{err}");
}

/// `plauder ARGS` against the app's database; panics only if the binary cannot be started.
fn run(app: &TestApp, args: &[&str]) -> Output {
    plauder().args(args).env("DATABASE_URL", &app.db_url).env_remove(NEW_PASSWORD_ENV).output().unwrap()
}

const NEW_PASSWORD_ENV: &str = "PLAUDER_USER_PASSWORD";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn audit_entries(app: &TestApp, admin_token: &str) -> Vec<Value> {
    let res = app.get("/api/v1/admin/audit-log", Some(admin_token)).await;
    let body: Value = res.json().await.unwrap();
    body["entries"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn set_role_ban_and_unban_from_the_command_line_act_and_are_audited() {
    let app = spawn_app().await;
    let admin = crate::helpers::user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;

    let out = run(&app, &["user", "set-role", "ada", "moderator"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ada: user -> moderator"), "{}", stdout(&out));
    let login: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    assert_eq!(login["user"]["role"], "moderator");
    // By id too, and a no-op says so.
    let out = run(&app, &["user", "set-role", &ada.id.to_string(), "moderator"]);
    assert!(out.status.success() && stdout(&out).contains("unchanged"), "{}", stdout(&out));

    let out = run(&app, &["user", "ban", "ADA@example.org", "--reason", "spam"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("banned ada"), "{}", stdout(&out));
    // Without Redis the command cannot reach a running server's sockets, and says so.
    assert!(stderr(&out).contains("redis.url is not set"), "{}", stderr(&out));
    assert_error(app.login("ada", PASSWORD).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.me(&ada.access_token).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::FORBIDDEN, "forbidden").await;

    let out = run(&app, &["user", "unban", "ada"]);
    assert!(out.status.success() && stdout(&out).contains("ada is unbanned"), "{}", stdout(&out));
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::UNAUTHORIZED, "revoked tokens stay revoked");

    // Recorded as the operator's: no actor account, "via": "cli".
    let entries = audit_entries(&app, &admin.access_token).await;
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["user.unbanned", "user.banned", "user.role_changed"]);
    assert!(entries.iter().all(|e| e["actor_id"].is_null() && e["details"]["via"] == "cli"), "{entries:?}");
    assert_eq!(entries[1]["details"]["reason"], "spam");
}

#[actix_web::test]
async fn bad_input_to_the_user_commands_fails_with_a_clear_message() {
    let app = spawn_app().await;
    app.register("ada").await;

    for args in [
        &["user", "ban", "nobody"][..],
        &["user", "set-role", "nobody", "user"],
        &["user", "unban", "00000000-0000-0000-0000-000000000000"],
        &["token", "revoke", "nobody"],
    ] {
        let out = run(&app, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("no user '"), "{args:?}: {}", stderr(&out));
    }
    // Roles are checked by the argument parser (exit 2, naming the allowed values); guest is
    // not one of them: guests are support visitors, not accounts.
    for role in ["superuser", "guest"] {
        let out = run(&app, &["user", "set-role", "ada", role]);
        assert_eq!(out.status.code(), Some(2), "{role}");
        let err = stderr(&out);
        assert!(err.contains(role) && err.contains("admin, moderator, user"), "{err}");
    }
    let out = run(&app, &["user", "ban", "ada", "--reason", &"x".repeat(501)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ban_reason must be at most 500"), "{}", stderr(&out));
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK, "nothing changed");
}

#[actix_web::test]
async fn reset_password_takes_the_new_one_from_stdin_or_the_environment_and_revokes_sessions() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;

    let mut child = plauder()
        .args(["user", "reset-password", "ada"])
        .env("DATABASE_URL", &app.db_url)
        .env_remove(NEW_PASSWORD_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a brand new passphrase\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.login("ada", "a brand new passphrase").await.status(), StatusCode::OK);
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::UNAUTHORIZED);

    let out = plauder()
        .args(["user", "reset-password", "ada"])
        .env("DATABASE_URL", &app.db_url)
        .env(NEW_PASSWORD_ENV, "another long passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.login("ada", "another long passphrase").await.status(), StatusCode::OK);

    // The rules of registration apply; nothing given is an error, not an empty password.
    let weak = plauder()
        .args(["user", "reset-password", "ada"])
        .env("DATABASE_URL", &app.db_url)
        .env(NEW_PASSWORD_ENV, "123")
        .output()
        .unwrap();
    assert_eq!(weak.status.code(), Some(1));
    let none = plauder()
        .args(["user", "reset-password", "ada"])
        .env("DATABASE_URL", &app.db_url)
        .env_remove(NEW_PASSWORD_ENV)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("no new password"), "{}", stderr(&none));
    assert_eq!(app.login("ada", "another long passphrase").await.status(), StatusCode::OK, "unchanged");

    // A bot gets no password: it would sign in as the bot, into its rooms (an incoming webhook's
    // bot's private room).
    let bot = app.register("deploybot").await;
    app.sql(&format!("UPDATE users SET is_bot = true, password_hash = NULL WHERE id = '{}'", bot.id)).await;
    let out = plauder()
        .args(["user", "reset-password", "deploybot"])
        .env("DATABASE_URL", &app.db_url)
        .env(NEW_PASSWORD_ENV, "a bot's new passphrase")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Bots act through API tokens"), "{}", stderr(&out));
    // Nor a link to set one.
    let out = plauder()
        .args(["user", "reset-password", "deploybot", "--print-link"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Bots act through API tokens"), "{}", stderr(&out));
    assert_eq!(app.count("SELECT count(*) AS n FROM password_reset_tokens").await, 0);
    assert_error(app.login("deploybot", "a bot's new passphrase").await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

#[actix_web::test]
async fn token_revoke_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;

    let out = run(&app, &["token", "revoke", "ada"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked every session of ada"), "{}", stdout(&out));
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&bob.access_token).await.status(), StatusCode::OK);
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK, "the password still works");
}

#[actix_web::test]
async fn a_ban_from_the_command_line_closes_open_sockets_through_redis() {
    let prefix = format!("cli{}", uuid::Uuid::new_v4().simple());
    let redis = crate::cluster_support::redis_url();
    let (redis_for_app, prefix_for_app) = (redis.clone(), prefix.clone());
    let app = spawn_app_with(move |s| {
        s.redis.url = redis_for_app.into();
        s.redis.channel_prefix = prefix_for_app;
    })
    .await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;

    let out = plauder()
        .args(["user", "ban", "ada"])
        .env("DATABASE_URL", &app.db_url)
        .env("REDIS_URL", &redis)
        .env("PLAUDER__REDIS__CHANNEL_PREFIX", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("on 1 instance(s)"), "{}", stdout(&out));
    assert_eq!(ws.closed_with().await, 4003);
}

#[actix_web::test]
async fn stats_prints_the_database_counters_as_json() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "g", &[&bob]).await;
    app.send(&ada, room, "hello").await;

    let out = run(&app, &["stats"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["users_total"], 2);
    assert_eq!(stats["rooms_total"], 1);
    assert_eq!(stats["messages_total"], 1);
    assert_eq!(stats["support_open"], 0);
    // This process serves no connections: the live counters are left out, not shown as 0.
    assert!(stats.get("connections").is_none() && stats.get("users_online").is_none(), "{stats}");
}

#[test]
fn config_check_prints_the_settings_with_secrets_masked() {
    let out = plauder()
        .args(["config", "check"])
        .env("DATABASE_URL", "postgres://plauder:db-password-123@db.internal:5432/plauder?sslmode=require")
        .env("REDIS_URL", "redis://:redis-password-456@cache:6379")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for secret in [JWT_SECRET, "db-password-123", "redis-password-456"] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
    assert!(text.contains("postgres://plauder:***@db.internal:5432/plauder?sslmode=require"), "{text}");
    assert!(text.contains("redis://:***@cache:6379"), "{text}");
    assert!(text.contains("pool_max_size: 16") && text.contains("configuration OK"), "{text}");

    // A bad setting is what the check is for: exit 2 naming it, as `serve` would.
    let bad = plauder()
        .args(["config", "check"])
        .env("DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .env("PLAUDER__SERVER__PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("port"), "{}", stderr(&bad));
}

#[actix_web::test]
async fn healthcheck_exits_0_only_when_the_server_is_ready() {
    let app = spawn_app().await;
    let ready = format!("{}/health/ready", app.address);
    // Blocking the test's runtime would stall the server it asks: run the command off it.
    let check = |url: String| async move {
        actix_web::rt::task::spawn_blocking(move || plauder().args(["healthcheck", "--url", &url]).output().unwrap())
            .await
            .unwrap()
    };
    let out = check(ready).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Any other answer, or none, is a failure with the reason.
    let out = check(format!("{}/health/nothing-here", app.address)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    let out = check(format!("http://127.0.0.1:{}/health/ready", crate::cluster_support::free_port())).await;
    assert_eq!(out.status.code(), Some(1));
}

#[actix_web::test]
async fn retention_run_deletes_what_is_past_its_age_and_prints_the_counts() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.register("bob").await;
    app.sql(&format!("UPDATE refresh_tokens SET expires_at = now() - interval '8 days' WHERE user_id = '{}'", ada.id))
        .await;
    let visitor = crate::helpers::open_session(&app, "visitor").await;
    app.sql(&format!(
        "UPDATE support_sessions SET status = 'closed', closed_at = now() - interval '100 days' WHERE id = '{}'",
        visitor.session_id
    ))
    .await;

    let out = run(&app, &["retention", "run"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "retention pass completed: deleted 1 refresh token(s), 1 support session(s), 1 guest(s)",
        "{}",
        stderr(&out)
    );
    // The guest's token went with it; bob's fresh one stays.
    assert_eq!(app.count("SELECT count(*) AS n FROM refresh_tokens").await, 1);
    // The pass logs its counts (one JSON line here, as in production).
    let again = plauder()
        .args(["retention", "run"])
        .env("DATABASE_URL", &app.db_url)
        .env("PLAUDER__LOG__LEVEL", "info")
        .env("PLAUDER__LOG__FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        stdout(&again).contains("deleted 0 refresh token(s), 0 support session(s), 0 guest(s)"),
        "{}",
        stdout(&again)
    );
    let line = stderr(&again)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "retention pass completed")
        .unwrap_or_else(|| panic!("no log line of the pass: {}", stderr(&again)));
    for kind in ["refresh_tokens", "support_sessions", "guests"] {
        assert_eq!(line["fields"][kind], 0, "{line}");
    }
}

#[actix_web::test]
async fn bot_create_prints_a_token_that_authenticates_as_the_bot() {
    let app = spawn_app().await;
    let out = run(&app, &["bot", "create", "--username", "ci-bot", "--display-name", "CI"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("created bot ci-bot"), "{text}");
    let token = text.lines().last().unwrap().trim();
    let me: Value = app.me(token).await.json().await.unwrap();
    assert_eq!((me["username"].as_str(), me["is_bot"].as_bool()), (Some("ci-bot"), Some(true)), "{me}");
    // A bad name is refused with the validation message.
    let out = run(&app, &["bot", "create", "--username", "x"]);
    assert!(!out.status.success() && stderr(&out).contains("Username must be"), "{}", stderr(&out));
}
