//! The browser client's files, compiled into the binary so one file is the whole deployment.
//! Each asset carries its content type and a content hash (its ETag); together the hashes make
//! the asset version that versioned URLs (`/static/<version>/…`) carry, so a new build never
//! meets a stale cached copy and an unchanged one is cached for good.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// The path under `/static/`, e.g. `app/chat.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset { path: $path, content_type: $type, bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Everything under `/static/`. index.html is not here: it is served at `/` (see [`index`]).
static ASSETS: &[Asset] = &[
    asset!("plauder-client.js", JS),
    asset!("app.css", CSS),
    asset!("icon.svg", "image/svg+xml"),
    asset!("theme.js", JS),
    asset!("app/main.js", JS),
    asset!("app/dom.js", JS),
    asset!("app/auth.js", JS),
    asset!("app/store.js", JS),
    asset!("app/sidebar.js", JS),
    asset!("app/chat.js", JS),
    asset!("app/people.js", JS),
    asset!("app/notify.js", JS),
];

const INDEX_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"));

/// The placeholder in index.html that becomes the asset version.
const VERSION_PLACEHOLDER: &str = "__VERSION__";

fn hex(bytes: &[u8], len: usize) -> String {
    bytes.iter().flat_map(|b| [b >> 4, b & 0xf]).take(len).map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0')).collect()
}

/// Hashes of every asset, in table order, as quoted ETag values.
static ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| format!("\"{}\"", hex(&Sha256::digest(a.bytes), 20))).collect());

/// The version of the asset set: a hash over every asset's path and hash, so changing any file
/// changes every versioned URL (relative imports between modules stay within one version).
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for (asset, etag) in ASSETS.iter().zip(ETAGS.iter()) {
        hasher.update(asset.path.as_bytes());
        hasher.update(etag.as_bytes());
    }
    hex(&hasher.finalize(), 12)
});

/// index.html with its asset URLs pointing at the current version, and its ETag.
pub static INDEX: LazyLock<(String, String)> = LazyLock::new(|| {
    let html = INDEX_TEMPLATE.replace(VERSION_PLACEHOLDER, &VERSION);
    let etag = format!("\"{}\"", hex(&Sha256::digest(html.as_bytes()), 20));
    (html, etag)
});

/// The asset at `path` (relative to `/static/`) and its ETag.
pub fn find(path: &str) -> Option<(&'static Asset, &'static str)> {
    let i = ASSETS.iter().position(|a| a.path == path)?;
    Some((&ASSETS[i], ETAGS[i].as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_path_and_a_body() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
            assert!(ASSETS[i + 1..].iter().all(|b| b.path != a.path), "{} twice", a.path);
        }
    }

    #[test]
    fn index_points_at_the_current_version() {
        assert!(!INDEX.0.contains(VERSION_PLACEHOLDER));
        assert!(INDEX.0.contains(&format!("/static/{}/app/main.js", *VERSION)));
    }
}
