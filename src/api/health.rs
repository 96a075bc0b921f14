//! Operations routes: liveness, readiness (PostgreSQL, and Redis where configured) and Prometheus
//! metrics.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Each dependency and whether it answered: `up`, or `down: <reason>`.
    pub checks: Checks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub postgres: String,
    /// Present only where Redis is configured (`redis.url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}

/// `GET /health`
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/health")]
pub async fn health() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// `GET /health/ready`
#[utoipa::path(tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let postgres = match tokio::time::timeout(Duration::from_secs(2), ping_postgres(&state)).await {
        Ok(Ok(())) => "up".to_owned(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => "down: no answer within 2 s".to_owned(),
    };
    let redis = state.realtime.check_redis().await.map(|checked| match checked {
        Ok(()) => "up".to_owned(),
        Err(e) => format!("down: {e}"),
    });
    let ok = postgres == "up" && redis.as_deref().is_none_or(|r| r == "up");
    let body = Readiness { status: if ok { "ok" } else { "unavailable" }, checks: Checks { postgres, redis } };
    if ok { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn ping_postgres(state: &AppState) -> Result<(), String> {
    let mut conn = state.pool.get().await.map_err(|e| match e {
        deadpool::managed::PoolError::Timeout(_) => "connection timed out".to_owned(),
        _ => "cannot connect".to_owned(),
    })?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await.map(drop).map_err(|_| "query failed".to_owned())
}

/// `GET /metrics`
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::render(&state))
}
