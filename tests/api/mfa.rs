//! TOTP two-factor: enrolling (secret, otpauth URI, QR code), confirming, logging in with a
//! code, a replayed or old code, a recovery code, wrong codes past the limit, expired
//! challenges, disabling, and the staff requirement. Codes are computed here from the secret
//! the server handed out, with totp-rs as an authenticator app would.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::helpers::{PASSWORD, TestApp, TestUser, assert_error, spawn_app, spawn_app_with, user_with_role};

/// An authenticator app holding `secret` (base32).
pub fn authenticator(secret: &str) -> Totp {
    let bytes = Secret::try_from_base32(secret).expect("a base32 secret");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(bytes.as_ref().to_vec())
        .build()
        .expect("totp")
}

fn now() -> u64 {
    Utc::now().timestamp() as u64
}

/// The code `steps` steps from now.
pub fn code(app: &Totp, steps: i64) -> String {
    app.generate((now() as i64 + steps * 30) as u64).to_string()
}

/// What enrolling and confirming gave: the app, the recovery codes and the new session.
pub struct Enrolled {
    pub app: Totp,
    /// The code that confirmed the enrolment (spent).
    pub confirm_code: String,
    pub recovery_codes: Vec<String>,
    pub access_token: String,
}

pub async fn enrol(app: &TestApp, user: &TestUser) -> Enrolled {
    let res = app.post("/api/v1/users/me/mfa/totp", Some(&user.access_token), json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let enrolment: Value = res.json().await.expect("json");
    let totp = authenticator(enrolment["secret"].as_str().expect("secret"));
    let confirm_code = code(&totp, 0);
    let res =
        app.post("/api/v1/users/me/mfa/totp/confirm", Some(&user.access_token), json!({ "code": confirm_code })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let confirmed: Value = res.json().await.expect("json");
    Enrolled {
        app: totp,
        confirm_code,
        recovery_codes: confirmed["recovery_codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_owned())
            .collect(),
        access_token: confirmed["access_token"].as_str().expect("new access token").to_owned(),
    }
}

async fn login_challenge(app: &TestApp, login: &str) -> String {
    let res = app.login(login, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0), "{body}");
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

async fn complete(app: &TestApp, mfa_token: &str, code: &str) -> reqwest::Response {
    app.post("/api/v1/auth/login/mfa", None, json!({ "mfa_token": mfa_token, "code": code })).await
}

#[actix_web::test]
async fn enrolling_shows_a_secret_uri_and_qr_code_and_the_first_code_turns_it_on() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    let status: Value = app.get("/api/v1/users/me/mfa", Some(&ada.access_token)).await.json().await.expect("json");
    assert_eq!(status, json!({ "enabled": false, "recovery_codes_left": 0, "required": false }));

    // Confirming before enrolling.
    let res = app.post("/api/v1/users/me/mfa/totp/confirm", Some(&ada.access_token), json!({ "code": "123456" })).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let res = app.post("/api/v1/users/me/mfa/totp", Some(&ada.access_token), json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let enrolment: Value = res.json().await.expect("json");
    let secret = enrolment["secret"].as_str().expect("secret");
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrolment["otpauth_uri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/plauder:ada?secret=") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    assert!(uri.contains("issuer=plauder"), "{uri}");
    let svg = enrolment["qr_svg"].as_str().expect("svg");
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    let totp = authenticator(secret);

    let wrong =
        app.post("/api/v1/users/me/mfa/totp/confirm", Some(&ada.access_token), json!({ "code": "000000" })).await;
    assert_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res =
        app.post("/api/v1/users/me/mfa/totp/confirm", Some(&ada.access_token), json!({ "code": code(&totp, 0) })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let confirmed: Value = res.json().await.expect("json");
    let codes = confirmed["recovery_codes"].as_array().expect("codes");
    assert_eq!(codes.len(), 10);
    assert_eq!(app.count("SELECT count(*) AS n FROM mfa_recovery_codes").await, 10);
    // Stored hashed: no code appears in the table.
    let plain = codes[0].as_str().expect("code");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM mfa_recovery_codes WHERE code_hash = '{plain}'::bytea")).await,
        0
    );
    // Every earlier session ended; the answer carries the new one.
    assert_eq!(ws.closed_with().await, 4001);
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::UNAUTHORIZED);
    let token = confirmed["access_token"].as_str().expect("new token");
    assert_eq!(app.me(token).await.status(), StatusCode::OK);
    let status: Value = app.get("/api/v1/users/me/mfa", Some(token)).await.json().await.expect("json");
    assert_eq!(status, json!({ "enabled": true, "recovery_codes_left": 10, "required": false }));
    // Enrolling again while on is refused.
    assert_error(
        app.post("/api/v1/users/me/mfa/totp", Some(token), json!({"password": PASSWORD})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
}

/// Turning two-factor on takes the password: with a signed-in session alone (a stolen access
/// token) anyone could put their own authenticator on the account, whose other sessions the
/// confirmation ends and whose password reset leaves two-factor on.
#[actix_web::test]
async fn enrolling_needs_the_password() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrol = async |body: Value| app.post("/api/v1/users/me/mfa/totp", Some(&ada.access_token), body).await;
    let res = enrol(json!({"password": "not hers"})).await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("password")), "{body}");
    assert_error(enrol(json!({})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // Nothing is pending, so nothing can be confirmed.
    assert_eq!(app.count("SELECT count(*) AS n FROM user_totp").await, 0);
    let res = app.post("/api/v1/users/me/mfa/totp/confirm", Some(&ada.access_token), json!({ "code": "123456" })).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(enrol(json!({"password": PASSWORD})).await.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn login_of_an_enrolled_account_needs_a_code_and_each_code_works_once() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;

    // The code used to confirm cannot sign in; the next step's can, once.
    let challenge = login_challenge(&app, "ada").await;
    assert_error(complete(&app, &challenge, &enrolled.confirm_code).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    assert_error(complete(&app, &challenge, "12345").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let next = code(&enrolled.app, 1);
    let res = complete(&app, &challenge, &next).await;
    assert_eq!(res.status(), StatusCode::OK);
    let session: Value = res.json().await.expect("json");
    assert_eq!(app.me(session["access_token"].as_str().expect("token")).await.status(), StatusCode::OK);
    // The challenge is spent, and the code replayed on a new challenge is refused.
    assert_error(complete(&app, &challenge, &next).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let again = login_challenge(&app, "ada").await;
    assert_error(complete(&app, &again, &next).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Two steps ahead is outside the window.
    assert_error(complete(&app, &again, &code(&enrolled.app, 3)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Malformed bodies.
    let res = app.post("/api/v1/auth/login/mfa", None, json!({ "mfa_token": again })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.post("/api/v1/auth/login/mfa", None, json!({ "mfa_token": 5, "code": "123456" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.raw(reqwest::Method::POST, "/api/v1/auth/login/mfa", None, "not json").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

/// A login waiting for its code ends when every token of the account is revoked: a challenge
/// opened with a password since changed (or by someone signed out everywhere) used to complete
/// into a session for five more minutes.
#[actix_web::test]
async fn a_login_challenge_opened_before_a_password_change_is_refused_after_it() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let challenge = login_challenge(&app, "ada").await;
    let change = json!({"current_password": PASSWORD, "new_password": "a much better passphrase"});
    let res = app.post("/api/v1/users/me/password", Some(&enrolled.access_token), change).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(complete(&app, &challenge, &code(&enrolled.app, 1)).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    // A challenge opened with the new password completes.
    let res = app.login("ada", "a much better passphrase").await;
    let body: Value = res.json().await.expect("json");
    let res = complete(&app, body["mfa_token"].as_str().expect("mfa_token"), &code(&enrolled.app, 1)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A login completing its code while the account's tokens are revoked (logout-all) ends with
/// both answered: the revocation and the code check take the account's rows in one order. With
/// the revocation reaching the two-factor row last, the two waited for each other and PostgreSQL
/// aborted one. Here the two-factor row is held until both wait for it.
#[actix_web::test]
async fn a_code_checked_while_the_account_signs_out_everywhere_deadlocks_nothing() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let challenge = login_challenge(&app, "ada").await;
    let blocker = app.hold(&format!("SELECT 1 FROM user_totp WHERE user_id = '{}' FOR UPDATE", ada.id)).await;
    let next = code(&enrolled.app, 1);
    let completed = complete(&app, &challenge, &next);
    let signed_out = async {
        app.wait_for_lock_waits(1).await;
        app.while_held(
            blocker,
            2,
            "ROLLBACK",
            app.post("/api/v1/auth/logout-all", Some(&enrolled.access_token), json!({})),
        )
        .await
    };
    let (completed, signed_out) = tokio::join!(completed, signed_out);
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    // The code was right, but every sign-in ended while it was checked.
    assert_error(completed, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS NULL").await, 0);
}

/// An enrolment confirmed while the account signs out everywhere: the two take the account's row
/// and then the two-factor row in the same order, so neither waits for the other (confirming used
/// to lock the two-factor row first and waited for the account's row, which the revocation held
/// while it waited for the two-factor row: PostgreSQL aborted one), and the revocation, committed
/// first, ends the confirmation: no authenticator goes on the account and no session comes out of
/// it (it used to do both). Here the account's row is held until the revocation and then the
/// confirmation wait for it, in that order.
#[actix_web::test]
async fn an_enrolment_confirmed_while_the_account_signs_out_everywhere_deadlocks_nothing_and_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let res = app.post("/api/v1/users/me/mfa/totp", Some(&ada.access_token), json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let enrolment: Value = res.json().await.expect("json");
    let totp = authenticator(enrolment["secret"].as_str().expect("secret"));
    let blocker = app.hold(&format!("SELECT 1 FROM users WHERE id = '{}' FOR UPDATE", ada.id)).await;
    let signed_out = app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({}));
    let confirmed = async {
        app.wait_for_lock_waits(1).await;
        app.while_held(
            blocker,
            2,
            "ROLLBACK",
            app.post("/api/v1/users/me/mfa/totp/confirm", Some(&ada.access_token), json!({ "code": code(&totp, 0) })),
        )
        .await
    };
    let (signed_out, confirmed) = tokio::join!(signed_out, confirmed);
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    assert_error(confirmed, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let on = format!("SELECT count(*) AS n FROM user_totp WHERE user_id = '{}' AND enabled_at IS NOT NULL", ada.id);
    assert_eq!(app.count(&on).await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS NULL").await, 0);
}

/// Two-factor turned off with a password checked while the owner changed it is not turned off:
/// the owner's change (a revocation) ends everything authorised before it. Here the owner's change
/// is held open until the disabling waits for it.
#[actix_web::test]
async fn two_factor_turned_off_while_the_owner_changes_the_password_stays_on() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let owner = app.hold(&format!("UPDATE users SET token_version = token_version + 1 WHERE id = '{}'", ada.id)).await;
    let disabled = app
        .while_held(
            owner,
            1,
            "COMMIT",
            app.post(
                "/api/v1/users/me/mfa/totp/disable",
                Some(&enrolled.access_token),
                json!({"password": PASSWORD, "code": code(&enrolled.app, 1)}),
            ),
        )
        .await;
    assert_error(disabled, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let on = format!("SELECT count(*) AS n FROM user_totp WHERE user_id = '{}' AND enabled_at IS NOT NULL", ada.id);
    assert_eq!(app.count(&on).await, 1);
}

/// A password login of a two-factor account whose password was checked while its tokens were
/// revoked gets no challenge (it would complete into a session after the revocation).
#[actix_web::test]
async fn a_login_during_a_revocation_gets_no_challenge() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    enrol(&app, &ada).await;
    let revocation =
        app.hold(&format!("UPDATE users SET token_version = token_version + 1 WHERE id = '{}'", ada.id)).await;
    let login = app.while_held(revocation, 1, "COMMIT", app.login("ada", PASSWORD)).await;
    assert_error(login, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM mfa_challenges").await, 0);
}

#[actix_web::test]
async fn a_recovery_code_completes_a_login_once() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let recovery = enrolled.recovery_codes[3].to_uppercase();
    let challenge = login_challenge(&app, "ada").await;
    let res = complete(&app, &challenge, &recovery).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();
    let status: Value = app.get("/api/v1/users/me/mfa", Some(&token)).await.json().await.expect("json");
    assert_eq!(status["recovery_codes_left"], 9);
    let challenge = login_challenge(&app, "ada").await;
    assert_error(complete(&app, &challenge, &recovery).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(complete(&app, &challenge, &enrolled.recovery_codes[4]).await.status(), StatusCode::OK);
}

/// A sign-in begun before the account's deletion began cannot be completed after it, and spends
/// no recovery code on the way.
#[actix_web::test]
async fn a_login_challenge_of_an_account_being_deleted_is_refused_before_its_code_is_checked() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let challenge = login_challenge(&app, "ada").await;
    app.sql(&format!("UPDATE users SET deleting_since = now() WHERE id = '{}'", ada.id)).await;
    let refused = assert_error(
        complete(&app, &challenge, &enrolled.recovery_codes[0]).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(refused["error"]["message"], "This account is being deleted.");
    let unspent =
        format!("SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = '{}' AND used_at IS NULL", ada.id);
    assert_eq!(app.count(&unspent).await, 10);
}

#[actix_web::test]
async fn wrong_codes_past_the_limit_lock_the_account_even_for_the_right_code() {
    let app = spawn_app_with(|s| s.mfa.max_failed_attempts = 3).await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let challenge = login_challenge(&app, "ada").await;
    for wrong in ["000000", "111111", "222222"] {
        assert_error(complete(&app, &challenge, wrong).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let body = assert_error(
        complete(&app, &challenge, &code(&enrolled.app, 1)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 250_000), "{body}");
    // A new challenge does not start over: the lock is the account's.
    let fresh = login_challenge(&app, "ada").await;
    assert_error(complete(&app, &fresh, &code(&enrolled.app, 1)).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        .await;
    // Once the lock has passed, the count goes on: the next run of wrong codes locks twice as
    // long (it used to start over with the same lock each time).
    app.sql("UPDATE user_totp SET locked_until = now() - interval '1 second'").await;
    for wrong in ["333333", "444444", "555555"] {
        assert_error(complete(&app, &fresh, wrong).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let body = assert_error(
        complete(&app, &fresh, &code(&enrolled.app, 1)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 550_000), "{body}");
    // A recovery code gets through the lock (whoever holds the password cannot keep the owner
    // out with it), and the count starts over.
    assert_eq!(complete(&app, &fresh, &enrolled.recovery_codes[0]).await.status(), StatusCode::OK);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM user_totp WHERE failed_attempts = 0 AND locked_until IS NULL").await,
        1
    );
    let again = login_challenge(&app, "ada").await;
    assert_eq!(complete(&app, &again, &code(&enrolled.app, 1)).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_unknown_or_expired_challenge_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    assert_error(
        complete(&app, "no-such-challenge", &code(&enrolled.app, 1)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let challenge = login_challenge(&app, "ada").await;
    app.sql("UPDATE mfa_challenges SET expires_at = now() - interval '1 second'").await;
    assert_error(complete(&app, &challenge, &code(&enrolled.app, 1)).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    // A wrong password still says nothing about two-factor.
    assert_error(app.login("ada", "wrong password!!").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn disabling_needs_the_password_and_a_code() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let disable = |password: &str, code: String| {
        app.post(
            "/api/v1/users/me/mfa/totp/disable",
            Some(&enrolled.access_token),
            json!({ "password": password, "code": code }),
        )
    };
    assert_error(disable("not my password", code(&enrolled.app, 1)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(disable(PASSWORD, "000000".into()).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(disable(PASSWORD, code(&enrolled.app, 1)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT count(*) AS n FROM mfa_recovery_codes").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM user_totp").await, 0);
    let res = app.login("ada", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.expect("json")["access_token"].is_string());
    assert_error(disable(PASSWORD, code(&enrolled.app, 1)).await, StatusCode::NOT_FOUND, "not_found").await;
}

/// A leaked API token must not turn two-factor on (confirming starts a session and ends the
/// owner's) or off.
#[actix_web::test]
async fn two_factor_is_not_managed_with_an_api_token() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let (token, _) = crate::api_tokens::token(&app, &ada, &["read", "write"]).await;
    let refused = assert_error(
        app.post("/api/v1/users/me/mfa/totp", Some(&token), json!({"password": PASSWORD})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("API token")), "{refused}");
    // Her own enrolment is pending: the token cannot confirm it.
    let res = app.post("/api/v1/users/me/mfa/totp", Some(&ada.access_token), json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let secret = res.json::<Value>().await.expect("json")["secret"].as_str().expect("secret").to_owned();
    let confirm = json!({ "code": code(&authenticator(&secret), 0) });
    assert_error(
        app.post("/api/v1/users/me/mfa/totp/confirm", Some(&token), confirm).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::OK, "her session goes on");
    let disable = json!({ "password": PASSWORD, "code": "000000" });
    assert_error(
        app.post("/api/v1/users/me/mfa/totp/disable", Some(&token), disable).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM user_totp WHERE enabled_at IS NOT NULL").await, 0);
}

#[actix_web::test]
async fn with_the_staff_requirement_staff_without_two_factor_act_as_plain_users() {
    let app = spawn_app_with(|s| s.mfa.require_for_staff = true).await;
    let root = user_with_role(&app, "root", "admin").await;
    assert_error(app.get("/api/v1/admin/stats", Some(&root.access_token)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let status: Value = app.get("/api/v1/users/me/mfa", Some(&root.access_token)).await.json().await.expect("json");
    assert_eq!(status["required"], true);
    // Over the WebSocket too: no staff events (a new support session) for them, nor through an API
    // token they make meanwhile.
    let (plain_token, _) = crate::api_tokens::token(&app, &root, &["read", "write"]).await;
    let mut ws = app.ws(&root.access_token).await;
    let mut token_ws = app.ws(&plain_token).await;
    let visitor = crate::helpers::open_session(&app, "visitor").await;
    ws.no_event("support.session_created", std::time::Duration::from_millis(500)).await;
    token_ws.no_event("support.session_created", std::time::Duration::from_millis(100)).await;
    let support_room = format!("/api/v1/rooms/{}/messages", visitor.room);
    assert_error(app.get(&support_room, Some(&plain_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let enrolled = enrol(&app, &root).await;
    assert_eq!(app.get("/api/v1/admin/stats", Some(&enrolled.access_token)).await.status(), StatusCode::OK);
    assert_eq!(app.get(&support_room, Some(&plain_token)).await.status(), StatusCode::OK, "staff again once enrolled");
    let mut ws = app.ws(&enrolled.access_token).await;
    crate::helpers::open_session(&app, "second").await;
    let event = ws.event("support.session_created").await;
    assert_eq!(event["session"]["email"], "second@visitor.example", "{event}");
    // A token with the admin scope, made while two-factor was on, lapses with it.
    let enrolled_user =
        TestUser { id: root.id, access_token: enrolled.access_token.clone(), refresh_token: String::new() };
    let (admin_token, _) = crate::api_tokens::token(&app, &enrolled_user, &["read", "admin"]).await;
    assert_eq!(app.get("/api/v1/admin/stats", Some(&admin_token)).await.status(), StatusCode::OK);
    let res = app
        .post(
            "/api/v1/users/me/mfa/totp/disable",
            Some(&enrolled.access_token),
            json!({ "password": PASSWORD, "code": code(&enrolled.app, 1) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(app.get("/api/v1/admin/stats", Some(&admin_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get(&support_room, Some(&admin_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Plain users are not affected.
    let ada = app.register("ada").await;
    let status: Value = app.get("/api/v1/users/me/mfa", Some(&ada.access_token)).await.json().await.expect("json");
    assert_eq!(status["required"], false);
}

#[actix_web::test]
async fn without_the_requirement_staff_keep_their_rights_without_two_factor() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    assert_eq!(app.get("/api/v1/admin/stats", Some(&root.access_token)).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_password_reset_leaves_two_factor_on() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let enrolled = enrol(&app, &ada).await;
    let out = crate::cli::plauder()
        .args(["user", "reset-password", "ada", "--print-link"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .expect("run plauder");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let token = link.split_once("#reset-password=").map(|(_, t)| t.to_owned()).expect("link");
    let res = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({ "token": token, "password": "brand new passphrase" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.login("ada", "brand new passphrase").await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["mfa_required"], true, "{body}");
    let res = complete(&app, body["mfa_token"].as_str().expect("token"), &code(&enrolled.app, 1)).await;
    assert_eq!(res.status(), StatusCode::OK);
}
