//! The browser client's HTTP side: the page and its assets, cache validators, security headers,
//! and that none of it shadows the API.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

use crate::helpers::{assert_error, spawn_app};

/// The asset URLs index.html refers to.
fn asset_urls(html: &str) -> Vec<String> {
    html.split(['"', '\'']).filter(|s| s.starts_with("/static/")).map(str::to_owned).collect()
}

#[actix_web::test]
async fn the_app_page_is_served_at_the_root_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let res = app.get("/", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let host = app.address.trim_start_matches("http://");
    assert!(csp.contains(&format!("connect-src 'self' ws://{host} wss://{host}")), "{csp}");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style: {html}");
    assert!(html.contains("type=\"module\""));
}

#[actix_web::test]
async fn a_hostile_host_header_does_not_reach_the_policy() {
    let app = spawn_app().await;
    let res =
        app.client.get(format!("{}/", app.address)).header("host", "evil.example; script-src *").send().await.unwrap();
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(!csp.contains("evil") && !csp.contains("script-src *"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
}

#[actix_web::test]
async fn every_asset_the_page_names_is_served_immutable_with_its_type() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    let urls = asset_urls(&html);
    assert!(urls.len() >= 5, "{urls:?}");
    for url in urls {
        let res = app.get(&url, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable", "{url}");
        let ct = res.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        let expected = if url.ends_with(".js") {
            "text/javascript"
        } else if url.ends_with(".css") {
            "text/css"
        } else if url.ends_with(".png") {
            "image/png"
        } else {
            "image/svg+xml"
        };
        assert!(ct.starts_with(expected), "{url}: {ct}");
        assert!(!res.bytes().await.unwrap().is_empty(), "{url}");
    }
}

#[actix_web::test]
async fn modules_import_each_other_within_the_same_version() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    let main = asset_urls(&html).into_iter().find(|u| u.ends_with("/app/main.js")).expect("main.js");
    let version_dir = main.trim_end_matches("app/main.js").to_owned();
    let js = app.get(&main, None).await.text().await.unwrap();
    // Every relative import of main.js resolves to a served file under the same version.
    for spec in js.lines().filter(|l| l.starts_with("import ")).filter_map(|l| l.split('\'').nth(1)) {
        let resolved = match spec.strip_prefix("../") {
            Some(rest) => format!("{version_dir}{rest}"),
            None => format!("{version_dir}app/{}", spec.trim_start_matches("./")),
        };
        assert_eq!(app.get(&resolved, None).await.status(), StatusCode::OK, "{spec} -> {resolved}");
    }
}

#[actix_web::test]
async fn unversioned_assets_revalidate_and_an_unchanged_copy_gets_304() {
    let app = spawn_app().await;
    let res = app.get("/static/plauder-client.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    let etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let body = res.text().await.unwrap();
    assert!(body.contains("export class PlauderClient"));

    let again = app
        .client
        .get(format!("{}/static/plauder-client.js", app.address))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let stale = app
        .client
        .get(format!("{}/static/plauder-client.js", app.address))
        .header(IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    let page = app.get("/", None).await;
    let page_etag = page.headers()[ETAG].to_str().unwrap().to_owned();
    let page_again =
        app.client.get(format!("{}/", app.address)).header(IF_NONE_MATCH, &page_etag).send().await.unwrap();
    assert_eq!(page_again.status(), StatusCode::NOT_MODIFIED);
}

#[actix_web::test]
async fn an_older_version_in_the_url_gets_todays_file_without_the_long_cache() {
    let app = spawn_app().await;
    let res = app.get("/static/000000000000/app.css", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
}

#[actix_web::test]
async fn unknown_static_paths_are_404_with_the_error_body() {
    let app = spawn_app().await;
    for path in [
        "/static/nope.js",
        "/static/",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/app/",
        "/index.html",
    ] {
        assert_error(app.get(path, None).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[actix_web::test]
async fn assets_are_gzipped_for_clients_that_accept_it() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/static/app.css", app.address))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "gzip");
}

#[actix_web::test]
async fn the_app_routes_leave_the_api_and_operations_alone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/metrics", None).await.status(), StatusCode::OK);
    assert_error(app.get("/api/v1/users/me", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.get("/api/v1/nothing", None).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.get("/ws", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The page is GET and HEAD only.
    let res = app.post("/", None, serde_json::json!({})).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let head = app.client.head(format!("{}/", app.address)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_admin_page_is_served_with_the_same_strict_policy_and_its_assets_exist() {
    let app = spawn_app().await;
    let res = app.get("/admin", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style: {html}");
    let urls = asset_urls(&html);
    assert!(urls.iter().any(|u| u.ends_with("/admin/main.js")), "{urls:?}");
    for url in urls {
        assert_eq!(app.get(&url, None).await.status(), StatusCode::OK, "{url}");
    }
}

#[actix_web::test]
async fn the_widget_loader_is_a_script_any_site_may_load_and_it_names_the_current_widget() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/widget.js", app.address))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    let js = res.text().await.unwrap();
    let module = js
        .split('\'')
        .find(|s| s.starts_with("/static/") && s.ends_with("/widget/widget.js"))
        .expect("the module's URL")
        .to_owned();
    // The module it imports, and the modules that one imports, are readable cross-origin too.
    let res = app
        .client
        .get(format!("{}{module}", app.address))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let client = module.replace("widget/widget.js", "plauder-client.js");
    let res = app
        .client
        .get(format!("{}{client}", app.address))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[actix_web::test]
async fn the_widgets_routes_answer_a_cross_origin_preflight() {
    let app = spawn_app().await;
    for path in ["/api/v1/support/sessions", "/api/v1/auth/refresh", "/api/v1/rooms", "/api/v1/users/me"] {
        let res = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.address))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "{path}");
        let allowed = res.headers()["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{path}: {allowed}");
    }
    let rooms = format!("/api/v1/rooms/{}/messages", uuid::Uuid::new_v4());
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}{rooms}", app.address))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn other_routes_stay_same_origin_only() {
    let app = spawn_app().await;
    for path in ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/friends", "/api/v1/users/me/password"] {
        let res = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.address))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{path}");
        assert_ne!(res.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let res = app
        .client
        .get(format!("{}/api/v1/friends", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn a_cross_origin_answer_of_a_widget_route_is_readable_errors_included() {
    let app = spawn_app().await;
    let user = app.register("ada").await;
    let res = app
        .client
        .get(format!("{}/api/v1/users/me", app.address))
        .header("origin", "https://shop.example")
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    // A refusal must be readable too, or the widget could not tell an expired session from an outage.
    let res = app
        .client
        .get(format!("{}/api/v1/users/me", app.address))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// The npm package (web/client/) and the server share one module: the served file is the
/// package's, byte for byte, and the package's entry point and types name that file.
#[actix_web::test]
async fn the_served_client_library_is_the_npm_packages_module() {
    let app = spawn_app().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/client");
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap()).unwrap();
    assert_eq!(package["type"], "module");
    let entry = &package["exports"]["."];
    assert_eq!(entry["default"], "./plauder-client.js", "{package}");
    assert_eq!(entry["types"], "./plauder-client.d.ts", "{package}");
    let module = std::fs::read(dir.join("plauder-client.js")).unwrap();
    let types = std::fs::read_to_string(dir.join("plauder-client.d.ts")).unwrap();
    assert!(types.contains("export class PlauderClient") && types.contains("export interface Commands"));

    let served = app.get("/static/plauder-client.js", None).await.bytes().await.unwrap();
    assert_eq!(served.as_ref(), module.as_slice(), "the served file is the package's module");
    assert!(!std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/plauder-client.js").exists(), "one copy only");
}

/// A PNG's width and height, from its IHDR chunk (the first, right after the signature).
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((width, height))
}

#[actix_web::test]
async fn the_web_app_manifest_is_linked_typed_and_names_real_icons_of_its_sizes() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    assert!(html.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#), "{html}");

    let res = app.get("/manifest.webmanifest", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/manifest+json");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    let etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    let manifest: serde_json::Value = res.json().await.unwrap();
    assert_eq!(manifest["name"], "plauder");
    assert_eq!(manifest["short_name"], "plauder");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["scope"], "/");
    assert_eq!(manifest["display"], "standalone");
    // The colours are the app's own (web/app.css): the light theme's background and panel.
    let css = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/app.css")).unwrap();
    for (field, var) in [("background_color", "--bg"), ("theme_color", "--panel")] {
        let colour = manifest[field].as_str().unwrap();
        assert!(css.contains(&format!("{var}: {colour};")), "{field} {colour} is not app.css's {var}");
    }

    let icons = manifest["icons"].as_array().unwrap();
    let mut seen = Vec::new();
    for icon in icons.iter().filter(|i| i["type"] == "image/png") {
        let src = icon["src"].as_str().unwrap();
        let res = app.get(src, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{src}");
        assert_eq!(res.headers()[CONTENT_TYPE], "image/png", "{src}");
        let (w, h) = png_size(&res.bytes().await.unwrap()).unwrap_or_else(|| panic!("{src} is no PNG"));
        assert_eq!(icon["sizes"].as_str().unwrap(), format!("{w}x{h}"), "{src}");
        seen.push((w, icon["purpose"].as_str().unwrap_or("any").to_owned()));
    }
    for wanted in [(192, "any"), (512, "any"), (512, "maskable")] {
        assert!(seen.iter().any(|(w, p)| (*w, p.as_str()) == wanted), "no {wanted:?} icon in {seen:?}");
    }

    let again = app
        .client
        .get(format!("{}/manifest.webmanifest", app.address))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[actix_web::test]
async fn the_service_worker_revalidates_and_precaches_exactly_this_builds_shell() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    let res = app.get("/sw.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(res.headers()["service-worker-allowed"], "/");
    let etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    let js = res.text().await.unwrap();
    assert!(!js.contains("__VERSION__") && !js.contains("__SHELL__"));

    // The cache is named after the build the page names, and holds every file the page loads.
    let main = asset_urls(&html).into_iter().find(|u| u.ends_with("/app/main.js")).unwrap();
    let version = main.trim_start_matches("/static/").split('/').next().unwrap().to_owned();
    assert!(js.contains(&format!("plauder-shell-{version}")), "cache not named after {version}");
    let shell_line = js.lines().find(|l| l.starts_with("const SHELL = ")).expect("the shell list");
    for url in asset_urls(&html) {
        assert!(shell_line.contains(&format!("'{url}'")), "{url} is not precached");
    }
    for url in ["'/'", "'/manifest.webmanifest'", "app/offline.js'", "i18n/de.js'", "icons/icon-192.png'"] {
        assert!(shell_line.contains(url), "{url} is not precached");
    }
    // Nothing of the API, the admin panel or the widget, and every listed URL is served.
    assert!(!shell_line.contains("/api/") && !shell_line.contains("admin") && !shell_line.contains("widget"));
    for url in shell_line.split('\'').skip(1).step_by(2) {
        assert_eq!(app.get(url, None).await.status(), StatusCode::OK, "{url}");
    }
    // The notification code it loads is this build's.
    assert!(js.contains(&format!("importScripts('/static/{version}/push.js')")));

    let again = app.client.get(format!("{}/sw.js", app.address)).header(IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let head = app.client.head(format!("{}/sw.js", app.address)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}
