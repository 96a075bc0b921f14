//! The local directory store: `<directory>/blobs/ab/cd/<key>`, two levels of fan-out so no
//! directory grows huge. A blob arrives as a hard link to a complete, synced temporary file on the
//! same file system, so a crash leaves either the whole blob or none (at worst a stray temporary
//! file under `tmp/`, which the sweep removes), and the temporary file stays the caller's.

use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{BlobStore, BlobStream, is_key};

/// Chunk size of reads.
const CHUNK: usize = 64 * 1024;

pub struct LocalStore {
    blobs: PathBuf,
    /// `directory/tmp`, where uploads stream (`service::attachments`) and where a copy is made
    /// before it is renamed into `blobs` (a crash leaves it where the sweep removes stale files).
    tmp: PathBuf,
}

impl LocalStore {
    /// A store under `directory/blobs` (and `directory/tmp`), created if missing.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(directory: &Path) -> io::Result<Self> {
        let blobs = directory.join("blobs");
        let tmp = directory.join("tmp");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { blobs, tmp })
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        if !is_key(key) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob key"));
        }
        Ok(self.blobs.join(&key[0..2]).join(&key[2..4]).join(key))
    }
}

impl BlobStore for LocalStore {
    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            // A link appears whole (it is one directory entry). A blob already there has the same
            // content, its name being its hash.
            match tokio::fs::hard_link(file, &path).await {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                // A file system without hard links (SMB, some FUSE mounts): a synced copy, renamed
                // into place so that it too appears whole.
                Err(e) if e.kind() != io::ErrorKind::NotFound => copy_into_place(file, &path, &self.tmp).await,
                other => other,
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move { tokio::fs::try_exists(self.path(key)?).await })
    }

    fn get<'a>(&'a self, key: &'a str, range: Option<RangeInclusive<u64>>) -> BoxFuture<'a, io::Result<BlobStream>> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(self.path(key)?).await?;
            let remaining = match range {
                Some(r) => {
                    file.seek(io::SeekFrom::Start(*r.start())).await?;
                    r.end() - r.start() + 1
                }
                None => file.metadata().await?.len(),
            };
            let stream = futures_util::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let want = usize::try_from(remaining).unwrap_or(CHUNK).min(CHUNK);
                let mut buf = BytesMut::zeroed(want);
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than its row says"));
                }
                buf.truncate(n);
                let chunk: Bytes = buf.freeze();
                Ok(Some((chunk, (file, remaining - n as u64))))
            });
            Ok(Box::pin(stream) as BlobStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, io::Result<Vec<String>>> {
        let root = self.blobs.clone();
        Box::pin(async move {
            // Three levels, known shape: a walk by hand is shorter than a dependency.
            tokio::task::spawn_blocking(move || {
                let mut keys = Vec::new();
                for a in read_dirs(&root)? {
                    for b in read_dirs(&a)? {
                        for entry in std::fs::read_dir(&b)? {
                            let name = entry?.file_name();
                            if let Some(name) = name.to_str().filter(|n| is_key(n)) {
                                keys.push(name.to_owned());
                            }
                        }
                    }
                }
                Ok(keys)
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

/// Copies `file` to a temporary file in `tmp` (on the same file system as `path`), syncs it and
/// renames it to `path`.
async fn copy_into_place(file: &Path, path: &Path, tmp: &Path) -> io::Result<()> {
    let part = tmp.join(format!("{}.copy", uuid::Uuid::new_v4().simple()));
    let copied = async {
        tokio::fs::copy(file, &part).await?;
        tokio::fs::File::open(&part).await?.sync_all().await?;
        tokio::fs::rename(&part, path).await
    }
    .await;
    if copied.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    copied
}

fn read_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback for file systems without hard links (which this machine's has): the blob
    /// appears with the file's content, the file stays, and no copy is left behind.
    #[tokio::test]
    async fn a_copy_into_place_leaves_the_blob_the_file_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("plauder-local-{}", uuid::Uuid::new_v4().simple()));
        let store = LocalStore::open(&dir).expect("open");
        let file = store.tmp.join("upload.part");
        std::fs::write(&file, b"some bytes").expect("write");
        let key = "ab".repeat(32);
        let path = store.path(&key).expect("path");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");

        copy_into_place(&file, &path, &store.tmp).await.expect("copy");
        // Again over an existing blob: replaced whole.
        copy_into_place(&file, &path, &store.tmp).await.expect("copy again");

        assert_eq!(std::fs::read(&path).expect("blob"), b"some bytes");
        assert!(store.exists(&key).await.expect("exists"));
        assert_eq!(store.list().await.expect("list"), vec![key]);
        let left: Vec<_> = std::fs::read_dir(&store.tmp).expect("tmp").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("upload.part")], "only the caller's file");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
