//! DKIM signing of outgoing mail (`email.dkim_*`), checked by an implementation that is not
//! plauder's: the SMTP server (tests/smtp_server.py) verifies every mail with dkimpy against the
//! TXT record a test publishes for it. Keys are made by `openssl genpkey`, as an operator would.
//! A German digest (umlauts in the body, List-Unsubscribe for one-click) and a German reset mail
//! (an encoded subject) verify; a mail signed with a key other than the published one does not;
//! a key that cannot be used stops the start with its setting named.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::smtp::{SmtpServer, configure_port, one_click_address};
use crate::helpers::{TestApp, spawn_app_with};

const SELECTOR: &str = "mail2026";
const DOMAIN: &str = "example.org";

/// A directory removed when dropped.
struct KeyDir(PathBuf);

impl KeyDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("plauder-dkim-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("key directory");
        Self(dir)
    }

    /// A new RSA key of `bits` in `name`, PKCS#8 PEM (what `openssl genpkey` writes).
    fn rsa(&self, name: &str, bits: u32) -> PathBuf {
        let path = self.0.join(name);
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &format!("rsa_keygen_bits:{bits}"), "-out"], &path);
        path
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str], last: &Path) -> Vec<u8> {
    let out = Command::new("openssl").args(args).arg(last).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The TXT record that publishes `key`'s public half (RFC 6376, 3.6.1).
fn txt_record(key: &Path) -> String {
    use base64::Engine;
    let der = openssl(&["pkey", "-pubout", "-outform", "DER", "-in"], key);
    format!("v=DKIM1; k=rsa; p={}", base64::engine::general_purpose::STANDARD.encode(der))
}

fn published(key: &Path) -> Value {
    json!({ format!("{SELECTOR}._domainkey.{DOMAIN}"): txt_record(key) })
}

/// An app mailing through `smtp` from an address at [`DOMAIN`], signing with `key` (the domain
/// left to default to the From's), digests soon after a message, links on https (so that digests
/// carry List-Unsubscribe).
async fn app_signing_with(smtp: &SmtpServer, key: &Path) -> TestApp {
    let key = key.to_str().expect("a UTF-8 path").to_owned();
    spawn_app_with(move |s| {
        configure_port(s, smtp.port);
        s.email.from = format!("plauder <noreply@{DOMAIN}>");
        s.email.public_url = "https://chat.example.org".to_owned();
        s.email.dkim_selector = SELECTOR.to_owned();
        s.email.dkim_key_file = key;
        s.notifications.digest_delay_secs = 1;
        s.notifications.digest_poll_interval_ms = 100;
    })
    .await
}

fn assert_verified(mail: &Value) {
    let dkim = &mail["dkim"];
    assert_eq!(dkim["verified"], true, "{mail}");
    assert_eq!(dkim["domain"], DOMAIN, "{mail}");
    assert_eq!(dkim["selector"], SELECTOR, "{mail}");
    let covered: Vec<&str> =
        dkim["headers"].as_array().expect("signed headers").iter().filter_map(Value::as_str).collect();
    for header in ["from", "to", "subject", "date", "message-id"] {
        assert!(covered.contains(&header), "{header} signed: {mail}");
    }
}

#[actix_web::test]
async fn mails_are_signed_and_verify_against_the_published_key_with_one_click_unsubscribe_covered() {
    let keys = KeyDir::new();
    let key = keys.rsa("dkim.pem", 2048);
    let smtp = SmtpServer::start_with_dkim_records(&published(&key));
    let app = app_signing_with(&smtp, &key).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let res = app.patch("/api/v1/users/me/preferences", Some(&ada.access_token), json!({ "language": "de" })).await;
    assert_eq!(res.status(), StatusCode::OK);

    // A German digest: umlauts in its body, and both one-click headers, signed.
    let team = app.group(&bob, "Grüße", &[&ada]).await;
    app.send(&bob, team, "Schöne Grüße, @ada: über die Brücke?").await;
    let digest = smtp.wait_for_mail("ada@example.org").await;
    assert!(digest["subject"].as_str().is_some_and(|s| s.contains("ungelesene Nachricht")), "{digest}");
    one_click_address(&digest);
    assert_verified(&digest);
    let covered = digest["dkim"]["headers"].to_string();
    assert!(covered.contains("\"list-unsubscribe\"") && covered.contains("\"list-unsubscribe-post\""), "{digest}");

    // A German reset mail: its subject ("Neues Passwort für plauder") goes out encoded.
    let res = app.post("/api/v1/auth/password-reset", None, json!({ "email": "ada@example.org" })).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let reset = smtp.wait_for_mail_after("ada@example.org", 1).await;
    assert_eq!(reset["subject"], "Neues Passwort für plauder");
    assert_verified(&reset);
}

/// The check above can fail: signed with another key than the one published, a mail is signed
/// but does not verify; without a selector, mails go out unsigned.
#[actix_web::test]
async fn a_mail_signed_with_another_key_than_the_published_one_does_not_verify_and_no_selector_signs_nothing() {
    let keys = KeyDir::new();
    let used = keys.rsa("used.pem", 2048);
    let other = keys.rsa("other.pem", 2048);
    let smtp = SmtpServer::start_with_dkim_records(&published(&other));
    let app = app_signing_with(&smtp, &used).await;
    app.register("ada").await;
    app.post("/api/v1/auth/password-reset", None, json!({ "email": "ada@example.org" })).await;
    let mail = smtp.wait_for_mail("ada@example.org").await;
    assert_eq!(mail["dkim"]["signed"], true, "{mail}");
    assert_eq!(mail["dkim"]["verified"], false, "{mail}");

    let smtp = SmtpServer::start_with_dkim_records(&published(&used));
    let app = spawn_app_with(|s| configure_port(s, smtp.port)).await;
    app.register("bob").await;
    app.post("/api/v1/auth/password-reset", None, json!({ "email": "bob@example.org" })).await;
    let mail = smtp.wait_for_mail("bob@example.org").await;
    assert_eq!(mail["dkim"], json!({ "signed": false }), "{mail}");
}

/// A key file that is missing, holds no RSA key, or a key under 1024 bits (RFC 8301) stops the
/// mailer from starting, naming `email.dkim_key_file`; a selector without a key file, or one that
/// is no DNS name, fails validation; a default signing domain (that of `from`) that is no ASCII
/// DNS name stops the start too. A PKCS#1 key (`openssl genrsa -traditional`) is taken as
/// well as a PKCS#8 one.
#[test]
fn a_dkim_key_that_cannot_sign_stops_the_start_with_its_setting_named() {
    use plauder::config::Settings;
    use plauder::service::mail::Mailer;

    let keys = KeyDir::new();
    let settings = |file: &Path| {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut s = Settings::load_unchecked(&config, "test").expect("config/test.toml");
        s.database.url = "postgres://localhost/unused".to_owned().into();
        s.auth.jwt_secret = "x".repeat(32).into();
        s.email.dkim_selector = SELECTOR.to_owned();
        s.email.dkim_key_file = file.to_str().expect("a UTF-8 path").to_owned();
        s
    };
    let refused = |file: &Path, why: &str| {
        let s = settings(file);
        assert!(s.validate().is_ok(), "the settings themselves are valid");
        let err = Mailer::new(&s.email).err().unwrap_or_else(|| panic!("{file:?} refused")).to_string();
        assert!(err.contains("email.dkim_key_file") && err.contains(why), "{err}");
    };
    refused(&keys.0.join("missing.pem"), "No such file");
    let ec = keys.0.join("ec.pem");
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"], &ec);
    refused(&ec, "not an RSA private key");
    refused(&keys.rsa("short.pem", 768), "at least 1024");

    let pkcs1 = keys.0.join("pkcs1.pem");
    openssl(&["genrsa", "-traditional", "-out"], &pkcs1);
    assert!(std::fs::read_to_string(&pkcs1).expect("key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(Mailer::new(&settings(&pkcs1).email).is_ok());
    assert!(Mailer::new(&settings(&keys.rsa("pkcs8.pem", 1024)).email).is_ok());

    // The default domain, that of `from`, must be one a TXT record can be published for.
    let mut s = settings(&pkcs1);
    s.email.from = "plauder <noreply@bücher.example>".to_owned();
    assert!(s.validate().is_ok());
    let err = Mailer::new(&s.email).err().expect("a Unicode domain refused").to_string();
    assert!(err.contains("email.dkim_domain"), "{err}");
    s.email.dkim_domain = "xn--bcher-kva.example".to_owned();
    assert!(Mailer::new(&s.email).is_ok());

    let mut s = settings(&pkcs1);
    s.email.dkim_key_file = String::new();
    assert!(s.validate().unwrap_err().contains("email.dkim_key_file"));
    let mut s = settings(&pkcs1);
    s.email.dkim_selector = "mail 2026".to_owned();
    assert!(s.validate().unwrap_err().contains("email.dkim_selector"));
    s.email.dkim_selector = SELECTOR.to_owned();
    s.email.dkim_domain = "example.org/".to_owned();
    assert!(s.validate().unwrap_err().contains("email.dkim_domain"));
}
