//! A real SMTP server for a test: tests/smtp_server.py (aiosmtpd, from the virtualenv
//! scripts/test.sh prepares) in a process of its own, storing each mail it receives as a JSON
//! file in a directory of this test's, with what dkimpy found of its DKIM signature.
//! [`SmtpServer::configure`] points an app's `email.*` at it; [`SmtpServer::wait_for_mail`] reads
//! what arrived. Killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use plauder::config::{Settings, SmtpTls};
use serde_json::Value;

use super::TestApp;
use super::wait::{eventually, eventually_within};

pub struct SmtpServer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl SmtpServer {
    /// On a free port.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// On `port` (0: a free one).
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, &serde_json::json!({}))
    }

    /// On a free port, checking each mail's DKIM signature against `records` (an object of
    /// `<selector>._domainkey.<domain>` to TXT record text) as DNS would answer them.
    pub fn start_with_dkim_records(records: &Value) -> Self {
        Self::spawn(0, records)
    }

    fn spawn(port: u16, dkim_records: &Value) -> Self {
        let python = std::env::var("PLAUDER_TEST_SMTP_PYTHON")
            .expect("PLAUDER_TEST_SMTP_PYTHON: run the tests with scripts/test.sh");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let dir = std::env::temp_dir().join(format!("plauder-smtp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("mail directory");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .env("PLAUDER_TEST_SMTP_DIR", &dir)
            .env("PLAUDER_TEST_SMTP_DKIM_DNS", dkim_records.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("the server's port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("a port number from the SMTP server, got {line:?}"));
        Self { port, dir, child }
    }

    /// Points `settings` at this server (plain SMTP, no credentials).
    pub fn configure(&self, settings: &mut Settings) {
        configure_port(settings, self.port);
    }

    /// Every mail received so far, oldest first.
    pub fn mails(&self) -> Vec<Value> {
        read_mails(&self.dir)
    }

    /// Waits for the first mail to `recipient` with more than `skip` before it to that address.
    pub async fn wait_for_mail_after(&self, recipient: &str, skip: usize) -> Value {
        eventually(&format!("mail #{} to {recipient}", skip + 1), async || {
            let to_them: Vec<Value> = self
                .mails()
                .into_iter()
                .filter(|m| m["rcpt_tos"].as_array().is_some_and(|r| r.iter().any(|a| a == recipient)))
                .collect();
            to_them.get(skip).cloned().ok_or(to_them.len())
        })
        .await
    }

    /// Waits for the first mail to `recipient`.
    pub async fn wait_for_mail(&self, recipient: &str) -> Value {
        self.wait_for_mail_after(recipient, 0).await
    }

    /// Waits longer, for mails that come after retries.
    pub async fn wait_for_mail_within(&self, recipient: &str, deadline: Duration) -> Value {
        eventually_within(deadline, &format!("a mail to {recipient}"), async || {
            self.mails()
                .into_iter()
                .find(|m| m["rcpt_tos"].as_array().is_some_and(|r| r.iter().any(|a| a == recipient)))
                .ok_or(())
        })
        .await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Points `settings` at an SMTP server on localhost `port` (which may not be listening yet).
pub fn configure_port(settings: &mut Settings, port: u16) {
    settings.email.host = "127.0.0.1".to_owned();
    settings.email.port = port;
    settings.email.tls = SmtpTls::None;
}

fn read_mails(dir: &std::path::Path) -> Vec<Value> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect())
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| serde_json::from_str(&s).expect("a mail record"))
        .collect()
}

/// The token of the reset link in a mail's plain-text part (after `#reset-password=`).
pub fn reset_token(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a plain-text part");
    let start = text.find("#reset-password=").expect("a reset link in the mail") + "#reset-password=".len();
    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// The one-click unsubscribe address a mail names for mail programs (RFC 8058), as a path with
/// its query: checks that `List-Unsubscribe` holds one HTTPS address in angle brackets and that
/// `List-Unsubscribe-Post` asks for the one-click POST.
pub fn one_click_address(mail: &Value) -> String {
    assert_eq!(mail["list_unsubscribe_post"], "List-Unsubscribe=One-Click", "{mail}");
    let header = mail["list_unsubscribe"].as_str().unwrap_or_else(|| panic!("a List-Unsubscribe header: {mail}"));
    let url = header.strip_prefix("<https://").and_then(|h| h.strip_suffix('>'));
    let url = url.unwrap_or_else(|| panic!("<https://…>: {header}"));
    let path = url.find("/api/").unwrap_or_else(|| panic!("an API address: {url}"));
    url[path..].to_owned()
}

/// Posts `body` as `content_type` to `path`, with no credentials: what a mail program's own
/// "unsubscribe" button sends.
pub async fn post_form(app: &TestApp, path: &str, content_type: &str, body: &str) -> reqwest::Response {
    let req = app.client.post(format!("{}{path}", app.address)).header("content-type", content_type);
    req.body(body.to_owned()).send().await.expect("request")
}

/// RFC 8058's own example of the one-click POST: multipart/form-data.
pub const ONE_CLICK_MULTIPART: (&str, &str) = (
    "multipart/form-data; boundary=---FormBoundaryjWmhtjORrn",
    "-----FormBoundaryjWmhtjORrn\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n-----FormBoundaryjWmhtjORrn--\r\n",
);

/// A free TCP port on localhost (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
