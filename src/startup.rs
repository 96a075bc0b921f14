//! Builds the application from settings: state, migrations, the HTTP server bound to its own
//! listener (so port 0 works and the tests learn the port), and the background housekeeping.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, scope};

use crate::api;
use crate::config::Settings;
use crate::state::AppState;
use crate::telemetry::PlauderRootSpan;

pub struct Application {
    port: u16,
    server: Server,
    /// The operators' listener (`server.admin_bind`) and its port, when configured.
    admin: Option<(u16, Server)>,
    pub state: web::Data<AppState>,
}

impl Application {
    /// Migrates (when configured), binds and prepares the server without running it.
    ///
    /// # Errors
    /// PostgreSQL unreachable for migrations, the address in use, or a bad setting.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // The process-wide TLS provider, before any client is built (see `telemetry::init_with`).
        crate::db::tls::provider();
        crate::metrics::init();
        crate::db::instrumentation::install();
        if settings.database.migrate_on_start {
            let applied = crate::db::run_migrations(&settings.database, settings.database.url.expose_secret()).await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "migrations applied");
            }
        }
        let instance_id = if settings.server.instance_id.is_empty() {
            uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
        } else {
            settings.server.instance_id.clone()
        };
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let backlog = settings.server.listen_backlog;
        let listener = listen(&address, backlog).with_context(|| format!("binding {address}"))?;
        let port = listener.local_addr()?.port();
        let admin_listener = match settings.server.admin_address() {
            Some(admin) => {
                Some(listen(admin, backlog).with_context(|| format!("binding {admin} (server.admin_bind)"))?)
            }
            None => None,
        };
        let state = web::Data::new(AppState::new(settings, instance_id)?);
        // A wrong bucket, endpoint or key stops the start here, with the reason, rather than
        // failing every upload.
        state.attachments.check_store().await?;
        // In the background: PostgreSQL down at start must not delay the start by a pool timeout.
        let pool = state.pool.clone();
        tokio::spawn(async move { crate::db::check_message_language(&pool).await });
        let server = run(listener, state.clone(), admin_listener.is_none())?;
        let admin = match admin_listener {
            Some(listener) => {
                let admin_port = listener.local_addr()?.port();
                tracing::info!(port = admin_port, "admin listener (/metrics, /health/ready)");
                Some((admin_port, run_admin(listener, state.clone())?))
            }
            None => None,
        };
        spawn_housekeeping(state.clone().into_inner());
        crate::service::retention::spawn(state.clone().into_inner());
        crate::service::mail::spawn_worker(state.clone().into_inner());
        crate::service::support_mail::spawn_worker(state.clone().into_inner());
        crate::service::digest::spawn_worker(state.clone().into_inner());
        crate::push::spawn_worker(state.clone().into_inner());
        // Before the first request: a send must not miss an endpoint that already exists. Without
        // PostgreSQL the server still starts (readiness says why); until the endpoints can be read,
        // every event type counts as wanted.
        let read = match state.pool.get().await {
            Ok(mut conn) => {
                // Whether any push subscription exists; until known, sends queue pushes anyway.
                if let Err(e) = state.push.refresh(&mut conn).await {
                    tracing::warn!("reading whether push subscriptions exist failed: {e:#}");
                }
                state.webhooks.refresh(&mut conn).await.map_err(anyhow::Error::from)
            }
            Err(e) => Err(anyhow::anyhow!("database pool: {e}")),
        };
        if let Err(e) = read {
            tracing::warn!("reading the webhook endpoints failed, every event is queued until they are read: {e:#}");
            state.webhooks.want_all();
        }
        crate::webhooks::start_refresh(
            state.pool.clone(),
            state.webhooks.clone(),
            std::time::Duration::from_millis(state.settings.webhooks.refresh_interval_ms),
        );
        crate::webhooks::deliver::start(state.clone().into_inner())?;
        tracing::info!(port, instance = %state.instance_id, "plauder listening");
        Ok(Self { port, server, admin, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when `server.admin_bind` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGINT/SIGTERM (actix handles both), then drains in-flight requests for up to
    /// `server.shutdown_timeout_secs`.
    ///
    /// # Errors
    /// An I/O error of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        let admin = self.admin.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing WebSockets with 1001, then draining requests");
            state.realtime.begin_shutdown();
            // Connections reply to the commands they are running, then close; give them a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
            handle.stop(true).await;
            if let Some(admin) = admin {
                admin.stop(true).await;
            }
        });
        self.server.await
    }
}

/// Binds the first of `address`'s resolved addresses that is free, as `TcpListener::bind` does,
/// but with `backlog` for the queue of accepted-by-the-kernel connections instead of std's fixed
/// 128: a burst of connects larger than the queue has its SYNs dropped and retried a second later
/// (docs/benchmarks.md, "The listen backlog").
fn listen(address: &str, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for addr in std::net::ToSocketAddrs::to_socket_addrs(address)? {
        match listen_on(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error
        .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolved to nothing")))
}

fn listen_on(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As std does on Unix: a restart may bind while the old process's sockets linger.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(TcpListener::from(socket))
}

/// The operators' listener: metrics and health only, one worker, none of the API's middleware (a
/// scrape is not a request to count).
fn run_admin(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(api::health::metrics)
            .service(api::health::ready)
            .service(api::health::health)
            .default_service(web::to(api::extract::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?;
    Ok(server.run())
}

fn run(listener: TcpListener, state: web::Data<AppState>, metrics_here: bool) -> anyhow::Result<Server> {
    let server_settings = state.settings.server.clone();
    let json_limit = server_settings.max_json_body_bytes;
    // The bound a silent WebSocket gets from the heartbeat check (three intervals).
    let stalled_after = Duration::from_millis(state.settings.realtime.heartbeat_interval_ms.saturating_mul(3));
    let mut server = HttpServer::new(move || {
        let (app, document) = App::new()
            .app_data(state.clone())
            .app_data(api::extract::payload_config(json_limit))
            .app_data(api::extract::path_config())
            .app_data(api::extract::query_config())
            // A WebSocket's response body is its stream of frames: every layer of middleware
            // would wrap every frame sent (spans entered, compression passed through), so /ws
            // sits outside them and logs its refusals itself.
            .service(web::resource("/ws").get(api::ws::connect))
            // From here on, registering an API handler also adds its operation to the document.
            .into_utoipa_app()
            .openapi(api::openapi::ApiDoc::openapi())
            .service(
                scope("")
                    .wrap(from_fn(crate::web::cors::api_cors))
                    .wrap(from_fn(crate::metrics::track_requests))
                    .wrap(from_fn(crate::telemetry::request_id_header))
                    .wrap(Compress::default())
                    .wrap(TracingLogger::<PlauderRootSpan>::new())
                    // The document does not describe itself, so it goes on the plain actix scope,
                    // ahead of the /api/v1 scope (which would answer for it with its 404).
                    .map(|scope| scope.service(web::resource("/api/v1/openapi.json").get(api::openapi::openapi_json)))
                    .configure(|cfg| api::configure(cfg, metrics_here))
                    // The browser client's pages are not part of the API or its document.
                    .map(|scope| scope.configure(crate::web::configure))
                    .default_service(web::to(api::extract::not_found)),
            )
            // Unknown paths under a nested scope (/api/v1/…) fall through to the app's default.
            .default_service(web::to(api::extract::not_found))
            .split_for_parts();
        let app = app.app_data(web::Data::new(api::openapi::Document(api::openapi::with_error_responses(document))));
        // What building the app allocated and freed again would otherwise stay resident in this
        // worker's arena for the process's life.
        crate::realtime::memory::trim_after_build();
        app
    })
    .on_connect(move |conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            // Small frames (replies, events) must leave at once, not wait for Nagle's algorithm
            // to coalesce them with the next write while the client delays its ACK.
            let _ = tcp.set_nodelay(true);
            // A client that stops reading fills the socket's buffers; the dispatcher then stops
            // polling the WebSocket, so no heartbeat, close wait or timer of the connection
            // actor runs, and the zero-window probes the client's kernel answers would keep the
            // connection for ever. The kernel aborts it once nothing it sent was taken for this
            // long (Linux applies the timeout to zero-window probing since 5.11).
            let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(stalled_after));
        }
    })
    .shutdown_timeout(server_settings.shutdown_timeout_secs)
    .client_disconnect_timeout(std::time::Duration::from_millis(server_settings.client_disconnect_timeout_ms))
    // Signals are ours (see run_until_stopped): WebSockets must be told before the workers stop.
    .disable_signals()
    .listen(listener)?;
    if server_settings.workers > 0 {
        server = server.workers(server_settings.workers);
    }
    Ok(server.run())
}

/// Periodic upkeep that is nobody's request: forgetting idle rate-limit keys.
fn spawn_housekeeping(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            state.auth_limiter.sweep();
            state.login_throttle.sweep();
            state.support_limiter.sweep();
            state.contact_limiter.sweep();
            state.user_limits.sweep();
            state.password_limiter.sweep();
            state.action_limits.sweep();
            state.reset_ip_limiter.sweep();
            state.reset_address_limiter.sweep();
            state.resume_limiter.sweep();
            state.verify_address_limiter.sweep();
        }
    });
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
