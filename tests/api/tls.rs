//! TLS to PostgreSQL and Redis: the suite's PostgreSQL speaks TLS with a certificate for
//! `localhost` from a throw-away CA (scripts/test.sh makes both, `test_certs` in scripts/lib.sh);
//! these tests start a TLS-only redis-server of their own with the same certificates.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl;
use plauder::config::Settings;
use plauder::db::tls::pg_target;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cluster_support::free_port;
use crate::helpers::wait::eventually;
use crate::helpers::{spawn_app_from, test_settings};

/// The certificates scripts/test.sh made: `ca.crt`, `other-ca.crt` (a CA that signed nothing
/// here), `server.crt`/`server.key` (for `localhost` only), `client.crt`/`client.key`.
fn certs() -> PathBuf {
    PathBuf::from(
        std::env::var("PLAUDER_TEST_TLS_DIR").expect("PLAUDER_TEST_TLS_DIR: run the tests with scripts/test.sh"),
    )
}

fn cert(name: &str) -> String {
    certs().join(name).to_string_lossy().into_owned()
}

/// The test's fresh database, reached as `host` with `sslmode`.
fn with_sslmode(settings: &mut Settings, host: &str, sslmode: &str) {
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).replace("127.0.0.1", host);
    settings.database.url = format!("{url}?sslmode={sslmode}").into();
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

/// Whether the server sees this connection as TLS.
async fn connection_is_tls(settings: &Settings) -> Result<bool, String> {
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let target = pg_target(&settings.database, &url).map_err(|e| e.to_string())?;
    let mut conn = plauder::db::connect(&target).await.map_err(|e| e.to_string())?;
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.ssl)
}

#[actix_web::test]
async fn plauder_talks_to_postgresql_over_verified_tls() {
    let mut settings = test_settings().await;
    with_sslmode(&mut settings, "localhost", "verify-full");
    settings.database.tls_ca_file = cert("ca.crt");
    assert_eq!(connection_is_tls(&settings).await, Ok(true));

    // The whole application on that pool: a registration writes through it.
    let app = spawn_app_from(settings).await;
    let ada = app.register("ada").await;
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.access_token)).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_postgresql_server_whose_certificate_the_ca_did_not_sign_is_refused() {
    let mut settings = test_settings().await;
    with_sslmode(&mut settings, "localhost", "verify-full");
    settings.database.tls_ca_file = cert("other-ca.crt");
    let err = connection_is_tls(&settings).await.expect_err("an unknown issuer must not be accepted");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let app = spawn_app_from(settings).await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert!(body["checks"]["postgres"].as_str().unwrap().starts_with("down"), "{body}");
}

#[actix_web::test]
async fn verify_full_checks_the_host_name_and_the_other_modes_do_not() {
    // The certificate names localhost, not 127.0.0.1.
    let mut settings = test_settings().await;
    settings.database.tls_ca_file = cert("ca.crt");
    let base = settings.database.url.clone();
    with_sslmode(&mut settings, "127.0.0.1", "verify-full");
    let err = connection_is_tls(&settings).await.expect_err("the name does not match");
    assert!(err.contains("not valid for name"), "{err}");

    settings.database.url = base.clone();
    with_sslmode(&mut settings, "127.0.0.1", "verify-ca");
    assert_eq!(connection_is_tls(&settings).await, Ok(true), "verify-ca checks the chain only");

    // require (and prefer, libpq's default) encrypt without a CA; disable does not.
    settings.database.tls_ca_file = String::new();
    for (mode, tls) in [("require", true), ("prefer", true), ("disable", false)] {
        settings.database.url = base.clone();
        with_sslmode(&mut settings, "127.0.0.1", mode);
        assert_eq!(connection_is_tls(&settings).await, Ok(tls), "sslmode={mode}");
    }
}

/// A redis-server listening on TLS only, with the suite's server certificate, that requires
/// client certificates from the suite's CA.
struct TlsRedis {
    port: u16,
    child: Child,
}

impl TlsRedis {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--tls-auth-clients", "yes"])
            .args(["--tls-cert-file", &cert("server.crt"), "--tls-key-file", &cert("server.key")])
            .args(["--tls-ca-cert-file", &cert("ca.crt")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/test.sh installs it)");
        eventually("the TLS redis-server to listen", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(drop)
        })
        .await;
        Self { port, child }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Readiness's word on Redis for an instance with these Redis TLS settings: waits for "up" when
/// that is expected, else gives the subscriber a moment to try.
async fn redis_readiness(redis: &TlsRedis, ca: &str, client_cert: bool, expect_up: bool) -> String {
    let mut settings = test_settings().await;
    settings.redis.url = format!("rediss://localhost:{}", redis.port).into();
    settings.redis.channel_prefix = format!("tls-{}", uuid::Uuid::new_v4().simple());
    settings.redis.tls_ca_file = cert(ca);
    if client_cert {
        settings.redis.tls_client_cert_file = cert("client.crt");
        settings.redis.tls_client_key_file = cert("client.key");
    }
    let app = spawn_app_from(settings).await;
    let attempts = if expect_up { 50 } else { 1 };
    let mut last = String::new();
    for _ in 0..attempts {
        tokio::time::sleep(std::time::Duration::from_millis(if expect_up { 100 } else { 1500 })).await;
        let body: Value = app.get("/health/ready", None).await.json().await.unwrap();
        last = body["checks"]["redis"].as_str().unwrap_or_default().to_owned();
        if last == "up" {
            break;
        }
    }
    last
}

#[actix_web::test]
async fn plauder_talks_to_redis_over_tls_with_a_client_certificate() {
    let redis = TlsRedis::start().await;
    assert_eq!(redis_readiness(&redis, "ca.crt", true, true).await, "up");
    // A server certificate from a CA we do not trust, or no client certificate: no connection.
    let untrusted = redis_readiness(&redis, "other-ca.crt", true, false).await;
    assert!(untrusted.starts_with("down"), "{untrusted}");
    let anonymous = redis_readiness(&redis, "ca.crt", false, false).await;
    assert!(anonymous.starts_with("down"), "{anonymous}");
}
