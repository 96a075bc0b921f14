//! The hostile client: every REST operation of the OpenAPI document the server serves (so a new
//! route is covered without touching this file) and every WebSocket command that
//! `protocol::commands::parse` knows (read from its source, likewise) get bad shapes, wrong
//! types, huge numbers, NUL and control characters, deep JSON, unknown ids and other users' ids.
//! Every answer must be a 4xx in the error model (`{"error": {"code", "message"}}` with the code
//! that belongs to the status) or a success where the input happened to be acceptable, a status
//! the OpenAPI document lists for the operation, never a 5xx; afterwards the server still answers a normal request. The counts are printed (run with
//! `--no-capture` to see them); docs/security.md quotes them.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::helpers::ws::WsClient;
use crate::helpers::{PASSWORD, TestApp, TestUser, open_session, spawn_app_with, user_with_role};

/// The error code that goes with each 4xx status (docs/protocol.md, "Errors").
fn code_of(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        416 => "range_not_satisfiable",
        422 => "validation_failed",
        429 => "rate_limited",
        _ => return None,
    })
}

/// What was tried and what came back.
#[derive(Default)]
struct Tally {
    tried: usize,
    by_status: BTreeMap<u16, usize>,
    /// 5xx answers, and 4xx answers outside the error model: each a failure.
    failures: Vec<String>,
    /// Statuses the OpenAPI document does not list for the operation: each a failure too.
    undocumented: BTreeMap<String, usize>,
    /// Operations that accepted some of the inputs (printed, to see what got through).
    accepted: BTreeMap<String, usize>,
}

impl Tally {
    fn server_errors(&self) -> usize {
        self.by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum()
    }
}

/// Strings no field should choke on.
fn hostile_strings() -> Vec<Value> {
    vec![
        json!(""),
        json!(" "),
        json!("a\u{0}b"),
        json!("\u{0}"),
        json!("\u{1}\u{7}\u{1b}[31m\u{7f}"),
        json!("\r\n\t"),
        json!("\u{202e}\u{200b}\u{feff}"),
        json!("'; DROP TABLE users; --"),
        json!("<script>alert(1)</script>"),
        json!("x".repeat(5_000)),
        json!("😀".repeat(2_000)),
    ]
}

/// Numbers and other types in the wrong place.
fn hostile_non_strings() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        // Past u64: serde_json keeps it as a float.
        serde_json::from_str::<Value>("18446744073709551616").expect("number"),
        json!(1e308),
        json!(-1e308),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"a": {"b": {"c": [1, 2, 3]}}}),
        nested(100),
    ]
}

/// `depth` arrays inside each other (within serde's recursion limit of 128).
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// The fixture: the acting user, another user whose things the actor must not reach, staff.
struct World {
    ada: TestUser,
    admin: TestUser,
    bob: TestUser,
    /// Ada's own room and message; Bob's private room and message (ada is not in it).
    ada_room: Uuid,
    ada_msg: Uuid,
    bob_room: Uuid,
    bob_msg: Uuid,
    /// A friend request from carl to bob (neither is ada), and one from bob to ada.
    others_request: Uuid,
    request_to_ada: Uuid,
    session: Uuid,
    /// The support visitor of that session: a guest, who may use almost nothing.
    guest: TestUser,
    contact: Uuid,
}

impl World {
    async fn build(app: &TestApp) -> World {
        let ada = app.register("ada").await;
        let bob = app.register("bob").await;
        let carl = app.register("carl").await;
        let admin = user_with_role(app, "root", "admin").await;
        let ada_room = app.group(&ada, "ada's", &[]).await;
        let ada_msg = crate::helpers::uuid_of(&app.send(&ada, ada_room, "mine").await["id"]);
        let bob_room = app.group(&bob, "bob's", &[&carl]).await;
        let bob_msg = crate::helpers::uuid_of(&app.send(&bob, bob_room, "not yours").await["id"]);
        let req = |from: &TestUser, to: &TestUser| {
            app.post("/api/v1/friends/requests", Some(&from.access_token), json!({"user_id": to.id}))
        };
        let others_request: Value = req(&carl, &bob).await.json().await.expect("request");
        let request_to_ada: Value = req(&bob, &ada).await.json().await.expect("request");
        let session = open_session(app, "visitor").await;
        let contact: Value = app
            .post("/api/v1/contact", None, json!({"name": "n", "email": "n@example.org", "message": "m"}))
            .await
            .json()
            .await
            .expect("contact");
        World {
            ada,
            admin,
            bob,
            ada_room,
            ada_msg,
            bob_room,
            bob_msg,
            others_request: crate::helpers::uuid_of(&others_request["id"]),
            request_to_ada: crate::helpers::uuid_of(&request_to_ada["id"]),
            session: session.session_id,
            guest: session.guest,
            contact: crate::helpers::uuid_of(&contact["id"]),
        }
    }

    /// Ids of things that exist but are not the actor's (and the actor's own, for the
    /// placeholders where another kind is expected).
    fn foreign_ids(&self) -> Vec<String> {
        [self.bob.id, self.bob_room, self.bob_msg, self.others_request, self.session, self.contact, self.admin.id]
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A value for a path placeholder that reaches the handler's logic.
    fn good_segment(&self, path: &str, name: &str) -> String {
        let p = path.trim_start_matches("/api/v1");
        let id = match name {
            "emoji" => return "%F0%9F%91%8D".to_owned(),
            "user_id" => self.bob.id,
            _ if p.starts_with("/rooms/") => self.ada_room,
            _ if p.starts_with("/messages/") => self.ada_msg,
            _ if p.starts_with("/friends/requests/") => self.request_to_ada,
            _ if p.starts_with("/admin/support/sessions/") => self.session,
            _ if p.starts_with("/admin/contacts/") => self.contact,
            _ if p.starts_with("/admin/messages/") => self.bob_msg,
            _ => self.bob.id,
        };
        id.to_string()
    }
}

/// Path segments no route should choke on (already percent-encoded where needed).
fn hostile_segments() -> Vec<String> {
    let mut out: Vec<String> = [
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "-1",
        "0",
        "99999999999999999999999999",
        "1e999",
        "%00",
        "a%00b",
        "%01%02%1B",
        "%C3%28",
        "%FF%FE",
        "..%2F..%2Fetc%2Fpasswd",
        "%20",
        "null",
        "%7B%7D",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    out.push(Uuid::new_v4().to_string());
    out.push("x".repeat(3_000));
    out
}

/// Query values no parameter should choke on (percent-encoded).
fn hostile_query_values() -> Vec<String> {
    [
        "",
        "-1",
        "0",
        "1.5",
        "99999999999999999999",
        "-99999999999999999999",
        "1e400",
        "abc",
        "%00",
        "a%00b",
        "%01%1F",
        "true",
        "%5B%5D",
        "not-a-uuid",
        "%FF",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([Uuid::new_v4().to_string(), "q".repeat(3_000)])
    .collect()
}

/// A schema with `$ref`s resolved against the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
        None => schema,
    }
}

/// A plausible value for a property, so that a body reaches the handler with one field hostile.
fn plausible(doc: &Value, schema: &Value, w: &World) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()).and_then(|a| a.first()) {
        return plausible(doc, first, w);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    match (kind.as_str(), schema["format"].as_str()) {
        (Some("string"), Some("uuid")) => json!(w.bob.id),
        (Some("string"), Some("email")) => json!("someone@example.org"),
        (Some("string"), _) => json!("hostile"),
        (Some("integer" | "number"), _) => json!(1),
        (Some("boolean"), _) => json!(true),
        (Some("array"), _) => json!([plausible(doc, &schema["items"], w)]),
        _ => json!({}),
    }
}

/// The bodies to try on an operation with a request body.
fn hostile_bodies(doc: &Value, op: &Value, w: &World) -> Vec<String> {
    let mut bodies: Vec<String> = [
        "",
        "{",
        "[",
        "\u{0}",
        "{\"a\":\u{0}}",
        "null",
        "[]",
        "123",
        "\"text\"",
        "true",
        "{}",
        "{\"unknown_field\": 1}",
        "{\"a\": \"\\ud800\"}",
        "1e999999",
        "{\"a\":1,\"a\":2}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Deeper than serde's recursion limit, within the body limit; and past the body limit.
    bodies.push(format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)));
    bodies.push(format!("{{\"a\":\"{}\"}}", "x".repeat(70_000)));
    let schema = resolve(doc, &op["requestBody"]["content"]["application/json"]["schema"]);
    let Some(props) = schema["properties"].as_object() else { return bodies };
    let base: Map<String, Value> = props.iter().map(|(k, s)| (k.clone(), plausible(doc, s, w))).collect();
    bodies.push(Value::Object(base.clone()).to_string());
    let ids: Vec<Value> = w.foreign_ids().into_iter().map(Value::String).collect();
    for field in props.keys() {
        let mut missing = base.clone();
        missing.remove(field);
        bodies.push(Value::Object(missing).to_string());
        for v in hostile_strings().into_iter().chain(hostile_non_strings()).chain(ids.clone()) {
            let mut body = base.clone();
            body.insert(field.clone(), v.clone());
            bodies.push(Value::Object(body).to_string());
            // Arrays of ids get the same values inside.
            if base[field].is_array() {
                let mut body = base.clone();
                body.insert(field.clone(), json!([v]));
                bodies.push(Value::Object(body).to_string());
            }
        }
    }
    bodies
}

/// Fills `{name}` placeholders: each with the value `pick` gives it.
fn fill(path: &str, pick: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&pick(&rest[start + 1..start + end]));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

async fn check(app: &TestApp, tally: &mut Tally, what: String, documented: &[u16], res: reqwest::Response) {
    tally.tried += 1;
    let status = res.status().as_u16();
    *tally.by_status.entry(status).or_default() += 1;
    if status >= 500 {
        let body = res.text().await.unwrap_or_default();
        tally.failures.push(format!("{status} for {what}: {}", body.chars().take(300).collect::<String>()));
        return;
    }
    if status < 300 {
        *tally.accepted.entry(format!("{} → {status}", what.split(": ").next().unwrap_or(&what))).or_default() += 1;
    }
    if !documented.is_empty() && !documented.contains(&status) {
        *tally.undocumented.entry(format!("{} → {status}", what.split(" [").next().unwrap_or(&what))).or_default() += 1;
    }
    // A page for people (the one-click unsubscribe link of a mail) answers its documented
    // errors as a page, not in the JSON error model; it still needs a body that says so.
    let is_page = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if status >= 400 && is_page && documented.contains(&status) {
        let body = res.text().await.unwrap_or_default();
        if !body.contains("<title>") {
            tally.failures.push(format!("{status} page without a title for {what}"));
        }
        return;
    }
    if status >= 400 {
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str();
        if code.is_none() || code != code_of(status) || !body["error"]["message"].is_string() {
            tally.failures.push(format!("{status} outside the error model for {what}: {body}"));
        }
    }
    let _ = app;
}

/// The acting token for an operation: in the first pass admin routes as the admin (to get past
/// the role check) and everything else as an ordinary user; in the second, everything as a guest.
fn token_for<'a>(path: &str, w: &'a World, as_guest: bool) -> &'a str {
    if as_guest {
        &w.guest.access_token
    } else if path.starts_with("/api/v1/admin") {
        &w.admin.access_token
    } else {
        &w.ada.access_token
    }
}

/// Logs the actors in again when a route revoked their tokens (logout-all, a password change),
/// so the routes after it are still reached as a signed-in user.
async fn revive(app: &TestApp, w: &mut World) {
    for (user, name) in [(&mut w.ada, "ada"), (&mut w.admin, "root")] {
        if app.me(&user.access_token).await.status() == StatusCode::UNAUTHORIZED {
            let res = app.login(name, PASSWORD).await;
            let body: Value = res.json().await.expect("login");
            user.access_token = body["access_token"].as_str().expect("token").to_owned();
        }
    }
}

fn hostile_settings(s: &mut plauder::config::Settings) {
    // The battery measures what the routes do with bad input, not the rate limits in front of
    // them (quotas.rs and auth.rs test those).
    let r = &mut s.rate_limit;
    r.auth_burst = 1_000_000;
    r.support_burst = 1_000_000;
    r.contact_burst = 1_000_000;
    r.password_change_burst = 1_000_000;
    r.message_burst = 1_000_000;
    r.command_burst = 1_000_000;
    r.abuse_close_after = 1_000_000;
    r.login_attempts_before_backoff = 1_000_000;
}

#[actix_web::test]
async fn no_rest_route_answers_hostile_input_with_a_server_error() {
    let app = spawn_app_with(hostile_settings).await;
    let mut w = World::build(&app).await;
    let doc: Value = app.get("/api/v1/openapi.json", None).await.json().await.expect("openapi");
    let paths = doc["paths"].as_object().expect("paths");
    let mut tally = Tally::default();
    let mut operations = 0;
    for (as_guest, (path, item)) in [false, true].into_iter().flat_map(|g| paths.iter().map(move |p| (g, p))) {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !op.is_object() || op.get("responses").is_none() {
                continue;
            }
            operations += usize::from(!as_guest);
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
                .unwrap_or_default();
            let has_body = op.get("requestBody").is_some();
            let empty_body = || if has_body { Some("{}".to_owned()) } else { None };
            let mut requests: Vec<(String, Option<String>)> = Vec::new();
            // Path placeholders: hostile values, and ids of things that exist but are not ours.
            if path.contains('{') {
                for seg in hostile_segments().into_iter().chain(w.foreign_ids()) {
                    requests.push((fill(path, |_| seg.clone()), empty_body()));
                }
            }
            let good_path = fill(path, |name| w.good_segment(path, name));
            // Query parameters, one hostile at a time.
            for param in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
                let name = param["name"].as_str().expect("name");
                for v in hostile_query_values() {
                    requests.push((format!("{good_path}?{name}={v}"), empty_body()));
                }
                requests.push((format!("{good_path}?{name}=1&{name}=2"), empty_body()));
            }
            if has_body {
                for body in hostile_bodies(&doc, op, &w) {
                    requests.push((good_path.clone(), Some(body)));
                }
            }
            if requests.is_empty() {
                requests.push((good_path.clone(), None));
            }
            for (target, body) in requests {
                let token = token_for(path, &w, as_guest).to_owned();
                let res = match &body {
                    Some(body) => app.raw(method.clone(), &target, Some(&token), body.clone()).await,
                    None => app.request(method.clone(), &target, Some(&token), None).await,
                };
                let shown_body = body.as_deref().map(|b| b.chars().take(120).collect::<String>()).unwrap_or_default();
                let who = match (as_guest, path.starts_with("/api/v1/admin")) {
                    (true, _) => "as a guest",
                    (false, true) => "as the admin",
                    (false, false) => "as a user",
                };
                let what =
                    format!("{method} {path} [{who}: {} {shown_body}]", target.chars().take(160).collect::<String>());
                check(&app, &mut tally, what, &documented, res).await;
            }
            revive(&app, &mut w).await;
        }
    }
    println!(
        "hostile REST: {operations} operations, {} requests (as a user or admin, then as a guest), statuses {:?}, 5xx {}",
        tally.tried,
        tally.by_status,
        tally.server_errors()
    );
    for (what, n) in &tally.accepted {
        println!("  accepted: {what} ({n}×)");
    }
    for (what, n) in &tally.undocumented {
        println!("  status not in the OpenAPI responses: {what} ({n}×)");
    }
    assert!(operations >= 40, "the document lists the routes: {operations}");
    assert!(tally.failures.is_empty(), "{} failures:\n{}", tally.failures.len(), tally.failures.join("\n"));
    assert!(tally.undocumented.is_empty(), "statuses the OpenAPI document does not list: {:?}", tally.undocumented);
    assert_eq!(tally.server_errors(), 0);
    still_healthy(&app, &w).await;
}

/// A normal request and a normal WebSocket command still work.
async fn still_healthy(app: &TestApp, w: &World) {
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/health/ready", None).await.status(), StatusCode::OK);
    let fresh = app.register("after").await;
    let room = app.group(&fresh, "after", &[]).await;
    app.send(&fresh, room, "still here").await;
    let mut ws = app.ws(&fresh.access_token).await;
    let r = ws.command("message.send", json!({"room_id": room, "body": "and live"})).await;
    assert_eq!(r["ok"], true, "{r}");
    let _ = w;
}

/// The command names `protocol::commands::parse` matches on, from its source.
fn command_names() -> Vec<String> {
    let source = include_str!("../../src/protocol/commands.rs");
    let parse = source.split("pub fn parse(").nth(1).expect("parse in commands.rs");
    parse
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('"')?;
            let (name, after) = rest.split_once('"')?;
            after.trim_start().starts_with("=>").then(|| name.to_owned())
        })
        .collect()
}

/// The fields a command's data takes, as its own error names them: data with an unknown field
/// is refused with "unknown field `x`, expected one of `a`, `b`" (serde's words).
async fn fields_of(ws: &mut WsClient, command: &str) -> Vec<String> {
    let r = ws.command(command, json!({"zz_probe": 1})).await;
    let message = r["error"]["message"].as_str().unwrap_or_default().to_owned();
    let Some(expected) = message.split("expected").nth(1) else { return Vec::new() };
    expected.split('`').skip(1).step_by(2).map(ToOwned::to_owned).collect()
}

/// A plausible value for a command field, by name.
fn plausible_field(name: &str, w: &World) -> Value {
    match name {
        "room_id" => json!(w.ada_room),
        "message_id" | "reply_to" => json!(w.ada_msg),
        "body" => json!("hello"),
        "emoji" => json!("👍"),
        "active" => json!(true),
        "seq" | "since_seq" => json!(0),
        "limit" => json!(10),
        "status" => json!("away"),
        "user_ids" => json!([w.bob.id]),
        "token" => json!(w.ada.access_token),
        "client_msg_id" => json!(Uuid::new_v4().to_string()),
        _ => json!("x"),
    }
}

/// Reads frames until the reply to `id`; returns it and any `error` events before it.
async fn reply_and_errors(ws: &mut WsClient, id: u64) -> (Value, Vec<Value>) {
    let mut errors = Vec::new();
    loop {
        let frame = ws.next_frame().await;
        if frame["type"] == "reply" && frame["id"] == id {
            return (frame, errors);
        }
        assert_ne!(frame["type"], "closed", "the socket closed: {frame}");
        if frame["type"] == "error" {
            errors.push(frame);
        }
    }
}

/// Error codes a command may answer with; `internal` and `unavailable` are the 5xx of the
/// socket.
const CLIENT_CODES: &[&str] = &[
    "bad_request",
    "validation_failed",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "rate_limited",
];

fn tally_reply(tally: &mut Tally, what: &str, reply: &Value) {
    tally.tried += 1;
    let key = if reply["ok"] == true {
        200
    } else {
        match reply["error"]["code"].as_str() {
            Some(code) if CLIENT_CODES.contains(&code) => 400,
            _ => 500,
        }
    };
    *tally.by_status.entry(key).or_default() += 1;
    if key == 500 {
        tally.failures.push(format!("{what}: {reply}"));
    }
}

#[actix_web::test]
async fn no_websocket_command_answers_hostile_input_with_a_server_error() {
    let app = spawn_app_with(hostile_settings).await;
    let w = World::build(&app).await;
    let mut ws = app.ws(&w.ada.access_token).await;
    let names = command_names();
    assert!(names.len() >= 12 && names.contains(&"message.send".to_owned()), "{names:?}");
    let mut tally = Tally::default();
    let mut next_id: u64 = 1_000_000;

    // Whole frames that are not commands: each answered (an error event, or pong), none closing
    // the socket.
    let mut frames: Vec<String> = [
        "",
        "{",
        "[]",
        "null",
        "1",
        "\"x\"",
        "{}",
        "{\"type\":1}",
        "{\"type\":null}",
        "{\"type\":\"nope\"}",
        "{\"type\":\"ping\",\"id\":[1]}",
        "{\"type\":\"ping\",\"id\":1.5}",
        "{\"type\":\"ping\",\"id\":{}}",
        "{\"type\":\"message.send\",\"data\":\"\\ud800\"}",
        "{\"type\":\"a\u{0}b\"}",
        "{\"type\":\"\\u0000\"}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    frames.push(format!("{{\"type\":\"ping\",\"data\":{}{}}}", "[".repeat(20_000), "]".repeat(20_000)));
    frames.push(format!("{{\"type\":\"{}\"}}", "t".repeat(30_000)));
    for frame in frames {
        ws.send_text(frame.clone()).await;
        next_id += 1;
        ws.send_json(json!({"id": next_id, "type": "ping"})).await;
        let (reply, errors) = reply_and_errors(&mut ws, next_id).await;
        for e in &errors {
            tally_reply(
                &mut tally,
                &format!("frame {}", frame.chars().take(80).collect::<String>()),
                &json!({"ok": false, "error": e["data"]["error"]}),
            );
        }
        assert_eq!(reply["ok"], true, "the socket still answers after {frame:.80}");
    }

    for name in &names {
        let fields = fields_of(&mut ws, name).await;
        let base: Map<String, Value> = fields.iter().map(|f| (f.clone(), plausible_field(f, &w))).collect();
        let mut datas: Vec<Option<Value>> = vec![
            None,
            Some(json!(null)),
            Some(json!([])),
            Some(json!(1)),
            Some(json!("x")),
            Some(json!({})),
            Some(nested(100)),
        ];
        datas.push(Some(json!({"unknown_field": 1})));
        datas.push(Some(Value::Object(base.clone())));
        let foreign =
            [json!(w.bob_room), json!(w.bob_msg), json!(w.bob.id), json!(Uuid::new_v4()), json!(w.bob.access_token)];
        for field in &fields {
            let mut missing = base.clone();
            missing.remove(field);
            datas.push(Some(Value::Object(missing)));
            for v in hostile_strings().into_iter().chain(hostile_non_strings()).chain(foreign.clone()) {
                let mut data = base.clone();
                data.insert(field.clone(), v.clone());
                datas.push(Some(Value::Object(data)));
                if base[field].is_array() {
                    let mut data = base.clone();
                    data.insert(field.clone(), json!([v, v]));
                    datas.push(Some(Value::Object(data)));
                }
            }
        }
        for data in datas {
            next_id += 1;
            let mut frame = json!({"id": next_id, "type": name});
            if let Some(data) = &data {
                frame["data"] = data.clone();
            }
            ws.send_json(frame.clone()).await;
            let (reply, errors) = reply_and_errors(&mut ws, next_id).await;
            let what = format!("{name} {}", frame.to_string().chars().take(200).collect::<String>());
            tally_reply(&mut tally, &what, &reply);
            assert!(errors.is_empty(), "an error event beside the reply for {what}: {errors:?}");
        }
        // auth.refresh with another user's token must not have changed whose socket this is.
        let r = ws.command("presence.set", json!({"status": "online"})).await;
        assert_eq!(r["ok"], true, "after {name}: {r}");
    }
    println!(
        "hostile WebSocket: {} commands, {} frames, answers (200 ok, 400 client error, 500 server error) {:?}",
        names.len(),
        tally.tried,
        tally.by_status
    );
    assert!(tally.failures.is_empty(), "{} failures:\n{}", tally.failures.len(), tally.failures.join("\n"));
    assert_eq!(tally.server_errors(), 0);
    still_healthy(&app, &w).await;
}
