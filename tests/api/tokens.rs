//! Access and refresh tokens: rotation, replay, logout, revocation, and every way a token can be bad.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{CHANGED_PASSWORD_HASH, JWT_SECRET, PASSWORD, TestApp, TestUser, assert_error, spawn_app};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn sign(claims: &Value, secret: &str) -> String {
    encode(&Header::default(), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[actix_web::test]
async fn refresh_spends_the_token_and_returns_a_new_pair() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let res = app.refresh(&ada.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let new_refresh = body["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, ada.refresh_token);
    assert_eq!(body["user"]["username"], "ada");
    assert_eq!(app.me(body["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    // The new one works in turn.
    assert_eq!(app.refresh(new_refresh).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn reusing_a_spent_refresh_token_revokes_its_whole_family() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let other_session: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    let second: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();
    let second = second["refresh_token"].as_str().unwrap();

    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The thief's (or the owner's) newer token from the same family is dead too...
    assert_error(app.refresh(second).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // ...but another login's session is not.
    let other = other_session["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(other).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn unknown_and_garbage_refresh_tokens_are_401() {
    let app = spawn_app().await;
    for token in ["", "nope", "' OR 1=1 --", &"x".repeat(5000)] {
        assert_error(app.refresh(token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[actix_web::test]
async fn an_expired_refresh_token_is_401() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.sql("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn logout_ends_that_session_only_and_is_idempotent() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let other: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    let res = app.post("/api/v1/auth/logout", None, json!({"refresh_token": ada.refresh_token})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.refresh(other["refresh_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    let again = app.post("/api/v1/auth/logout", None, json!({"refresh_token": ada.refresh_token})).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let unknown = app.post("/api/v1/auth/logout", None, json!({"refresh_token": "never issued"})).await;
    assert_eq!(unknown.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn logout_all_revokes_every_access_and_refresh_token_at_once() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let other: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    let other_access = other["access_token"].as_str().unwrap();
    let res = app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(app.me(&ada.access_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.me(other_access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.refresh(other["refresh_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    // Logging in again works and gives working tokens.
    let fresh: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    assert_eq!(app.me(fresh["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn logout_all_needs_a_token() {
    let app = spawn_app().await;
    let res = app.post("/api/v1/auth/logout-all", None, json!({})).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn missing_malformed_expired_tampered_and_foreign_tokens_are_401() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let sub = ada.id.to_string();

    let expired =
        sign(&json!({"sub": sub, "role": "user", "ver": 0, "iat": now() - 3600, "exp": now() - 60}), JWT_SECRET);
    let foreign = sign(
        &json!({"sub": sub, "role": "user", "ver": 0, "iat": now(), "exp": now() + 600}),
        "another-secret-that-is-also-32-bytes-long",
    );
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD
            .encode(json!({"sub": sub, "role": "admin", "ver": 0, "iat": now(), "exp": now() + 600}).to_string())
    );
    // Same header and signature, claims swapped for an admin role: the signature no longer fits.
    let parts: Vec<&str> = ada.access_token.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD
        .encode(json!({"sub": sub, "role": "admin", "ver": 0, "iat": now(), "exp": now() + 600}).to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    let mut bad_sig = ada.access_token.clone();
    let last = bad_sig.pop().unwrap();
    bad_sig.push(if last == 'A' { 'B' } else { 'A' });

    for token in
        [expired.as_str(), foreign.as_str(), alg_none.as_str(), tampered.as_str(), bad_sig.as_str(), "garbage", "a.b.c"]
    {
        assert_error(app.me(token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // No header, and the wrong scheme.
    assert_error(app.get("/api/v1/users/me", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let basic = app
        .client
        .get(format!("{}/api/v1/users/me", app.address))
        .header("authorization", "Basic YWRhOnB3")
        .send()
        .await
        .unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A correctly signed token for a real user still works: the checks above are not vacuous.
    let good = sign(&json!({"sub": sub, "role": "user", "ver": 0, "iat": now(), "exp": now() + 600}), JWT_SECRET);
    assert_eq!(app.me(&good).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_token_of_a_deleted_user_is_401() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.sql(&format!("DELETE FROM users WHERE id = '{}'", ada.id)).await;
    assert_error(app.me(&ada.access_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn the_tokens_of_a_banned_user_are_403_at_once() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.sql(&format!("UPDATE users SET banned_at = now() WHERE id = '{}'", ada.id)).await;
    assert_error(app.me(&ada.access_token).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn changing_the_password_revokes_earlier_tokens() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let new_password = "a much better passphrase";
    let body = json!({"current_password": PASSWORD, "new_password": new_password});
    let res = app.post("/api/v1/users/me/password", Some(&ada.access_token), body).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The device that changed it carries on with the new session the answer hands it.
    let fresh: Value = res.json().await.expect("json");
    let fresh_token = fresh["access_token"].as_str().expect("new access token");
    assert_eq!(app.me(fresh_token).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(fresh["refresh_token"].as_str().expect("new refresh token")).await.status(), StatusCode::OK);
    assert_error(app.me(&ada.access_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.login("ada", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.login("ada", new_password).await.status(), StatusCode::OK);
}

/// Runs `revoke` while a refresh of `user`'s token is under way: the token's row is held, so the
/// refresh waits for it, and then the revocation waits too; both go on when the row is let go.
/// Returns the refresh's answer.
async fn refresh_during(app: &TestApp, user: &TestUser, revoke: impl Future<Output = StatusCode>) -> Value {
    use diesel_async::SimpleAsyncConnection;
    let mut blocker = app
        .hold(&format!("SELECT 1 FROM refresh_tokens WHERE user_id = '{}' AND spent_at IS NULL FOR UPDATE", user.id))
        .await;
    let refreshed = async { app.refresh(&user.refresh_token).await };
    let revoked = async {
        app.wait_for_a_lock_wait(r#"SELECT %FROM "refresh_tokens"%FOR UPDATE%"#).await;
        let (status, ()) = tokio::join!(revoke, async {
            app.wait_for_lock_waits(2).await;
            blocker.batch_execute("ROLLBACK").await.expect("release the token's row");
        });
        status
    };
    let (refreshed, status) = tokio::join!(refreshed, revoked);
    assert!(status.is_success(), "the revocation answered {status}");
    assert_eq!(refreshed.status(), StatusCode::OK, "the refresh came first");
    refreshed.json().await.expect("json")
}

/// A password change that meets a refresh under way revokes the token the refresh hands out. The
/// revocation used to wait for the refreshed token's row only, and its statement, begun before
/// the successor was inserted, left that one live: a stolen session survived the change.
#[actix_web::test]
async fn a_password_change_during_a_refresh_revokes_the_refreshed_token_too() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let body = json!({"current_password": PASSWORD, "new_password": "a much better passphrase"});
    let pair = refresh_during(&app, &ada, async {
        app.post("/api/v1/users/me/password", Some(&ada.access_token), body).await.status()
    })
    .await;
    let successor = pair["refresh_token"].as_str().expect("refresh token");
    assert_error(app.refresh(successor).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        app.me(pair["access_token"].as_str().expect("access token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

/// A logout presented with a session's spent token (a stale tab's) while the session's live token
/// is refreshed ends the session with the token that refresh hands out: the family's revocation,
/// begun before that token was inserted, used to leave it live.
#[actix_web::test]
async fn a_logout_with_a_spent_token_during_a_refresh_revokes_the_refreshed_token_too() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let second: Value = app.refresh(&ada.refresh_token).await.json().await.expect("json");
    let live = TestUser {
        id: ada.id,
        access_token: second["access_token"].as_str().expect("access token").to_owned(),
        refresh_token: second["refresh_token"].as_str().expect("refresh token").to_owned(),
    };
    let pair = refresh_during(&app, &live, async {
        app.post("/api/v1/auth/logout", None, json!({"refresh_token": ada.refresh_token})).await.status()
    })
    .await;
    let successor = pair["refresh_token"].as_str().expect("refresh token");
    assert_error(app.refresh(successor).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// A password change whose current password was checked while the owner changed it (or signed
/// out everywhere) is refused: it used to set its own password over the owner's new one and start
/// a session, from a check of the password the owner had just replaced. Here the owner's change is
/// held open until the second change waits for it.
#[actix_web::test]
async fn a_password_change_checked_while_another_commits_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let owner = app.hold_password_change(&ada).await;
    let body = json!({"current_password": PASSWORD, "new_password": "the intruder's passphrase"});
    let changed =
        app.while_held(owner, 1, "COMMIT", app.post("/api/v1/users/me/password", Some(&ada.access_token), body)).await;
    assert_error(changed, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let kept = format!(
        "SELECT count(*) AS n FROM users WHERE id = '{}' AND password_hash = '{CHANGED_PASSWORD_HASH}'",
        ada.id
    );
    assert_eq!(app.count(&kept).await, 1, "the owner's password stays");
    let live = format!("SELECT count(*) AS n FROM refresh_tokens WHERE user_id = '{}' AND revoked_at IS NULL", ada.id);
    assert_eq!(
        app.count(&live).await,
        1,
        "no new session (only the registration's, which the held change did not revoke)"
    );
}

/// A login whose password was checked while a revocation of the account's tokens was under way
/// gets no session that outlives it: the session used to be inserted after the revocation's
/// statement had run, and stayed live. Here the revocation (as a password change, logout-all or
/// ban writes it) is held open until the login waits for it.
#[actix_web::test]
async fn a_login_during_a_revocation_of_the_accounts_tokens_gets_no_session_that_outlives_it() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let revocation = app
        .hold(&format!(
            "UPDATE users SET token_version = token_version + 1 WHERE id = '{0}'; \
             UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = '{0}' AND revoked_at IS NULL",
            ada.id
        ))
        .await;
    let login = app.while_held(revocation, 1, "COMMIT", app.login("ada", PASSWORD)).await;
    assert_error(login, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM refresh_tokens WHERE user_id = '{}' AND revoked_at IS NULL",
            ada.id
        ))
        .await,
        0
    );
    // Signing in again works.
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK);
}

/// The same for signing one device out from another while that device refreshes.
#[actix_web::test]
async fn signing_a_device_out_during_its_refresh_revokes_the_refreshed_token_too() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let laptop: Value = app.login("ada", PASSWORD).await.json().await.expect("json");
    let laptop_token = laptop["access_token"].as_str().expect("access token");
    let list: Value = app.get("/api/v1/users/me/sessions", Some(laptop_token)).await.json().await.expect("json");
    let phone = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] != true)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();
    let pair = refresh_during(&app, &ada, async {
        app.delete(&format!("/api/v1/users/me/sessions/{phone}"), Some(laptop_token)).await.status()
    })
    .await;
    assert_error(
        app.refresh(pair["refresh_token"].as_str().expect("refresh token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(app.refresh(laptop["refresh_token"].as_str().expect("laptop's token")).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let wrong = json!({"current_password": "not it at all", "new_password": "a much better passphrase"});
    assert_error(
        app.post("/api/v1/users/me/password", Some(&ada.access_token), wrong).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let weak = json!({"current_password": PASSWORD, "new_password": "short"});
    assert_error(
        app.post("/api/v1/users/me/password", Some(&ada.access_token), weak).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::OK);
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK);
}

// ---- sockets bound to their token (auth.refresh) ----

/// The close reason text a socket gets when its token expired unrefreshed.
const TOKEN_EXPIRED: &str = "token expired: send auth.refresh before expiry, or reconnect";

/// Short tokens and a short grace, so expiry happens within the test.
async fn short_token_app(ttl_secs: u64) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|s| {
        s.auth.access_token_ttl_secs = ttl_secs;
        s.realtime.token_grace_ms = 300;
    })
    .await
}

#[actix_web::test]
async fn a_socket_whose_token_expired_unrefreshed_is_closed_with_4001_saying_so() {
    let app = short_token_app(1).await;
    let ada = app.register("ada").await;
    let started = std::time::Instant::now();
    let mut ws = app.ws(&ada.access_token).await;
    assert_eq!(ws.closed_with_reason().await, (4001, TOKEN_EXPIRED.to_owned()));
    // exp is whole seconds: closed between the expiry plus grace and a little after.
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(4), "closed after {waited:?}");
}

#[actix_web::test]
async fn auth_refresh_with_a_fresh_token_keeps_the_socket_open_past_the_first_expiry() {
    let app = short_token_app(2).await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    let mut refresh_token = ada.refresh_token.clone();
    let started = std::time::Instant::now();
    // Past the first token's expiry plus grace (at most 2.3 s after connecting), refreshing
    // every 700 ms as the browser client does before each expiry.
    while started.elapsed() < std::time::Duration::from_millis(4000) {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let pair: Value = app.refresh(&refresh_token).await.json().await.unwrap();
        refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
        let reply = ws.command("auth.refresh", json!({"token": pair["access_token"]})).await;
        assert_eq!(reply["ok"], true, "{reply}");
        // The contract's time format, milliseconds included (an expiry in whole seconds used to
        // come out without them).
        let expires_at = reply["data"]["expires_at"].as_str().expect("a time");
        assert!(chrono::DateTime::parse_from_rfc3339(expires_at).is_ok(), "{reply}");
        assert!(expires_at.ends_with(".000Z"), "{reply}");
    }
    let pong = ws.command("ping", json!({})).await;
    assert_eq!(pong["ok"], true, "still open: {pong}");
}

#[actix_web::test]
async fn auth_refresh_with_another_users_or_a_revoked_token_is_refused_and_changes_nothing() {
    let app = short_token_app(2).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let mut ws = app.ws(&ada.access_token).await;

    let reply = ws.command("auth.refresh", json!({"token": bob.access_token})).await;
    assert_eq!((reply["ok"].clone(), reply["error"]["code"].clone()), (json!(false), json!("forbidden")), "{reply}");

    // A well-signed token of Ada's that is revoked: its version is not the account's.
    let t = now();
    let revoked = sign(&json!({"sub": ada.id, "role": "user", "ver": 7, "iat": t, "exp": t + 600}), JWT_SECRET);
    let reply = ws.command("auth.refresh", json!({"token": revoked})).await;
    assert_eq!((reply["ok"].clone(), reply["error"]["code"].clone()), (json!(false), json!("unauthorized")), "{reply}");
    let reply = ws.command("auth.refresh", json!({"token": "not a token"})).await;
    assert_eq!(reply["error"]["code"], "unauthorized", "{reply}");

    // Nothing was extended: the socket still ends when its own token does.
    assert_eq!(ws.closed_with_reason().await, (4001, TOKEN_EXPIRED.to_owned()));
}

/// A socket receives every event of the user's rooms, so a token that may not read cannot carry
/// one, at the upgrade or by `auth.refresh`; and a socket moving from a never-expiring API token to
/// an access token lives as long as the access token, not for ever.
#[actix_web::test]
async fn auth_refresh_needs_a_reading_token_and_takes_the_expiry_of_the_token_it_moves_to() {
    let app = short_token_app(2).await;
    let ada = app.register("ada").await;
    let (reader, _) = crate::api_tokens::token(&app, &ada, &["read"]).await;
    let (writer, _) = crate::api_tokens::token(&app, &ada, &["write"]).await;
    let mut ws = app.ws(&reader).await;
    let reply = ws.command("auth.refresh", json!({"token": writer})).await;
    assert_eq!((reply["ok"].clone(), reply["error"]["code"].clone()), (json!(false), json!("forbidden")), "{reply}");

    let reply = ws.command("auth.refresh", json!({"token": ada.access_token})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    // The access token's two seconds (and the grace), not the API token's never.
    assert_eq!(ws.closed_with_reason().await, (4001, TOKEN_EXPIRED.to_owned()));
}

// ---- sockets bound to their login session (logout) ----

/// The close reason text of a socket whose login session was logged out.
const LOGGED_OUT: &str = "session logged out";

async fn logout(app: &crate::helpers::TestApp, refresh_token: &str) {
    let res = app.post("/api/v1/auth/logout", None, json!({"refresh_token": refresh_token})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn logging_a_session_out_closes_its_sockets_with_4001_and_leaves_other_sessions_open() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let phone: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    let mut laptop_a = app.ws(&ada.access_token).await;
    let mut laptop_b = app.ws(&ada.access_token).await;
    let mut phone_ws = app.ws(phone["access_token"].as_str().unwrap()).await;
    // A token of the laptop's session issued by a refresh is of the same session.
    let refreshed: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();
    let mut laptop_c = app.ws(refreshed["access_token"].as_str().unwrap()).await;

    logout(&app, refreshed["refresh_token"].as_str().unwrap()).await;
    for ws in [&mut laptop_a, &mut laptop_b, &mut laptop_c] {
        assert_eq!(ws.closed_with_reason().await, (4001, LOGGED_OUT.to_owned()));
    }
    assert_eq!(phone_ws.command("ping", json!({})).await["ok"], true, "the other session's socket stays");
}

#[actix_web::test]
async fn a_socket_refreshed_with_another_sessions_token_follows_that_session() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let other: Value = app.login("ada", PASSWORD).await.json().await.unwrap();
    let mut ws = app.ws(&ada.access_token).await;
    let reply = ws.command("auth.refresh", json!({"token": other["access_token"]})).await;
    assert_eq!(reply["ok"], true, "{reply}");

    // The session it was opened with no longer holds it...
    logout(&app, &ada.refresh_token).await;
    // A close would follow the logout within the request's own broker delivery; give it time.
    ws.no_event("closed", std::time::Duration::from_millis(500)).await;
    assert_eq!(ws.command("ping", json!({})).await["ok"], true, "still open after the first logout");
    // ...the one whose token it lives on does.
    logout(&app, other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(ws.closed_with_reason().await, (4001, LOGGED_OUT.to_owned()));
}
