//! Mentions, per-room notification settings and Web Push, against a local HTTP server that plays
//! the push service: it records each POST, and the tests check the VAPID token (RFC 8292) and
//! decrypt the body with the subscription's keys (RFC 8291, the receiver side written here on the
//! same primitives, and checked against the RFC's own example).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use reqwest::{Method, StatusCode};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::helpers::wait::{check, eventually, holds_throughout};
use crate::helpers::{PASSWORD, TestApp, TestUser, assert_error, open_session, spawn_app, user_with_role};

/// What the stand-in received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A push service on 127.0.0.1: records every POST and answers with `status`.
struct PushService {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl PushService {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::on(listener)
    }

    fn on(listener: TcpListener) -> Self {
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(201));
        let (r, s) = (received.clone(), status.clone());
        let server = HttpServer::new(move || {
            let (r, s) = (r.clone(), s.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    r.lock().unwrap().push(Received { path: req.path().to_owned(), headers, body: body.to_vec() });
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap())
                        .finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        Self { base, received, status }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for `n` pushes in all and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} pushes received"), async || check(self.received(), |r| r.len() >= n)).await
    }
}

/// A browser's side of a subscription: its key pair and auth secret.
struct Device {
    secret: SecretKey,
    public: Vec<u8>,
    auth: [u8; 16],
    endpoint: String,
}

impl Device {
    fn new(endpoint: String) -> Self {
        let secret = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("random");
            if let Ok(key) = SecretKey::from_slice(&bytes) {
                break key;
            }
        };
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let mut auth = [0u8; 16];
        getrandom::fill(&mut auth).expect("random");
        Self { secret, public, auth, endpoint }
    }

    /// What `PushSubscription.toJSON()` gives.
    fn subscription(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(&self.public), "auth": URL_SAFE_NO_PAD.encode(self.auth)},
        })
    }

    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        decrypt(body, &self.secret, &self.public, &self.auth)
    }
}

/// The receiving side of RFC 8291 (and RFC 8188's aes128gcm, one record).
fn decrypt(body: &[u8], ua_secret: &SecretKey, ua_public: &[u8], auth: &[u8]) -> Vec<u8> {
    assert!(body.len() > 21, "body too short for the header");
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
    assert!(rs >= 18, "record size {rs}");
    let idlen = body[20] as usize;
    assert_eq!(idlen, 65, "keyid is the sender's 65-byte public key");
    let as_public = &body[21..21 + idlen];
    let mut record = body[21 + idlen..].to_vec();
    assert!(record.len() <= rs as usize, "one record");
    let as_key = PublicKey::from_sec1_bytes(as_public).expect("sender key on the curve");
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_key.as_affine());
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(ua_public);
    info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes()).expand(&info, &mut ikm).unwrap();
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).unwrap();
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).unwrap());
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut record)
        .expect("the body decrypts with the subscription's keys")
        .to_vec();
    let end = plain.iter().rposition(|b| *b != 0).expect("a delimiter");
    assert_eq!(plain[end], 2, "last-record delimiter");
    plain[..end].to_vec()
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

#[test]
fn the_receiver_side_opens_the_rfc_8291_example() {
    let ua_secret = SecretKey::from_slice(&b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
    let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
    let body =
        b64("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8w\
         EqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
    let plain = decrypt(&body, &ua_secret, &ua_public, &b64("BTBZMqHH6r4Tts7J_aSIgg"));
    assert_eq!(plain, b"When I grow up, I want to be a watermelon");
}

/// Checks the push's headers and VAPID token, decrypts it, and returns its JSON.
async fn open(app: &TestApp, service: &PushService, device: &Device, push: &Received) -> Value {
    let vapid: Value = app.get("/api/v1/push/vapid-public-key", None).await.json().await.unwrap();
    let public = vapid["public_key"].as_str().unwrap();
    assert_eq!(b64(public).len(), 65);
    assert_eq!(push.headers["content-encoding"], "aes128gcm");
    assert_eq!(push.headers["ttl"], "86400");
    assert!(["normal", "high"].contains(&push.headers["urgency"].as_str()));
    let auth = push.headers["authorization"].as_str();
    let (token, k) = auth.strip_prefix("vapid t=").and_then(|r| r.split_once(", k=")).expect("vapid t=…, k=…");
    assert_eq!(k, public);
    let key = jsonwebtoken::DecodingKey::from_ec_der(&b64(k));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[service.base.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid ES256 VAPID token").claims;
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "exp within 24 hours: {claims}");
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
    assert_eq!(push.path, device.endpoint.trim_start_matches(&service.base));
    let plain = device.decrypt(&push.body);
    assert!(plain.len() < 3000);
    serde_json::from_slice(&plain).expect("JSON payload")
}

async fn subscribe(app: &TestApp, user: &TestUser, device: &Device) {
    let res = app.post("/api/v1/push/subscriptions", Some(&user.access_token), device.subscription()).await;
    assert_eq!(res.status(), StatusCode::CREATED, "subscribe: {}", res.text().await.unwrap_or_default());
}

/// Ada and Bob, registered, in a direct room, Bob's device subscribed at the stand-in push
/// service under `/push/<path>`.
struct DirectPair {
    app: TestApp,
    service: PushService,
    ada: TestUser,
    bob: TestUser,
    room: Uuid,
    device: Device,
}

async fn bob_subscribed_in_a_direct_room(path: &str) -> DirectPair {
    let app = spawn_app().await;
    let service = PushService::start().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.direct(&ada, &bob).await;
    let device = Device::new(format!("{}/push/{path}", service.base));
    subscribe(&app, &bob, &device).await;
    DirectPair { app, service, ada, bob, room, device }
}

/// Waits until the queueing statements of `n` committed sends have run: what a send pushes is
/// decided then, so a setting changed before that could still change it.
async fn settled(app: &TestApp, n: usize) {
    eventually(&format!("{n} sends' pushes queued"), async || {
        check(app.metric("plauder_push_enqueue_runs_total").await, |v| *v >= n as f64)
    })
    .await;
}

async fn queued(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM push_queue").await
}

async fn settings(app: &TestApp, user: &TestUser, room: Uuid, body: Value) -> reqwest::Response {
    app.request(Method::PUT, &format!("/api/v1/rooms/{room}/notifications"), Some(&user.access_token), Some(body)).await
}

#[actix_web::test]
async fn an_offline_member_gets_an_encrypted_signed_push_of_a_direct_message() {
    let DirectPair { app, service, ada, bob, room, device } = bob_subscribed_in_a_direct_room("bob-1").await;
    let listed: Value = app.get("/api/v1/push/subscriptions", Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(listed["subscriptions"][0]["endpoint"], device.endpoint.as_str());

    let long = "x".repeat(300);
    let sent = app.send(&ada, room, &format!("hello bob {long}")).await;
    let pushes = service.wait_for(1).await;
    let payload = open(&app, &service, &device, &pushes[0]).await;
    let ada_name = app.me(&ada.access_token).await.json::<Value>().await.unwrap()["display_name"].clone();
    let body: String = format!("hello bob {long}").chars().take(140).collect();
    assert_eq!(
        payload,
        json!({
            "kind": "message",
            "room_id": room,
            "room_name": ada_name,
            "sender": ada_name,
            "body": body,
            "message_id": sent["id"],
            "mention": false,
            "url": format!("/#room={room}"),
        })
    );
    assert_eq!(pushes[0].headers["urgency"], "high");
    eventually("the delivered push leaves the queue", async || check(queued(&app).await, |n| *n == 0)).await;
    // The sender hears nothing of their own message.
    assert_eq!(service.received().len(), 1);
}

#[actix_web::test]
async fn a_subscription_the_push_service_says_is_gone_is_deleted() {
    let app = spawn_app().await;
    let service = PushService::start().await;
    service.status.store(410, Ordering::SeqCst);
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.direct(&ada, &bob).await;
    subscribe(&app, &bob, &Device::new(format!("{}/push/gone", service.base))).await;
    app.send(&ada, room, "are you there?").await;
    service.wait_for(1).await;
    eventually("the subscription is deleted", async || {
        check(app.count("SELECT count(*) AS n FROM push_subscriptions").await, |n| *n == 0)
    })
    .await;
    let listed: Value = app.get("/api/v1/push/subscriptions", Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(listed["subscriptions"], json!([]));
    assert_eq!(queued(&app).await, 0);
}

#[actix_web::test]
async fn pushes_wait_while_the_push_service_is_down_and_go_out_when_it_is_back() {
    let app = spawn_app().await;
    // A port with nothing listening: the push service is down.
    let port = crate::helpers::smtp::free_port();
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.direct(&ada, &bob).await;
    let device = Device::new(format!("http://127.0.0.1:{port}/push/bob"));
    subscribe(&app, &bob, &device).await;
    app.send(&ada, room, "first").await;
    app.send(&ada, room, "second").await;
    eventually("both pushes failed at least once and wait for a retry", async || {
        check(
            app.count("SELECT count(*) AS n FROM push_queue WHERE attempts >= 1 AND last_error IS NOT NULL").await,
            |n| *n == 2,
        )
    })
    .await;

    let service = PushService::on(TcpListener::bind(("127.0.0.1", port)).expect("the same port again"));
    let pushes = service.wait_for(2).await;
    let mut bodies = Vec::new();
    for push in &pushes {
        bodies.push(open(&app, &service, &device, push).await["body"].as_str().unwrap().to_owned());
    }
    bodies.sort();
    assert_eq!(bodies, ["first", "second"]);
    eventually("the queue is empty", async || check(queued(&app).await, |n| *n == 0)).await;
}

/// A browser profile that signs in to another account and subscribes again keeps its endpoint:
/// what was queued for the previous account must not reach the new one's screen.
#[actix_web::test]
async fn an_endpoint_taken_over_by_another_account_gets_none_of_the_previous_owners_pushes() {
    let app = spawn_app().await;
    let port = crate::helpers::smtp::free_port();
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let device = Device::new(format!("http://127.0.0.1:{port}/push/shared"));
    subscribe(&app, &bob, &device).await;
    let bobs = app.direct(&ada, &bob).await;
    app.send(&ada, bobs, "for bob only").await;
    eventually("bob's push failed once and waits for a retry", async || {
        check(app.count("SELECT count(*) AS n FROM push_queue WHERE attempts >= 1").await, |n| *n == 1)
    })
    .await;

    subscribe(&app, &cat, &device).await;
    assert_eq!(queued(&app).await, 0, "bob's queued push went with his ownership");
    // One queued for bob as the endpoint changed hands (a send whose statement read the
    // subscription before the change) is dropped by the worker, not delivered.
    app.sql(&format!(
        "INSERT INTO push_queue (subscription_id, user_id, kind, urgency, payload) \
         SELECT id, '{}', 'message', 'normal', '{{\"body\": \"stray for bob\"}}' FROM push_subscriptions",
        bob.id
    ))
    .await;
    let service = PushService::on(TcpListener::bind(("127.0.0.1", port)).expect("the same port again"));
    let cats = app.direct(&ada, &cat).await;
    app.send(&ada, cats, "for cat").await;
    let pushes = service.wait_for(1).await;
    assert_eq!(open(&app, &service, &device, &pushes[0]).await["body"], "for cat");
    eventually("the queue is empty", async || check(queued(&app).await, |n| *n == 0)).await;
    assert_eq!(service.received().len(), 1);
}

/// A send's pushes follow its commit even when the sender's socket closed before it (a tab
/// closed, a phone off the network right after sending): the message is committed and delivered
/// live all the same, so the offline recipient's push must not go with the sender's connection.
#[actix_web::test]
async fn a_message_whose_senders_socket_closed_before_its_commit_is_still_pushed() {
    use diesel_async::SimpleAsyncConnection;

    let DirectPair { app, service, ada, room, device, .. } = bob_subscribed_in_a_direct_room("bob").await;
    let mut ws = app.ws(&ada.access_token).await;
    // A direct room's send takes the checked path, which waits here for the room's row.
    let mut held = app.hold_room_row(room).await;
    let data = json!({ "room_id": room, "body": "sent, then gone" });
    ws.send_json(json!({ "id": 1, "type": "message.send", "data": data })).await;
    app.wait_for_lock_waits(1).await;
    assert_eq!(ws.close_and_see_the_server_hang_up(1000).await, (1000, true));
    held.batch_execute("COMMIT").await.expect("release the room");

    let pushes = service.wait_for(1).await;
    assert_eq!(open(&app, &service, &device, &pushes[0]).await["body"], "sent, then gone");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}'")).await, 1);
}

#[actix_web::test]
async fn a_user_with_an_open_socket_gets_no_push_until_they_leave() {
    let DirectPair { app, service, ada, bob, room, device } = bob_subscribed_in_a_direct_room("bob").await;
    let mut ws = app.ws(&bob.access_token).await;
    app.send(&ada, room, "you are online").await;
    ws.event("message.new").await;
    eventually("the push was dropped as its recipient is connected", async || {
        check(app.metric("plauder_push_skipped_connected_total").await, |n| *n >= 1.0)
    })
    .await;
    assert_eq!(queued(&app).await, 0);
    assert!(service.received().is_empty(), "no push for a connected user");

    ws.close().await;
    // Past the offline grace (300 ms in the tests), bob is offline everywhere.
    eventually("bob is offline", async || {
        check(app.state.notify.connected_users(vec![plauder::ids::UserId(bob.id)]).await, |c| c.is_empty())
    })
    .await;
    app.send(&ada, room, "now you are away").await;
    let pushes = service.wait_for(1).await;
    assert_eq!(open(&app, &service, &device, &pushes[0]).await["body"], "now you are away");
}

#[actix_web::test]
async fn levels_mutes_mentions_and_blocks_decide_what_is_pushed() {
    let app = spawn_app().await;
    let service = PushService::start().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room = app.group(&ada, "team", &[&bob, &carol]).await;
    let device = Device::new(format!("{}/push/bob", service.base));
    subscribe(&app, &bob, &device).await;
    let bodies = async || {
        let mut out = Vec::new();
        for push in service.received() {
            let payload = open(&app, &service, &device, &push).await;
            out.push((payload["body"].as_str().unwrap().to_owned(), payload["mention"].as_bool().unwrap()));
        }
        out
    };

    // A group room's default is `mentions`.
    app.send(&ada, room, "hello everyone").await;
    app.send(&ada, room, "hi @Bob!").await;
    settled(&app, 2).await;
    let first = service.wait_for(1).await;
    assert_eq!(first[0].headers["urgency"], "high");
    assert_eq!(open(&app, &service, &device, &first[0]).await["room_name"], "team");

    // `none`: not even a mention.
    assert_eq!(settings(&app, &bob, room, json!({"level": "none"})).await.status(), StatusCode::OK);
    app.send(&ada, room, "@bob are you there").await;
    settled(&app, 3).await;
    // `all`, but muted for an hour.
    let hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(settings(&app, &bob, room, json!({"level": "all", "muted_until": hour})).await.status(), StatusCode::OK);
    app.send(&ada, room, "muted @bob").await;
    settled(&app, 4).await;
    // `all`, not muted: every message. A member bob blocked gets nothing through.
    assert_eq!(settings(&app, &bob, room, json!({"level": "all", "muted_until": null})).await.status(), StatusCode::OK);
    let res = app.post("/api/v1/blocks", Some(&bob.access_token), json!({"user_id": carol.id})).await;
    assert!(res.status().is_success());
    app.send(&carol, room, "@bob from carol").await;
    app.send(&ada, room, "plain news").await;
    settled(&app, 6).await;
    service.wait_for(2).await;
    eventually("the queue is empty", async || check(queued(&app).await, |n| *n == 0)).await;
    holds_throughout("no further push", Duration::from_millis(300), async || {
        check(service.received().len(), |n| *n == 2).map(|_| ())
    })
    .await;
    assert_eq!(bodies().await, [("hi @Bob!".to_owned(), true), ("plain news".to_owned(), false)]);

    // Back to the default: mentions only again.
    let res = app.delete(&format!("/api/v1/rooms/{room}/notifications"), Some(&bob.access_token)).await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"room_id": room, "level": "mentions", "muted_until": null, "is_default": true})
    );
    app.send(&ada, room, "unheard").await;
    app.send(&ada, room, "heard, @bob").await;
    service.wait_for(3).await;
    assert_eq!(bodies().await[2], ("heard, @bob".to_owned(), true));
}

#[actix_web::test]
async fn notification_settings_are_for_members_and_checked() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let group = app.group(&ada, "team", &[&bob]).await;
    let dm = app.direct(&ada, &bob).await;
    let path = |room: Uuid| format!("/api/v1/rooms/{room}/notifications");

    let got: Value = app.get(&path(group), Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(got, json!({"room_id": group, "level": "mentions", "muted_until": null, "is_default": true}));
    let got: Value = app.get(&path(dm), Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(got["level"], "all");

    for body in [json!({"level": "loud"}), json!({"level": "ALL"})] {
        assert_error(settings(&app, &bob, group, body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    }
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    for muted in [json!(past), json!("tomorrow"), json!("2030-13-01T00:00:00Z")] {
        let res = settings(&app, &bob, group, json!({"level": "all", "muted_until": muted})).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    assert_error(settings(&app, &bob, group, json!({})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    // A mute that has run out reads as none.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(500)).to_rfc3339();
    let res = settings(&app, &bob, dm, json!({"level": "all", "muted_until": soon})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.unwrap()["muted_until"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let got: Value = app.get(&path(dm), Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(got["muted_until"], Value::Null, "{got}");
    let res = app.request(Method::DELETE, &path(dm), Some(&bob.access_token), None).await;
    assert!(res.status().is_success(), "back to the default: {}", res.status());

    // Not a member, or no such room: 404 for every method.
    for room in [group, Uuid::new_v4()] {
        assert_error(app.get(&path(room), Some(&eve.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
        let res = settings(&app, &eve, room, json!({"level": "all"})).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_error(app.delete(&path(room), Some(&eve.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(app.get(&path(group), None).await.status(), StatusCode::UNAUTHORIZED);

    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let res = settings(&app, &bob, group, json!({"level": "none", "muted_until": until})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Value = app.get(&path(group), Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(got["level"], "none");
    assert!(got["muted_until"].is_string());
    assert_eq!(got["is_default"], false);
    // Another member's setting is their own.
    let theirs: Value = app.get(&path(group), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(theirs["is_default"], true);
    assert_eq!(app.count("SELECT count(*) AS n FROM room_notification_settings").await, 1);
}

/// A device subscribed with an API token while the token is being revoked (an unconfirmed
/// account's reset revokes its API tokens and deletes what they subscribed), or while the account
/// is being banned (which deletes them too), is refused rather than left behind: the subscription
/// used to be stored after the clean-up had run, and pushes went on to whoever held the token.
/// Here the reset's and the ban's writes are held open until the subscription waits for the
/// token's row, and for the account's.
#[actix_web::test]
async fn a_device_subscribed_with_a_token_being_revoked_or_an_account_being_banned_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let subscribe_with = |token: &str| {
        let device = Device::new(format!("https://push.example.org/{}", Uuid::new_v4()));
        app.post("/api/v1/push/subscriptions", Some(token), device.subscription())
    };
    let reset = format!(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = '{0}' AND revoked_at IS NULL; \
         DELETE FROM push_subscriptions WHERE user_id = '{0}'",
        ada.id
    );
    let ban = format!(
        "UPDATE users SET banned_at = now(), token_version = token_version + 1 WHERE id = '{0}'; \
         DELETE FROM push_subscriptions WHERE user_id = '{0}'",
        ada.id
    );
    for (writes, status, code) in
        [(reset, StatusCode::UNAUTHORIZED, "unauthorized"), (ban, StatusCode::FORBIDDEN, "forbidden")]
    {
        // Used once first: its use is then not recorded again for a minute, so the request's
        // only wait is the subscription's own.
        let (token, _) = crate::api_tokens::token(&app, &ada, &["read", "write"]).await;
        assert_eq!(app.me(&token).await.status(), StatusCode::OK);
        let held = app.hold(&writes).await;
        let subscribed = app.while_held(held, 1, "COMMIT", subscribe_with(&token)).await;
        assert_error(subscribed, status, code).await;
        assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions").await, 0, "{writes}");
    }
}

#[actix_web::test]
async fn bad_subscriptions_are_refused_with_422() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let good = Device::new("http://127.0.0.1:9/push/x".to_owned());
    let mut off_curve = good.public.clone();
    off_curve[64] ^= 1;
    let mut compressed = good.public.clone();
    compressed[0] = 2;
    let key = URL_SAFE_NO_PAD.encode(&good.public);
    let auth = URL_SAFE_NO_PAD.encode(good.auth);
    let with = |endpoint: &str, p256dh: &str, auth: &str| json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}});
    let bad = [
        with("http://push.example.org/x", &key, &auth),
        with("ftp://127.0.0.1/x", &key, &auth),
        with("not a url", &key, &auth),
        with("https://10.1.2.3/x", &key, &auth),
        with("https://169.254.169.254/latest", &key, &auth),
        with("https://user:pw@push.example.org/x", &key, &auth),
        with(&format!("https://push.example.org/{}", "a".repeat(2100)), &key, &auth),
        with("https://push.example.org/x", &key[..80], &auth),
        with("https://push.example.org/x", &URL_SAFE_NO_PAD.encode(&off_curve), &auth),
        with("https://push.example.org/x", &URL_SAFE_NO_PAD.encode(&compressed), &auth),
        with("https://push.example.org/x", "!!not base64!!", &auth),
        with("https://push.example.org/x", &key, &URL_SAFE_NO_PAD.encode([1u8; 15])),
        json!({"endpoint": "https://push.example.org/x"}),
        json!({"endpoint": "https://push.example.org/x", "keys": {"p256dh": key, "auth": auth}, "extra": 1}),
    ];
    for body in bad {
        let res = app.post("/api/v1/push/subscriptions", Some(&ada.access_token), body.clone()).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions").await, 0);
    // A public https endpoint and the loopback stand-in are fine.
    let res = app
        .post("/api/v1/push/subscriptions", Some(&ada.access_token), with("https://push.example.org/x", &key, &auth))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    subscribe(&app, &ada, &good).await;
    assert_eq!(
        app.post("/api/v1/push/subscriptions", None, good.subscription()).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let del = |endpoint: &str| {
        app.request(
            Method::DELETE,
            "/api/v1/push/subscriptions",
            Some(&ada.access_token),
            Some(json!({"endpoint": endpoint})),
        )
    };
    assert_error(del("https://push.example.org/nope").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(del("https://push.example.org/x").await.status(), StatusCode::NO_CONTENT);
    let listed: Value = app.get("/api/v1/push/subscriptions", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn logging_out_deletes_the_sessions_subscriptions() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    subscribe(&app, &ada, &Device::new("http://127.0.0.1:9/push/a".to_owned())).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions WHERE session_id IS NOT NULL").await, 1);
    let res =
        app.post("/api/v1/auth/logout", Some(&ada.access_token), json!({"refresh_token": ada.refresh_token})).await;
    assert!(res.status().is_success(), "logout: {}", res.status());
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions").await, 0);
}

/// An access token works for minutes after its session ended, but it cannot tie a device to
/// pushes any more: no later sign-out would end them. A replayed refresh token ends its session's
/// subscriptions as a logout does.
#[actix_web::test]
async fn a_session_that_has_ended_cannot_subscribe_and_a_replayed_refresh_ends_its_subscriptions() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let res =
        app.post("/api/v1/auth/logout", Some(&ada.access_token), json!({"refresh_token": ada.refresh_token})).await;
    assert!(res.status().is_success(), "logout: {}", res.status());
    let device = Device::new("http://127.0.0.1:9/push/late".to_owned());
    let res = app.post("/api/v1/push/subscriptions", Some(&ada.access_token), device.subscription()).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions").await, 0);
    // The token still reads: only tying the ended session to a device is refused.
    assert_eq!(app.get("/api/v1/push/subscriptions", Some(&ada.access_token)).await.status(), StatusCode::OK);

    // A session ended from another device (`DELETE /users/me/sessions/{id}`).
    let bob = app.register("bob").await;
    let login: Value = app.login("bob", PASSWORD).await.json().await.unwrap();
    let other = TestUser {
        id: bob.id,
        access_token: login["access_token"].as_str().unwrap().to_owned(),
        refresh_token: login["refresh_token"].as_str().unwrap().to_owned(),
    };
    let sessions: Value = app.get("/api/v1/users/me/sessions", Some(&other.access_token)).await.json().await.unwrap();
    let first = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .expect("bob's first session")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app.delete(&format!("/api/v1/users/me/sessions/{first}"), Some(&other.access_token)).await;
    assert!(res.status().is_success(), "end session: {}", res.status());
    let res = app.post("/api/v1/push/subscriptions", Some(&bob.access_token), device.subscription()).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    subscribe(&app, &other, &device).await;

    // A spent refresh token presented again revokes its session and ends its subscriptions.
    let res = app.refresh(&other.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.refresh(&other.refresh_token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions").await, 0);
}

/// A ban ends every subscription, also one an API token made (no sign-out ends those).
#[actix_web::test]
async fn a_ban_deletes_every_subscription_of_the_account() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let bob = app.register("bob").await;
    let (token, _) = crate::api_tokens::token(&app, &bob, &["read", "write"]).await;
    let by_token = TestUser { id: bob.id, access_token: token, refresh_token: String::new() };
    subscribe(&app, &bob, &Device::new("http://127.0.0.1:9/push/session".to_owned())).await;
    subscribe(&app, &by_token, &Device::new("http://127.0.0.1:9/push/token".to_owned())).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions WHERE session_id IS NULL").await, 1);
    let res =
        app.patch(&format!("/api/v1/admin/users/{}", bob.id), Some(&root.access_token), json!({"banned": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) AS n FROM push_subscriptions").await, 0);
}

#[actix_web::test]
async fn mentions_are_parsed_stored_and_carried_everywhere_a_message_goes() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let _carol = app.register("carol").await;
    let room = app.group(&ada, "team", &[&bob]).await;
    let mut ws = app.ws(&bob.access_token).await;

    let plain = app.send(&ada, room, "no one in particular").await;
    assert_eq!(plain["mentions"], json!([]));
    // carol is no member; a mail address and code mention nobody.
    let sent = app.send(&ada, room, "hi @Bob, ask @carol or mail x@bob.example `@ada`").await;
    assert_eq!(sent["mentions"], json!([bob.id]));
    let event = ws.event_where("message.new", |d| d["message"]["id"] == sent["id"]).await;
    assert_eq!(event["message"]["mentions"], json!([bob.id]));
    let page = app.history(&bob, room, "").await;
    let stored = page["messages"].as_array().unwrap().iter().find(|m| m["id"] == sent["id"]).unwrap().clone();
    assert_eq!(stored["mentions"], json!([bob.id]));
    let found: Value = app.get("/api/v1/search/messages?q=ask", Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(found["results"][0]["message"]["mentions"], json!([bob.id]), "{found}");

    // An edit says again who is mentioned.
    let id = sent["id"].as_str().unwrap();
    let res = app
        .patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": "thanks @ada and @BOB."}))
        .await;
    let edited: Value = res.json().await.unwrap();
    let mut ids: Vec<String> =
        edited["mentions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    ids.sort();
    let mut want = vec![ada.id.to_string(), bob.id.to_string()];
    want.sort();
    assert_eq!(ids, want);
    let updated = ws.event_where("message.updated", |d| d["message"]["id"] == sent["id"]).await;
    assert_eq!(updated["message"]["mentions"].as_array().unwrap().len(), 2);
    let res =
        app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": "never mind"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["mentions"], json!([]));
}

#[actix_web::test]
async fn staff_get_a_push_for_a_new_support_chat_when_none_of_them_is_online() {
    let app = spawn_app().await;
    let service = PushService::start().await;
    let admin = user_with_role(&app, "admin1", "admin").await;
    let moderator = user_with_role(&app, "mod1", "moderator").await;
    let plain = app.register("plain").await;
    let device = Device::new(format!("{}/push/admin", service.base));
    subscribe(&app, &admin, &device).await;
    subscribe(&app, &plain, &Device::new(format!("{}/push/plain", service.base))).await;

    let visitor = open_session(&app, "Vera").await;
    app.send(&visitor.guest, visitor.room, "My order never arrived").await;
    let pushes = service.wait_for(1).await;
    let payload = open(&app, &service, &device, &pushes[0]).await;
    assert_eq!(
        payload,
        json!({
            "kind": "support",
            "room_id": visitor.room,
            "room_name": "Vera",
            "sender": "Vera",
            "body": "My order never arrived",
            "url": format!("/admin#support={}", visitor.room),
        })
    );
    // Only the first message opens the chat.
    app.send(&visitor.guest, visitor.room, "hello?").await;
    // Greeted by staff first, the visitor's first message is not seq 1: it opens the chat all the same.
    let greeted = open_session(&app, "Gus").await;
    app.send(&admin, greeted.room, "Hello, how can we help?").await;
    app.send(&greeted.guest, greeted.room, "My parcel is lost").await;
    let pushes = service.wait_for(2).await;
    assert_eq!(open(&app, &service, &device, &pushes[1]).await["body"], "My parcel is lost");

    // With a moderator online, nobody is pushed. The decision is made before the send answers.
    let _ws = app.ws(&moderator.access_token).await;
    eventually("the moderator is connected", async || {
        check(app.state.notify.connected_users(vec![plauder::ids::UserId(moderator.id)]).await, |c| !c.is_empty())
    })
    .await;
    let second = open_session(&app, "Walt").await;
    app.send(&second.guest, second.room, "Anyone there?").await;
    assert_eq!(queued(&app).await, 0);
    holds_throughout("no push while staff is online", Duration::from_millis(400), async || {
        check(service.received().len(), |n| *n == 2).map(|_| ())
    })
    .await;
    assert_eq!(queued(&app).await, 0);
}
