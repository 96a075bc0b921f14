//! Health, readiness, metrics, the OpenAPI document against the router, request ids, and
//! PostgreSQL being down.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::header::ALLOW;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app, spawn_app_with};

/// The keys of an OpenAPI path item that are operations.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The served OpenAPI document.
pub async fn openapi_document(app: &TestApp) -> Value {
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("the OpenAPI document is JSON")
}

/// Every REST operation the server has, as (lower-case method, OpenAPI path), from the served
/// document: the router's registrations produce it (see
/// `every_documented_operation_reaches_a_route`).
pub async fn documented_operations(app: &TestApp) -> Vec<(String, String)> {
    operations(&openapi_document(app).await)
}

fn operations(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item is an object").keys();
            methods.filter(|m| METHODS.contains(&m.as_str())).map(move |m| (m.clone(), path.clone()))
        })
        .collect()
}

/// `path` with each `{param}` filled in: a fresh UUID where the operation declares one, a sample
/// word otherwise. An undeclared path parameter fails the test.
fn sample_url(doc: &Value, method: &str, path: &str) -> String {
    let params = doc["paths"][path][method]["parameters"].as_array().cloned().unwrap_or_default();
    let mut url = path.to_owned();
    while let Some(start) = url.find('{') {
        let end = start + url[start..].find('}').expect("a closing brace");
        let name = &url[start + 1..end];
        let param = params
            .iter()
            .find(|p| p["in"] == "path" && p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} does not declare its path parameter {name}"));
        let value = if param["schema"]["format"] == "uuid" { Uuid::new_v4().to_string() } else { "sample".to_owned() };
        url.replace_range(start..=end, &value);
    }
    url
}

/// The served document against the router, from the document's side: every operation it lists
/// reaches a registered route, where the router would answer a path it does not have with its
/// 404 (`No such route.`) and a method the path does not have with 405. Requests go without token
/// or body, so most stop at the handler's extractors (401, 400): the route was found.
///
/// From the router's side there is no list to compare: an API route cannot be registered without
/// its operation. `plauder::api::configure` registers handlers only through `utoipa-actix-web`'s
/// `service`, which accepts nothing but handlers carrying `#[utoipa::path]` (anything else does
/// not compile) and adds each one's operation to the document as it registers the route; the
/// document is collected from those registrations. Only `startup` goes around it, on the plain
/// actix scope, for the document itself, `/ws` and the browser client's pages. What the router
/// serves on each documented path is checked below.
#[actix_web::test]
async fn every_documented_operation_reaches_a_route() {
    let app = spawn_app().await;
    let doc = openapi_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let operations = operations(&doc);
    // An empty or truncated document would pass the loop below without checking anything.
    assert!(operations.len() > 40, "the document lists only {} operations", operations.len());
    let unknown = app.get(&format!("/api/v1/{}", Uuid::new_v4()), None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let no_such_route = unknown.text().await.unwrap();

    let mut failures = Vec::new();
    for (method, path) in &operations {
        let url = sample_url(&doc, method, path);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.request(m, &url, None, None).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        if status == StatusCode::METHOD_NOT_ALLOWED || (status == StatusCode::NOT_FOUND && body == no_such_route) {
            failures.push(format!("{method} {path} ({url}): {status} {body}"));
        }
    }
    assert!(failures.is_empty(), "documented but not routed:\n{}", failures.join("\n"));
}

/// The served document against the router, from the router's side as far as it can be asked: on
/// each documented path, a method no route has (TRACE) gets the router's 405, whose `Allow` header
/// lists the methods registered on that path. They must be exactly the documented ones, so the
/// router serves as many operations on these paths as the document lists. (A path the document
/// lacks altogether is beyond this check: it cannot be registered through `service`; see above.)
#[actix_web::test]
async fn the_router_serves_each_documented_path_with_exactly_the_documented_methods() {
    let app = spawn_app().await;
    let doc = openapi_document(&app).await;
    let operations = operations(&doc);
    let mut documented: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (method, path) in &operations {
        documented.entry(path).or_default().insert(method.to_uppercase());
    }

    let mut failures = Vec::new();
    let mut served = 0;
    for (path, methods) in &documented {
        assert!(!methods.contains("TRACE"), "{path} documents TRACE, which this test uses as the unknown method");
        let url = sample_url(&doc, &methods.first().unwrap().to_lowercase(), path);
        let res = app.request(Method::TRACE, &url, None, None).await;
        if res.status() != StatusCode::METHOD_NOT_ALLOWED {
            failures.push(format!("TRACE {url}: {} rather than 405", res.status()));
            continue;
        }
        let allow = res.headers().get(ALLOW).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let routed: BTreeSet<String> =
            allow.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned).collect();
        served += routed.len();
        if routed != *methods {
            failures.push(format!("{path}: the router has {routed:?}, the document {methods:?}"));
        }
    }
    assert!(failures.is_empty(), "the router and the document disagree:\n{}", failures.join("\n"));
    assert_eq!(served, operations.len(), "operations the router serves on the documented paths");
}

#[actix_web::test]
async fn health_is_ok_and_ready_checks_postgres() {
    let app = spawn_app().await;
    let res = app.get("/health", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["postgres"], "up");
    assert!(body["checks"].get("redis").is_none(), "no Redis configured, none checked: {body}");
}

fn unreachable_database(s: &mut plauder::config::Settings) {
    // Nothing listens on port 1: connections are refused at once.
    s.database.url = "postgres://postgres@127.0.0.1:1/plauder".to_owned().into();
    s.database.pool_timeout_ms = 1000;
}

#[actix_web::test]
async fn without_postgres_ready_is_503_naming_it_and_requests_are_503_unavailable() {
    let app = spawn_app_with(unreachable_database).await;
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(body["checks"]["postgres"].as_str().unwrap().starts_with("down"), "{body}");

    let body = assert_error(app.login("ada", PASSWORD).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1") && !text.contains("postgres"), "leaks details: {text}");
    let res = app.register_raw("ada", "ada@example.org", PASSWORD).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.get(&format!("/api/v1/users/{}", ada.id), Some(&ada.access_token)).await;
    app.login("ada", "wrong password").await;
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("plauder_http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/api/v1/users/{id}""#), "{text}");
    assert!(text.contains(r#"route="/api/v1/auth/login",status="401""#), "{text}");
    assert!(text.contains("plauder_http_request_duration_seconds_bucket"), "{text}");
    assert!(!text.contains(&ada.id.to_string()), "raw paths must not become labels");
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app.get("/health", None).await;
    let b = app.get("/api/v1/nothing", None).await;
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!id_a.is_empty());
    assert_ne!(id_a, id_b);
}

/// The exposition's metric families: `# TYPE name kind` lines.
fn families(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect()
}

/// A sample's value by its exact series (`name{labels}`), if exposed.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[actix_web::test]
async fn every_metric_is_named_plauder_and_has_help_text() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    assert_eq!(ws.command("ping", serde_json::json!({})).await["ok"], true);

    let text = app.get("/metrics", None).await.text().await.unwrap();

    let names = families(&text);
    assert!(names.len() > 10, "{text}");
    for name in &names {
        assert!(name.starts_with("plauder_"), "{name} lacks the plauder_ prefix");
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no help text");
    }
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(line.starts_with("plauder_"), "{line}");
    }
    // Process figures, the pool, the queues, the build.
    for name in [
        "plauder_process_cpu_seconds_total",
        "plauder_process_resident_memory_bytes",
        "plauder_process_open_fds",
        "plauder_process_max_fds",
        "plauder_db_pool_size",
        "plauder_db_pool_max_size",
        "plauder_db_pool_available",
        "plauder_db_pool_waiting",
        "plauder_db_pool_wait_seconds",
        "plauder_db_send_queue_depth",
        "plauder_ws_outbox_queued_events",
        "plauder_build_info",
    ] {
        assert!(names.contains(&name), "{name} missing from\n{text}");
    }
    assert!(sample(&text, "plauder_process_open_fds").is_some_and(|n| n > 0.0), "{text}");
    // The send writers and the account reader hold connections of their own out of pool_max_size.
    let database = &app.state.settings.database;
    let pooled = database.pool_max_size - plauder::db::own_connections(database);
    assert_eq!(sample(&text, "plauder_db_pool_max_size"), Some(pooled as f64));
    let build = text.lines().find(|l| l.starts_with("plauder_build_info{")).expect("build info");
    assert!(build.contains(&format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"))), "{build}");
    let commit =
        std::env::var("PLAUDER_GIT_COMMIT").ok().filter(|c| !c.is_empty()).unwrap_or_else(|| "unknown".to_owned());
    assert!(build.contains(&format!(r#"commit="{commit}""#)), "{build}");
}

#[actix_web::test]
async fn websocket_commands_are_counted_and_timed_by_type() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    let sent = r#"plauder_ws_commands_total{command="typing",outcome="error"}"#;
    let pings = r#"plauder_ws_commands_total{command="ping",outcome="ok"}"#;
    let other = r#"plauder_ws_commands_total{command="other",outcome="error"}"#;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let before = |series| sample(&text, series).unwrap_or(0.0);
    let (pings_before, other_before, sent_before) = (before(pings), before(other), before(sent));

    assert_eq!(ws.command("ping", serde_json::json!({})).await["ok"], true);
    assert_eq!(ws.command("ping", serde_json::json!({})).await["ok"], true);
    // A room that does not exist: refused, counted under its type as an error.
    let typing = ws.command("typing", serde_json::json!({"room_id": Uuid::new_v4(), "active": true})).await;
    assert_eq!(typing["ok"], false, "{typing}");
    // A type the protocol does not have must not become a label of its own.
    assert_eq!(ws.command("no.such.command", serde_json::json!({})).await["ok"], false);

    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert_eq!(sample(&text, pings), Some(pings_before + 2.0), "{text}");
    assert_eq!(sample(&text, sent), Some(sent_before + 1.0), "{text}");
    assert_eq!(sample(&text, other), Some(other_before + 1.0), "{text}");
    assert!(!text.contains("no.such.command"), "{text}");
    let timed = sample(&text, r#"plauder_ws_command_duration_seconds_count{command="ping"}"#);
    assert!(timed.is_some_and(|n| n >= 2.0), "{text}");
    assert!(text.contains(r#"plauder_ws_command_duration_seconds_bucket{command="typing",le="#), "{text}");
}

#[actix_web::test]
async fn the_admin_listener_serves_metrics_and_the_main_port_does_not() {
    let mut settings = crate::helpers::test_settings().await;
    settings.server.admin_bind = "127.0.0.1:0".to_owned();
    let app = plauder::startup::Application::build(settings).await.expect("build the application");
    let main = format!("http://127.0.0.1:{}", app.port());
    let admin = format!("http://127.0.0.1:{}", app.admin_port().expect("an admin listener"));
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let res = client.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("# HELP plauder_build_info "));
    let ready = client.get(format!("{admin}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["checks"]["postgres"], "up");

    let res = client.get(format!("{main}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(client.get(format!("{main}/health/ready")).send().await.unwrap().status(), StatusCode::OK);
    // The API stays on the main port only.
    let api = client.get(format!("{admin}/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_bad_admin_bind_is_refused_by_name() {
    let mut settings = crate::helpers::test_settings().await;
    settings.server.admin_bind = "localhost".to_owned();
    let err = settings.validate().expect_err("not an address and port");
    assert!(err.contains("server.admin_bind"), "{err}");
}

/// std's `TcpListener::bind` fixed the queue at 128: a burst of connects larger than that (the
/// 256 handshakes the benchmark keeps in flight, clients reconnecting after a restart) had SYNs
/// dropped and sent again a second later. `ss` reports a listener's queue length as its Send-Q.
/// 100 is below every kernel's cap (`net.core.somaxconn`, at least 128) and differs from std's.
#[actix_web::test]
async fn both_listeners_queue_as_many_connections_as_configured() {
    let mut settings = crate::helpers::test_settings().await;
    settings.server.listen_backlog = 100;
    settings.server.admin_bind = "127.0.0.1:0".to_owned();
    let app = plauder::startup::Application::build(settings).await.expect("build the application");
    for port in [app.port(), app.admin_port().expect("an admin listener")] {
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &format!("src 127.0.0.1:{port}")])
            .output()
            .expect("ss (iproute2) runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let send_q = text.split_whitespace().nth(2);
        assert_eq!(send_q, Some("100"), "listener on {port}: {text}");
    }
}
