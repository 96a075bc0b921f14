//! Register and login.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app, spawn_app_with};

#[actix_web::test]
async fn register_returns_201_with_the_user_and_a_token_pair() {
    let app = spawn_app().await;
    let res = app.register_raw("ada", "ada@example.org", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["username"], "ada");
    assert_eq!(body["user"]["display_name"], "ada");
    assert_eq!(body["user"]["email"], "ada@example.org");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().len() > 20);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    // RFC 3339, UTC, milliseconds.
    let created = body["user"]["created_at"].as_str().unwrap();
    assert_eq!(created.len(), "2026-01-01T00:00:00.000Z".len(), "{created}");
    assert!(created.ends_with('Z'));
    assert!(body["user"].get("password_hash").is_none());
    let me: Value = app.me(body["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["id"], body["user"]["id"]);
}

#[actix_web::test]
async fn a_taken_username_or_email_is_409_ignoring_case() {
    let app = spawn_app().await;
    app.register("ada").await;
    assert_error(app.register_raw("ADA", "other@example.org", PASSWORD).await, StatusCode::CONFLICT, "conflict").await;
    let body =
        assert_error(app.register_raw("bob", "Ada@Example.org", PASSWORD).await, StatusCode::CONFLICT, "conflict")
            .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("email"));
}

#[actix_web::test]
async fn bad_usernames_emails_and_weak_passwords_are_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        ("a", "a@example.org", PASSWORD, "username"),
        ("has space", "b@example.org", PASSWORD, "username"),
        ("ümlaut", "c@example.org", PASSWORD, "username"),
        ("dora", "not-an-email", PASSWORD, "email"),
        ("dora", "dora@nodot", PASSWORD, "email"),
        ("dora", "dora@example.org", "short", "password"),
        ("dora", "dora@example.org", "password123", "password"),
        ("dora", "dora@example.org", "dora-dora-dora", "password"),
        ("dora", "dora@example.org", "aaaaaaaaaaaa", "password"),
    ];
    for (username, email, password, field) in cases {
        let res = app.register_raw(username, email, password).await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["error"]["details"]["fields"][field].is_string(), "{username}/{email}/{password}: {body}");
    }
    // Nothing was stored along the way.
    app.register("dora").await;
}

#[actix_web::test]
async fn login_works_by_username_or_email_in_any_case() {
    let app = spawn_app().await;
    app.register("ada").await;
    for login in ["ada", "ADA", "ada@example.org", "Ada@Example.ORG"] {
        let res = app.login(login, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "{login}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["user"]["username"], "ada");
        assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    }
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    app.register("ada").await;
    let wrong =
        assert_error(app.login("ada", "not the password").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = assert_error(app.login("nobody", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(wrong, unknown);
}

#[actix_web::test]
async fn a_banned_user_cannot_log_in() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.sql(&format!("UPDATE users SET banned_at = now(), ban_reason = 'spam' WHERE id = '{}'", ada.id)).await;
    assert_error(app.login("ada", PASSWORD).await, StatusCode::FORBIDDEN, "forbidden").await;
    // A wrong password still says nothing about the ban.
    assert_error(app.login("ada", "wrong password!").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn login_and_register_are_rate_limited_per_ip_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.rate_limit.auth_burst = 3;
        s.rate_limit.auth_replenish_interval_ms = 60_000;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.login("nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login("nobody", PASSWORD).await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let ms = body["error"]["details"]["retry_after_ms"].as_u64().unwrap();
    assert!(ms > 50_000 && ms <= 60_000, "{ms}");
    // Registration shares the per-IP budget.
    let res = app.register_raw("ada", "ada@example.org", PASSWORD).await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// A login carrying extra headers (forwarding headers a client made up, or a proxy would set).
async fn login_with_headers(
    app: &TestApp,
    headers: &[(&str, String)],
    login: &str,
    password: &str,
) -> reqwest::Response {
    let mut req = app.client.post(format!("{}/api/v1/auth/login", app.address));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.json(&json!({"login": login, "password": password})).send().await.expect("request")
}

#[actix_web::test]
async fn forwarding_headers_from_an_untrusted_peer_do_not_move_the_per_ip_limit() {
    // No trusted proxies (the default): the peer is the client, whatever it claims.
    let app = spawn_app_with(|s| {
        s.rate_limit.auth_burst = 3;
        s.rate_limit.auth_replenish_interval_ms = 60_000;
    })
    .await;
    for i in 0..3 {
        let spoof = [("forwarded", format!("for=198.51.100.{i}")), ("x-forwarded-for", format!("203.0.113.{i}"))];
        assert_eq!(login_with_headers(&app, &spoof, "nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }
    let spoof = [("forwarded", "for=198.51.100.77".to_owned()), ("x-forwarded-for", "203.0.113.77".to_owned())];
    assert_error(
        login_with_headers(&app, &spoof, "nobody", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/register", app.address))
        .header("forwarded", "for=198.51.100.78")
        .header("x-forwarded-for", "203.0.113.78")
        .json(&json!({"username": "ada", "email": "ada@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// The addresses of one IPv6 /64 share a budget: a host holding the network could otherwise
/// register and guess from a new address each time.
#[actix_web::test]
async fn the_addresses_of_one_ipv6_network_share_the_login_budget() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
        s.rate_limit.auth_burst = 2;
        s.rate_limit.auth_replenish_interval_ms = 60_000;
    })
    .await;
    for address in ["2001:db8:1:2::1", "2001:db8:1:2:a:b:c:d"] {
        let xff = [("x-forwarded-for", address.to_owned())];
        assert_eq!(login_with_headers(&app, &xff, "nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }
    let xff = [("x-forwarded-for", "2001:db8:1:2:ffff::9".to_owned())];
    assert_error(
        login_with_headers(&app, &xff, "nobody", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // The next network has its own.
    let other = [("x-forwarded-for", "2001:db8:1:3::1".to_owned())];
    assert_eq!(login_with_headers(&app, &other, "nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
        s.rate_limit.auth_burst = 2;
        s.rate_limit.auth_replenish_interval_ms = 60_000;
    })
    .await;
    // The client wrote the left entry (different each time); the proxy appended what it saw.
    for i in 0..2 {
        let xff = [("x-forwarded-for", format!("10.{i}.0.1, 198.51.100.7"))];
        assert_eq!(login_with_headers(&app, &xff, "nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }
    let xff = [("x-forwarded-for", "10.9.0.1, 198.51.100.7".to_owned())];
    assert_error(
        login_with_headers(&app, &xff, "nobody", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // Forwarded is not read even from a trusted peer.
    let both = [("forwarded", "for=192.0.2.1".to_owned()), ("x-forwarded-for", "198.51.100.7".to_owned())];
    assert_error(
        login_with_headers(&app, &both, "nobody", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // Another client behind the same proxy has its own budget.
    let other = [("x-forwarded-for", "198.51.100.8".to_owned())];
    assert_eq!(login_with_headers(&app, &other, "nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // A trusted hop on the right is skipped: the client is the first untrusted one.
    let chain = [("x-forwarded-for", "198.51.100.7, 127.0.0.9".to_owned())];
    assert_error(
        login_with_headers(&app, &chain, "nobody", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[actix_web::test]
async fn one_login_name_backs_off_exponentially_from_any_address() {
    let app = spawn_app_with(|s| {
        // Every attempt from its own address, so only the per-account throttle can stop them.
        s.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
        s.rate_limit.login_attempts_before_backoff = 3;
        s.rate_limit.login_backoff_initial_ms = 300;
        s.rate_limit.login_backoff_max_ms = 60_000;
    })
    .await;
    app.register("ada").await;
    app.register("bob").await;
    let from = |i: u32| [("x-forwarded-for", format!("198.51.100.{i}"))];
    for i in 0..3 {
        let res = login_with_headers(&app, &from(i), "ada", "wrong password!").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Backing off: even the right password, from a fresh address, in another case, waits.
    let body = assert_error(
        login_with_headers(&app, &from(10), "ADA", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    let first = body["error"]["details"]["retry_after_ms"].as_u64().unwrap();
    assert!((1..=300).contains(&first), "{first}");
    // Other accounts are untouched.
    assert_eq!(login_with_headers(&app, &from(11), "bob", PASSWORD).await.status(), StatusCode::OK);
    // After the wait, one more wrong attempt doubles the next wait.
    tokio::time::sleep(std::time::Duration::from_millis(first + 20)).await;
    assert_eq!(login_with_headers(&app, &from(12), "ada", "wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    let body = assert_error(
        login_with_headers(&app, &from(13), "ada", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    let second = body["error"]["details"]["retry_after_ms"].as_u64().unwrap();
    assert!(second > 300 && second <= 600, "{second}");
    // The right password after the wait gets in and starts the name afresh.
    tokio::time::sleep(std::time::Duration::from_millis(second + 20)).await;
    assert_eq!(login_with_headers(&app, &from(14), "ada", PASSWORD).await.status(), StatusCode::OK);
    for i in 0..3 {
        let res = login_with_headers(&app, &from(20 + i), "ada", "wrong password!").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

#[actix_web::test]
async fn unicode_and_sql_looking_input_is_stored_literally() {
    let app = spawn_app().await;
    let name = "Robert'); DROP TABLE users;-- 👩‍💻 Zoë 中文";
    let res = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "bobby", "email": "bobby@example.org", "password": PASSWORD, "display_name": name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["display_name"], name);
    let token = body["access_token"].as_str().unwrap();
    let me: Value = app.me(token).await.json().await.unwrap();
    assert_eq!(me["display_name"], name);
    // SQL-looking logins are just wrong logins.
    assert_error(app.login("' OR '1'='1", "' OR '1'='1").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.login("bobby", PASSWORD).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn registrations_past_the_hashing_slots_get_503_with_retry_after_and_create_nothing() {
    // One hash at a time and no queue: of concurrent registrations, those arriving while one
    // hashes are refused at once.
    let app = spawn_app_with(|s| {
        s.auth.password_hash_max_concurrent = 1;
        s.auth.password_hash_max_queued = 0;
        // Slow enough hashes that the concurrent requests overlap one.
        s.auth.argon2_memory_kib = 16384;
        s.auth.argon2_iterations = 3;
    })
    .await;
    let names: Vec<String> = (0..12).map(|i| format!("user{i}")).collect();
    let emails: Vec<String> = names.iter().map(|n| format!("{n}@example.org")).collect();
    let results =
        futures_util::future::join_all(names.iter().zip(&emails).map(|(n, e)| app.register_raw(n, e, PASSWORD))).await;
    let mut refused = Vec::new();
    for (name, res) in names.iter().zip(results) {
        match res.status() {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                assert_eq!(retry_after.as_deref(), Some("1"));
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "unavailable");
                assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{body}");
                refused.push(name.clone());
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(!refused.is_empty(), "some registrations are refused");
    assert!(refused.len() < names.len(), "one at least got its slot");
    // A refused registration created nothing: it goes through when retried.
    for name in refused {
        let res = app.register_raw(&name, &format!("{name}@example.org"), PASSWORD).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name} on retry");
    }
}

#[actix_web::test]
async fn password_changes_are_limited_per_user() {
    let app = spawn_app_with(|s| {
        s.rate_limit.password_change_burst = 2;
        s.rate_limit.password_change_replenish_interval_ms = 60_000;
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    // Wrong guesses of the current password spend the budget as well: each costs a hash.
    let guess = json!({"current_password": "not it at all", "new_password": "a brand new passphrase"});
    for _ in 0..2 {
        let res = app.post("/api/v1/users/me/password", Some(&ada.access_token), guess.clone()).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app.post("/api/v1/users/me/password", Some(&ada.access_token), guess.clone()).await;
    assert!(res.headers().contains_key("retry-after"));
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));
    // The right password is refused too until the budget refills; another user has their own.
    let right = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    let res = app.post("/api/v1/users/me/password", Some(&ada.access_token), right.clone()).await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = app.post("/api/v1/users/me/password", Some(&bob.access_token), right).await;
    assert_eq!(res.status(), StatusCode::OK);
}
