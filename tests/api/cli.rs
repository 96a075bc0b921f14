//! The `plauder` binary: migrate, user create, and start-up refusing bad configuration.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{JWT_SECRET, fresh_database, spawn_app_with};

fn plauder() -> Command {
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
