//! The S3 server scripts/test.sh starts (moto in server mode, `PLAUDER_TEST_S3_URL`): a bucket of
//! the test's own, settings that point an app's attachment store at it, and a look at what is in
//! it by plain HTTP (not through plauder's store, so the store's own listing is checked too).
//! moto takes any key and does not check signatures; its S3 API is the real one otherwise.

use plauder::config::{BlobStoreKind, Settings};
use reqwest::StatusCode;
use uuid::Uuid;

/// The S3 server's base URL.
pub fn url() -> String {
    std::env::var("PLAUDER_TEST_S3_URL").expect("PLAUDER_TEST_S3_URL is not set: run the tests with scripts/test.sh")
}

/// Where the tests' apps keep their objects in a bucket.
pub const PREFIX: &str = "plauder/files";

pub struct Bucket {
    pub name: String,
    client: reqwest::Client,
}

impl Bucket {
    /// A new, empty bucket.
    pub async fn create() -> Self {
        let bucket = Self::named(&format!("plauder-test-{}", Uuid::new_v4().simple()));
        bucket.make().await;
        bucket
    }

    /// Creates this bucket (again, after [`Bucket::delete`]).
    pub async fn make(&self) {
        let res = self.client.put(self.url("")).send().await.expect("create the bucket");
        let status = res.status();
        assert_eq!(status, StatusCode::OK, "creating bucket {}: {}", self.name, res.text().await.unwrap_or_default());
    }

    /// A handle on a bucket that may not exist.
    pub fn named(name: &str) -> Self {
        // reqwest has no TLS provider of its own in this tree; a test may get here before its app
        // (which installs ring) is built.
        plauder::db::tls::provider();
        // moto checks no signature but refuses some anonymous requests (an object's DELETE is
        // 403 without an Authorization header), so each request carries a SigV4-shaped one.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=plauder-test/20260101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
            ),
        );
        let client = reqwest::Client::builder().default_headers(headers).build().expect("client");
        Self { name: name.to_owned(), client }
    }

    fn url(&self, key: &str) -> String {
        if key.is_empty() { format!("{}/{}", url(), self.name) } else { format!("{}/{}/{key}", url(), self.name) }
    }

    /// Points `settings`' attachment store at this bucket, under [`PREFIX`].
    pub fn configure(&self, settings: &mut Settings) {
        let s3 = &mut settings.attachments.s3;
        settings.attachments.store = BlobStoreKind::S3;
        s3.bucket = self.name.clone();
        s3.endpoint = url();
        s3.allow_http = true;
        s3.region = "us-east-1".to_owned();
        s3.access_key_id = "plauder-test".to_owned();
        s3.secret_access_key = "plauder-test-secret".to_owned().into();
        s3.prefix = PREFIX.to_owned();
        s3.timeout_ms = 5000;
    }

    /// Every object's key, in S3's order.
    pub async fn keys(&self) -> Vec<String> {
        let res = self.client.get(format!("{}?list-type=2", self.url(""))).send().await.expect("list the bucket");
        assert_eq!(res.status(), StatusCode::OK, "listing bucket {}", self.name);
        let xml = res.text().await.expect("listing");
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"), "one page is enough for a test: {xml}");
        xml.split("<Key>").skip(1).filter_map(|rest| rest.split_once("</Key>")).map(|(key, _)| key.to_owned()).collect()
    }

    /// The blob keys under [`PREFIX`] (what plauder stored).
    pub async fn blobs(&self) -> Vec<String> {
        let prefix = format!("{PREFIX}/");
        self.keys().await.into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)).collect()
    }

    /// Multipart uploads begun and neither completed nor aborted (their parts are kept, unlisted
    /// by [`Bucket::keys`]).
    pub async fn pending_uploads(&self) -> usize {
        let res = self.client.get(format!("{}?uploads", self.url(""))).send().await.expect("list uploads");
        assert_eq!(res.status(), StatusCode::OK, "listing uploads of {}", self.name);
        res.text().await.expect("listing").matches("<Upload>").count()
    }

    /// Stores `bytes` as `key`, as another program sharing the bucket would.
    pub async fn put(&self, key: &str, bytes: &[u8]) {
        let res = self
            .client
            .put(self.url(key))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put an object");
        assert_eq!(res.status(), StatusCode::OK, "putting {key}");
    }

    /// Empties and deletes the bucket (a store that went away).
    pub async fn delete(&self) {
        for key in self.keys().await {
            let res = self.client.delete(self.url(&key)).send().await.expect("delete an object");
            assert!(res.status().is_success(), "deleting {key}: {}", res.status());
        }
        let res = self.client.delete(self.url("")).send().await.expect("delete the bucket");
        assert!(res.status().is_success(), "deleting bucket {}: {}", self.name, res.status());
    }
}

/// A TCP relay in front of the S3 server whose requests can be held: while it holds, what clients
/// send waits in the relay and the server sees nothing, as with a store that stopped answering in
/// the middle of an upload.
pub struct Relay {
    /// The base URL to give an app as its S3 endpoint.
    pub url: String,
    open: tokio::sync::watch::Sender<bool>,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Relay {
    /// Starts the relay on a thread and runtime of its own, so that it relays whatever the test's
    /// own runtime is doing.
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        listener.set_nonblocking(true).expect("non-blocking");
        let url_of_relay = format!("http://{}", listener.local_addr().expect("address"));
        let upstream = url().trim_start_matches("http://").trim_end_matches('/').to_owned();
        let (open, _) = tokio::sync::watch::channel(true);
        let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waiting = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (gate, count, waits) = (open.clone(), held.clone(), waiting.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((client, _)) = listener.accept().await {
                    match tokio::net::TcpStream::connect(&upstream).await {
                        Ok(server) => {
                            tokio::spawn(relay(client, server, gate.subscribe(), count.clone(), waits.clone()));
                        }
                        Err(e) => eprintln!("relay: connecting to {upstream}: {e}"),
                    }
                }
            });
        });
        Self { url: url_of_relay, open, held, waiting }
    }

    /// From now on, what clients send is held.
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Sends on what was held, and everything after it.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Bytes a client sent that the relay holds.
    pub fn held_bytes(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections whose client's sending the relay holds (one request each at most, since what
    /// follows the held read is not read until the release).
    pub fn held_connections(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn relay(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    mut open: tokio::sync::watch::Receiver<bool>,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers = tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !*open.borrow() {
            held.fetch_add(n, SeqCst);
            waiting.fetch_add(1, SeqCst);
            let released = open.wait_for(|open| *open).await.is_ok();
            waiting.fetch_sub(1, SeqCst);
            held.fetch_sub(n, SeqCst);
            if !released {
                break;
            }
        }
        if to_server.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = answers.await;
}
