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
        asset!($path, $type, $path)
    };
    // Served at `$path`, read from `web/$file`.
    ($path:literal, $type:expr, $file:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";

/// Everything under `/static/`. The pages (index.html, admin.html) and the widget's loader are
/// not here: they are served at `/`, `/admin` and `/widget.js` with the version filled in.
static ASSETS: &[Asset] = &[
    // The npm package's module (web/client/), served as is: one file, two ways to get it.
    asset!("plauder-client.js", JS, "client/plauder-client.js"),
    asset!("app.css", CSS),
    asset!("icon.svg", "image/svg+xml"),
    // The installed app's icons, rendered once from icon.svg (see docs/client.md) and committed:
    // the build needs no image tool.
    asset!("icons/icon-192.png", PNG),
    asset!("icons/icon-512.png", PNG),
    asset!("icons/icon-maskable-512.png", PNG),
    // The service worker's push notifications, a classic script it loads with importScripts.
    asset!("push.js", JS),
    asset!("theme.js", JS),
    asset!("icons.js", JS),
    asset!("links.js", JS),
    asset!("errors.js", JS),
    asset!("useragent.js", JS),
    asset!("i18n/i18n.js", JS),
    asset!("i18n/en.js", JS),
    asset!("i18n/de.js", JS),
    asset!("app/main.js", JS),
    asset!("app/dom.js", JS),
    asset!("app/auth.js", JS),
    asset!("app/store.js", JS),
    asset!("app/drafts.js", JS),
    asset!("app/sidebar.js", JS),
    asset!("app/chat.js", JS),
    asset!("app/people.js", JS),
    asset!("app/rooms.js", JS),
    asset!("app/directory.js", JS),
    asset!("app/notify.js", JS),
    asset!("app/security.js", JS),
    asset!("app/lang.js", JS),
    asset!("app/attachments.js", JS),
    asset!("app/offline.js", JS),
    asset!("app/pwa.js", JS),
    asset!("app/devicepush.js", JS),
    asset!("admin.css", CSS),
    asset!("admin/main.js", JS),
    asset!("admin/common.js", JS),
    asset!("admin/overview.js", JS),
    asset!("admin/charts.js", JS),
    asset!("admin/inbox.js", JS),
    asset!("admin/supporttools.js", JS),
    asset!("admin/users.js", JS),
    asset!("admin/moderation.js", JS),
    asset!("admin/audit.js", JS),
    asset!("admin/contacts.js", JS),
    asset!("admin/mail.js", JS),
    asset!("admin/bots.js", JS),
    asset!("admin/webhooks.js", JS),
    asset!("admin/knowledge.js", JS),
    asset!("widget/widget.js", JS),
    asset!("widget/widget.css", CSS),
];

const INDEX_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"));
const ADMIN_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/admin.html"));
const SUPPORT_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/support.html"));
const WIDGET_LOADER_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/widget.js"));
const MANIFEST_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/manifest.webmanifest"));
const SERVICE_WORKER_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/sw.js"));

/// The placeholder in index.html that becomes the asset version.
const VERSION_PLACEHOLDER: &str = "__VERSION__";
/// The placeholder in sw.js that becomes the list of the app shell's URLs (a JSON array).
const SHELL_PLACEHOLDER: &str = "__SHELL__";

fn hex(bytes: &[u8], len: usize) -> String {
    bytes
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(len)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect()
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

/// A template with its asset URLs pointing at the current version, and its ETag.
fn versioned(template: &str) -> (String, String) {
    let text = template.replace(VERSION_PLACEHOLDER, &VERSION);
    let etag = format!("\"{}\"", hex(&Sha256::digest(text.as_bytes()), 20));
    (text, etag)
}

/// The chat app's page and its ETag.
pub static INDEX: LazyLock<(String, String)> = LazyLock::new(|| versioned(INDEX_TEMPLATE));

/// The admin panel's page and its ETag.
pub static ADMIN: LazyLock<(String, String)> = LazyLock::new(|| versioned(ADMIN_TEMPLATE));

/// The page of the support widget alone (`/support`, where reply mails link to) and its ETag.
pub static SUPPORT: LazyLock<(String, String)> = LazyLock::new(|| versioned(SUPPORT_TEMPLATE));

/// The support widget's loader (`/widget.js`, a classic script other sites include) and its ETag.
pub static WIDGET_LOADER: LazyLock<(String, String)> = LazyLock::new(|| versioned(WIDGET_LOADER_TEMPLATE));

/// The web app manifest (`/manifest.webmanifest`) and its ETag.
pub static MANIFEST: LazyLock<(String, String)> = LazyLock::new(|| versioned(MANIFEST_TEMPLATE));

/// Whether an asset belongs to the chat app's shell. The admin panel and the support widget are
/// online-only (the panel's navigations pass the service worker by), so they are not cached.
fn in_shell(path: &str) -> bool {
    !(path.starts_with("admin") || path.starts_with("widget/"))
}

/// The URLs the service worker caches at install: the page, the manifest and every file of the
/// chat app under this build's version.
pub static SHELL: LazyLock<Vec<String>> = LazyLock::new(|| {
    let version = VERSION.as_str();
    ["/".to_owned(), "/manifest.webmanifest".to_owned()]
        .into_iter()
        .chain(ASSETS.iter().filter(|a| in_shell(a.path)).map(|a| format!("/static/{version}/{}", a.path)))
        .collect()
});

/// The service worker (`/sw.js`) with this build's version and shell list, and its ETag.
pub static SERVICE_WORKER: LazyLock<(String, String)> = LazyLock::new(|| {
    // The URLs are ours (paths and a hex version), so they need no escaping beyond the quotes.
    let list = SHELL.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", ");
    versioned(&SERVICE_WORKER_TEMPLATE.replace(SHELL_PLACEHOLDER, &format!("[{list}]")))
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

    #[test]
    fn the_admin_page_and_the_widget_loader_point_at_the_current_version() {
        assert!(!ADMIN.0.contains(VERSION_PLACEHOLDER));
        assert!(ADMIN.0.contains(&format!("/static/{}/admin/main.js", *VERSION)));
        assert!(!WIDGET_LOADER.0.contains(VERSION_PLACEHOLDER));
        assert!(WIDGET_LOADER.0.contains(&*VERSION));
    }

    #[test]
    fn the_service_worker_caches_the_app_shell_of_this_version_and_nothing_of_the_api() {
        let sw = &SERVICE_WORKER.0;
        assert!(!sw.contains(VERSION_PLACEHOLDER) && !sw.contains(SHELL_PLACEHOLDER));
        assert!(sw.contains(&format!("plauder-shell-{}", *VERSION)));
        assert!(SHELL.contains(&format!("/static/{}/app/main.js", *VERSION)));
        assert!(SHELL.contains(&format!("/static/{}/icons/icon-192.png", *VERSION)));
        assert!(SHELL.iter().all(|u| !u.starts_with("/api/") && !u.contains("/admin") && !u.contains("widget/")));
        // Every shell URL names a served file (or the page or the manifest).
        for url in SHELL.iter().skip(2) {
            let path = url.trim_start_matches(&format!("/static/{}/", *VERSION));
            assert!(find(path).is_some(), "{url}");
        }
    }

    #[test]
    fn the_manifest_is_json_and_points_at_the_current_version() {
        let manifest: serde_json::Value = serde_json::from_str(&MANIFEST.0).expect("manifest JSON");
        assert_eq!(manifest["start_url"], "/");
        let icons = manifest["icons"].as_array().expect("icons");
        assert!(icons.iter().all(|i| i["src"].as_str().is_some_and(|s| s.contains(&*VERSION))));
    }
}
