//! The S3 store: blobs as objects `<prefix>/<key>` in one bucket of Amazon S3 or an S3-compatible
//! server (MinIO, Ceph, Garage, R2...), through `object_store`. Several instances pointed at the
//! same bucket and prefix (and the same database) share their files: one stores an upload, any
//! other serves it.
//!
//! An object appears whole or not at all (a single PUT, or a multipart upload that becomes
//! visible only when it is completed), which is what `put_file` promises. Failures of the remote
//! store are [`Unreachable`](super::Unreachable), so the API answers `unavailable` rather than
//! `internal`.

use std::io;
use std::ops::RangeInclusive;
use std::path::Path as FilePath;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use secrecy::ExposeSecret;
use tokio::io::AsyncReadExt;

use super::{BlobStore, BlobStream, is_key, unreachable};
use crate::config::S3Settings;

/// Files up to this size go up in one PUT (read into memory first); larger ones as a multipart
/// upload of parts this size (S3 wants at least 5 MiB per part but the last).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one multipart upload in flight at once: bounds its memory to about two parts.
const PARTS_IN_FLIGHT: usize = 2;
/// Reads from the local file per step of a multipart upload.
const READ_CHUNK: usize = 256 * 1024;

pub struct S3Store {
    store: Arc<dyn ObjectStore>,
    /// Where the blobs live in the bucket (`Path` root: the bucket's top level).
    prefix: Path,
    /// `bucket` at `endpoint`, for error messages.
    name: String,
}

impl S3Store {
    /// A client for the bucket. Nothing is sent yet: [`BlobStore::check`] does that.
    ///
    /// # Errors
    /// A setting `object_store` refuses (the endpoint is not a URL, the prefix is not a path).
    pub fn open(settings: &S3Settings) -> anyhow::Result<Self> {
        // reqwest has no TLS provider of its own here: ring, as everywhere in plauder.
        crate::db::tls::provider();
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = ClientOptions::new()
            .with_allow_http(settings.allow_http)
            .with_timeout(timeout)
            .with_connect_timeout(timeout.min(Duration::from_secs(5)));
        // A few quick retries of what S3 says is worth retrying (5xx, throttling, connection
        // errors), all within one request timeout, so a client waits a bounded time for its
        // `unavailable`.
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), ..BackoffConfig::default() },
            max_retries: 3,
            retry_timeout: timeout,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.expose_secret())
            .with_allow_http(settings.allow_http)
            .with_virtual_hosted_style_request(settings.virtual_hosted_style)
            .with_client_options(client)
            .with_retry(retry);
        let endpoint = settings.endpoint.trim();
        if !endpoint.is_empty() {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder.build().map_err(|e| anyhow::anyhow!("attachments.s3: {e}"))?;
        let prefix = Path::parse(settings.prefix.trim_matches('/'))
            .map_err(|e| anyhow::anyhow!("attachments.s3.prefix: {e}"))?;
        let at = if endpoint.is_empty() { format!("AWS region {}", settings.region) } else { endpoint.to_owned() };
        Ok(Self { store: Arc::new(store), prefix, name: format!("bucket {:?} at {at}", settings.bucket) })
    }

    fn path(&self, key: &str) -> io::Result<Path> {
        if !is_key(key) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob key"));
        }
        Ok(self.prefix.clone().join(key))
    }

    /// A failure of the store as an [`Unreachable`](super::Unreachable) `io::Error` naming the
    /// bucket.
    fn error(&self, e: object_store::Error) -> io::Error {
        store_error(&self.name, e)
    }
}

fn store_error(name: &str, e: object_store::Error) -> io::Error {
    unreachable(anyhow::anyhow!("{name}: {e}"))
}

/// Stores the open file `f` as `path`. Runs as a task of its own (see `put_file`), so it owns
/// what it uses.
async fn put_owned(store: Arc<dyn ObjectStore>, name: String, path: Path, mut f: tokio::fs::File) -> io::Result<()> {
    let len = f.metadata().await?.len();
    if len <= PART_BYTES as u64 {
        let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        f.read_to_end(&mut data).await?;
        // Storing a key that exists writes the same bytes again: harmless.
        store.put(&path, PutPayload::from(data)).await.map_err(|e| store_error(&name, e))?;
    } else {
        put_multipart(store.as_ref(), &name, &path, &mut f).await?;
    }
    Ok(())
}

/// A multipart upload of the open file, aborted (its parts deleted) if anything fails.
async fn put_multipart(store: &dyn ObjectStore, name: &str, path: &Path, file: &mut tokio::fs::File) -> io::Result<()> {
    let upload = store.put_multipart(path).await.map_err(|e| store_error(name, e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut buf = vec![0u8; READ_CHUNK];
    let written: io::Result<()> = async {
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| store_error(name, e))?;
            writer.write(&buf[..n]);
        }
    }
    .await;
    match written {
        Ok(()) => writer.finish().await.map(|_| ()).map_err(|e| store_error(name, e)),
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "aborting a failed multipart upload");
            }
            Err(e)
        }
    }
}

impl BlobStore for S3Store {
    fn put_file<'a>(&'a self, key: &'a str, file: &'a FilePath) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            // In a task of its own: a caller dropped mid-way (the client hung up) would otherwise
            // drop a multipart upload without aborting it, and its parts would stay in the bucket,
            // unlisted and billed. Finished without a caller, the object has no row and the next
            // sweep deletes it. The file is opened first, so the caller's removing it cannot cut
            // the upload short. The task lives on the worker's runtime, so a shutdown that stops
            // the worker mid-upload still leaves parts: the bucket's lifecycle rule covers that.
            let file = tokio::fs::File::open(file).await?;
            let task = tokio::spawn(put_owned(self.store.clone(), self.name.clone(), path, file));
            task.await.map_err(io::Error::other)?
        })
    }

    fn get<'a>(&'a self, key: &'a str, range: Option<RangeInclusive<u64>>) -> BoxFuture<'a, io::Result<BlobStream>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let options = GetOptions {
                range: range.map(|r| GetRange::Bounded(*r.start()..r.end().saturating_add(1))),
                ..GetOptions::default()
            };
            let result = self.store.get_opts(&path, options).await.map_err(|e| {
                if is_missing_object(&e) { io::Error::new(io::ErrorKind::NotFound, e) } else { self.error(e) }
            })?;
            let name = self.name.clone();
            // A failure mid-stream ends the response early; the client sees a short body.
            let stream = result.into_stream().map_err(move |e| unreachable(anyhow::anyhow!("{name}: {e}")));
            Ok(stream.boxed())
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move {
            match self.store.head(&self.path(key)?).await {
                Ok(_) => Ok(true),
                Err(e) if is_missing_object(&e) => Ok(false),
                Err(e) => Err(self.error(e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match self.store.delete(&self.path(key)?).await {
                Ok(()) => Ok(()),
                Err(e) if is_missing_object(&e) => Ok(()),
                Err(e) => Err(self.error(e)),
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, io::Result<Vec<String>>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut objects = self.store.list(Some(&self.prefix));
            while let Some(meta) = objects.next().await {
                let meta = meta.map_err(|e| self.error(e))?;
                // Only `<prefix>/<key>`: whatever else shares the bucket is not ours to sweep.
                let Some(mut rest) = meta.location.prefix_match(&self.prefix) else { continue };
                if let (Some(part), None) = (rest.next(), rest.next())
                    && is_key(part.as_ref())
                {
                    keys.push(part.as_ref().to_owned());
                }
            }
            Ok(keys)
        })
    }

    fn check(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            // One listing page under the prefix: needs the bucket to exist and the credentials to
            // be accepted, and changes nothing. (A missing bucket is S3's NoSuchBucket, in the
            // message.) Only an answer that will not change by itself is a refusal; no answer, or
            // a server error, leaves the store `Unreachable` (see `BlobStore::check`).
            match self.store.list_with_delimiter(Some(&self.prefix)).await {
                Ok(_) => Ok(()),
                Err(e) if is_definite(&e) => Err(io::Error::other(anyhow::anyhow!("{}: {e}", self.name))),
                Err(e) => Err(self.error(e)),
            }
        })
    }
}

/// Whether the server answered, and with a refusal that trying again will not change (a 4xx:
/// no such bucket, a key or signature it does not accept, access denied), rather than not at all
/// (no connection, a timeout, a broken response: an `HttpError` in the chain) or with a server
/// error, throttling or a request timeout (5xx, 429, 408), which `object_store` has already
/// retried. The status is read from the message, the one place `object_store` keeps it for a
/// listing (its `RetryError` is not public); an answer whose status cannot be read counts as
/// definite, since it was an answer.
fn is_definite(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<object_store::client::HttpError>() {
            return false;
        }
        source = err.source();
    }
    !matches!(status_in(&e.to_string()), Some(status) if status >= 500 || status == 429 || status == 408)
}

/// The HTTP status in `object_store`'s "… status code: 404 Not Found: …", if there is one.
fn status_in(message: &str) -> Option<u16> {
    let (_, rest) = message.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

/// A 404 for the object, not for the bucket: S3 answers both with 404 and tells them apart by
/// the error code in the body, which `object_store` keeps in its message.
fn is_missing_object(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. }) && !e.to_string().contains("NoSuchBucket")
}
