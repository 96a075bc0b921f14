//! Where attachment bytes live: a [`BlobStore`] keyed by the content's SHA-256 (lowercase hex),
//! so a file is stored once however often it is uploaded or sent, and a key never names anything
//! a client chose. `attachments.store` picks the local directory store ([`local`], the default) or
//! an S3 bucket ([`s3`], which several instances can share); the retention job's sweep deletes
//! blobs no `attachments` row names any more (see `service::attachments::sweep`).
//!
//! The trait returns boxed futures rather than using `async fn` so that the store can be a trait
//! object picked by configuration at start-up.

pub mod local;
pub mod s3;

use std::io;
use std::ops::RangeInclusive;
use std::path::Path;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

/// A blob's bytes as they are read, chunk by chunk.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

pub trait BlobStore: Send + Sync {
    /// Stores the complete file at `file` (a finished upload, on the local disk) under `key`.
    /// The blob appears whole or not at all; storing a key that exists leaves one blob with the
    /// same content. `file` stays the caller's (an upload may need to store it again:
    /// `service::attachments::restore_swept`), and the caller must not change it afterwards: the
    /// local store's blob may be the same file.
    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, io::Result<()>>;

    /// Whether the blob is in the store.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>>;

    /// Reads the blob, or the inclusive byte `range` of it (already checked against its size).
    /// A missing blob is `io::ErrorKind::NotFound`.
    fn get<'a>(&'a self, key: &'a str, range: Option<RangeInclusive<u64>>) -> BoxFuture<'a, io::Result<BlobStream>>;

    /// Deletes the blob; deleting a missing one is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>>;

    /// Every key in the store.
    fn list(&self) -> BoxFuture<'_, io::Result<Vec<String>>>;

    /// Whether the store can be used, checked once at start-up: a remote store is asked
    /// something (a wrong bucket or credentials fail here, not at the first upload). An
    /// [`Unreachable`] error means there was no definite answer (nothing listening yet, a
    /// timeout, a server error): the caller may start anyway, since requests retry the store;
    /// any other error is the store's refusal.
    fn check(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// A remote store refused a request or could not be reached (as opposed to a local disk's
/// error): the API answers `unavailable`, the client may try again, and the cause is logged.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Unreachable(anyhow::Error);

/// `cause` as an `io::Error` carrying [`Unreachable`].
pub fn unreachable(cause: anyhow::Error) -> io::Error {
    io::Error::other(Unreachable(cause))
}

/// Whether `e` is a remote store's failure ([`Unreachable`]).
pub fn is_unreachable(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Unreachable>())
}

/// Whether `key` is a blob key (64 lowercase hex digits): the only names a store ever builds a
/// path or object name from.
pub fn is_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
