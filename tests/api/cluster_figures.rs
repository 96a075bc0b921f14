//! The admin panel's live figures count the whole deployment: whichever instance answers
//! `GET /admin/stats`, `connections` and `users_online` are the same sums over both.

use serde_json::Value;

use crate::cluster_support::{Cluster, redis_url};
use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestApp, user_with_role};

async fn live(app: &TestApp, token: &str) -> (i64, i64) {
    let stats: Value = app.get("/api/v1/admin/stats", Some(token)).await.json().await.unwrap();
    (stats["connections"].as_i64().unwrap_or(-1), stats["users_online"].as_i64().unwrap_or(-1))
}

#[actix_web::test]
async fn admin_stats_count_the_connections_and_users_of_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let admin = user_with_role(&c.front, "root", "admin").await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    // Ada on both instances (she counts once), bob on beta: three sockets, two users.
    let _ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let _ada_b = c.ws_on(&ada.access_token, "beta").await;
    let _bob_b = c.ws_on(&bob.access_token, "beta").await;

    for app in [&c.a, &c.b] {
        eventually("the stats to count both instances", async || {
            check(live(app, &admin.access_token).await, |&figures| figures == (3, 2))
        })
        .await;
    }
}
