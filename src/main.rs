//! The `plauder` binary: parses the command line and hands over to the library.
//!
//! The administrative commands (`user …`, `token revoke`, `stats`, `retention run`) call the same service
//! functions as the admin routes, so their rules, audit entries and token revocation are the
//! same. They run without the WebSocket side of a server: see [`announce_close`] for how the
//! sockets a change must close on running instances are reached.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use plauder::config::{RedisSettings, Settings};
use plauder::db::models::{Role, User};
use plauder::db::queries::users;
use plauder::error::ApiError;
use plauder::ids::UserId;
use plauder::protocol::CloseReason;
use plauder::realtime::broker::{Control, Envelope, Topic, wire};
use plauder::service::accounts::{self, Registration};
use plauder::service::admin::{self, Actor, UserUpdate};
use plauder::startup::Application;
use plauder::state::AppState;
use secrecy::{ExposeSecret, SecretString};

/// The environment variable the new password of `user create` and `user reset-password` is read
/// from (a flag would show in `ps` and the shell's history).
const PASSWORD_ENV: &str = "PLAUDER_USER_PASSWORD";

#[derive(Parser)]
#[command(name = "plauder", version, about = "A real-time chat server")]
struct Cli {
    /// Directory holding default.toml and <PLAUDER_ENV>.toml.
    #[arg(long, env = "PLAUDER_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage bot accounts.
    Bot {
        #[command(subcommand)]
        command: BotCommand,
    },
    /// Manage sessions.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the admin panel's counters from the database as JSON.
    Stats,
    /// Delete what has outlived the `retention.*` settings.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Exit 0 when the server answers 200 on its readiness route, else 1: for container health
    /// checks, since the image has no curl. Reads no configuration.
    Healthcheck {
        /// Where to ask; only plain `http://host:port/path`.
        #[arg(long, default_value = "http://127.0.0.1:8080/health/ready")]
        url: String,
        /// Seconds to wait for the connection and the answer.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Check the configuration and print it, secrets masked.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account, e.g. the first admin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Prefer PLAUDER_USER_PASSWORD over the flag: the flag shows in `ps` and shell history.
        #[arg(long, env = PASSWORD_ENV, hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "user", value_parser = ["admin", "moderator", "user"])]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Change an account's global role; its open WebSockets are closed to reconnect as the new role.
    SetRole {
        /// Username, email or id.
        user: String,
        #[arg(value_parser = ["admin", "moderator", "user"])]
        role: String,
    },
    /// Ban an account: it cannot log in, and every token it holds is revoked.
    Ban {
        /// Username, email or id.
        user: String,
        /// Shown to admins in the panel and recorded in the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a ban (the account logs in again; its old sessions stay revoked).
    Unban {
        /// Username, email or id.
        user: String,
    },
    /// Set a new password, read from PLAUDER_USER_PASSWORD or else from the first line of
    /// standard input; every session of the account is revoked. With --mail or --print-link,
    /// the user chooses the password instead, through a reset link.
    ResetPassword {
        /// Username, email or id.
        user: String,
        /// Queue a reset mail to the account's address (a running server's mail worker sends it);
        /// the current password keeps working until the link is used.
        #[arg(long, conflicts_with = "print_link")]
        mail: bool,
        /// Print a reset link (valid for password_reset.token_ttl_secs) to hand over yourself;
        /// nothing is mailed.
        #[arg(long)]
        print_link: bool,
    },
}

#[derive(Subcommand)]
enum BotCommand {
    /// Create a bot account and print its first API token (scopes read and write; shown once).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Revoke every session (access and refresh tokens) of an account.
    Revoke {
        /// Username, email or id.
        user: String,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Run one pass now and print what it deleted; if another process (a server's background
    /// job) is running one, say so and exit 0 without waiting.
    Run,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration as `serve` would, and print it with secrets masked.
    Check,
}

/// glibc raises its mmap threshold after the first freed large block, so later Argon2 blocks
/// (19 MiB) come from the per-thread arenas and stay resident once freed (1.2 GB after 2,000
/// registrations); a fixed threshold keeps every block above it mmapped and returned (26 MB).
/// Chosen over a global allocator (mimalloc: 46–86 MB, and a C dependency): docs/benchmarks.md,
/// register RSS. An operator's own `MALLOC_MMAP_THRESHOLD_` wins. Mapping a fresh block for every
/// hash costs page faults; `auth::password` hands one hash's block to the next during a burst.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a tunable of glibc's allocator; called before any thread
        // starts, so no allocation races it.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck { url, timeout_secs } = &command {
        return match healthcheck(url, Duration::from_secs(*timeout_secs)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("plauder healthcheck: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let loaded = match command {
        Command::Migrate => Settings::load_for_migrations(&cli.config_dir),
        _ => Settings::load(&cli.config_dir),
    };
    let settings = match loaded {
        Ok(s) => s,
        Err(e) => {
            eprintln!("plauder: {e}");
            return ExitCode::from(2);
        }
    };
    plauder::telemetry::init_with(&settings.log.level, settings.json_logs(), Some(&settings.telemetry));
    let result = match command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(settings)),
        Command::Migrate => actix_web::rt::System::new().block_on(migrate(settings)),
        Command::Config { command: ConfigCommand::Check } => config_check(&settings),
        Command::User { command: UserCommand::Create { username, email, password, role, display_name } } => {
            let reg = Registration { username, email, password, display_name };
            // clap allows only the names of these roles.
            match role.parse::<Role>() {
                Ok(role) => actix_web::rt::System::new().block_on(create_user(settings, reg, role)),
                Err(_) => Err(anyhow::anyhow!("unknown role '{role}'")),
            }
        }
        Command::User { command } => actix_web::rt::System::new().block_on(manage_user(settings, command)),
        Command::Bot { command: BotCommand::Create { username, display_name } } => {
            actix_web::rt::System::new().block_on(create_bot(settings, username, display_name))
        }
        Command::Token { command: TokenCommand::Revoke { user } } => {
            actix_web::rt::System::new().block_on(revoke_tokens(settings, user))
        }
        Command::Stats => actix_web::rt::System::new().block_on(stats(settings)),
        Command::Retention { command: RetentionCommand::Run } => {
            actix_web::rt::System::new().block_on(retention_run(settings))
        }
        Command::Healthcheck { .. } => Ok(()),
    };
    plauder::telemetry::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("plauder: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    tracing::info!("plauder stopped");
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let applied = plauder::db::run_migrations(&settings.database, settings.database.url.expose_secret()).await?;
    println!("{} migration(s) applied", applied.len());
    Ok(())
}

async fn create_user(settings: Settings, reg: Registration, role: Role) -> anyhow::Result<()> {
    plauder::db::run_migrations(&settings.database, settings.database.url.expose_secret()).await?;
    let state = cli_state(&settings)?;
    let user = accounts::create_user(&state, reg, role).await.map_err(cli_error)?;
    println!("created {} {} ({})", user.role.as_str(), user.username, user.id);
    Ok(())
}

async fn create_bot(settings: Settings, username: String, display_name: Option<String>) -> anyhow::Result<()> {
    let state = cli_state(&settings)?;
    let created = plauder::service::tokens::create_bot(&state, Actor::CommandLine, &username, display_name.as_deref())
        .await
        .map_err(cli_error)?;
    println!("created bot {} ({})", created.user.username, created.user.id);
    // The token alone on the last line, so scripts can take it with `tail -n1`.
    println!("{}", created.token.token);
    Ok(())
}

/// The shared state the services need, for a command-line process. Its WebSocket side runs on
/// the in-process broker even when `redis.url` is set: with Redis it would register as an
/// instance in the cluster presence (heartbeats, liveness keys) for the few seconds it lives.
fn cli_state(settings: &Settings) -> anyhow::Result<AppState> {
    let mut local = settings.clone();
    local.redis.url = SecretString::from(String::new());
    AppState::new(local, "cli".to_owned())
}

/// A service error as the operator should read it: the client-safe message, or the cause where
/// the API would hide it (an unreachable or failing database).
fn cli_error(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(cause) => cause,
        ApiError::Unavailable(cause) => cause.context("the database is unavailable"),
        ApiError::StoreUnavailable(cause) => cause.context("the attachment store is unavailable"),
        other => anyhow::anyhow!("{}", other.body().error.message),
    }
}

/// The account named on the command line: a user id, else a username or email
/// (case-insensitively, as at login).
async fn find_user(state: &AppState, who: &str) -> anyhow::Result<User> {
    let mut conn = state.db().await.map_err(cli_error)?;
    let found = match who.parse::<UserId>() {
        Ok(id) => users::find(&mut conn, id).await,
        Err(_) => users::find_by_login(&mut conn, who.trim()).await,
    };
    found.map_err(|e| cli_error(e.into()))?.ok_or_else(|| anyhow::anyhow!("no user '{who}'"))
}

async fn manage_user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let state = cli_state(&settings)?;
    let (who, update) = match command {
        // Handled in main: it migrates first and needs no existing account.
        UserCommand::Create { .. } => anyhow::bail!("user create is not handled here"),
        UserCommand::SetRole { user, role } => (user, UserUpdate { role: Some(role), banned: None, ban_reason: None }),
        UserCommand::Ban { user, reason } => (user, UserUpdate { role: None, banned: Some(true), ban_reason: reason }),
        UserCommand::Unban { user } => (user, UserUpdate { role: None, banned: Some(false), ban_reason: None }),
        UserCommand::ResetPassword { user, mail, print_link } if mail || print_link => {
            let target = find_user(&state, &user).await?;
            let link = plauder::service::recovery::admin_reset(&state, Actor::CommandLine, target.id, mail)
                .await
                .map_err(cli_error)?;
            if mail {
                let to = target.email.as_deref().unwrap_or_default();
                return print_out(&format!("reset mail for {} queued to {to}\n", target.username));
            }
            return print_out(&format!("{link}\n"));
        }
        UserCommand::ResetPassword { user, .. } => {
            let target = find_user(&state, &user).await?;
            let password = new_password()?;
            admin::reset_password(&state, Actor::CommandLine, target.id, password).await.map_err(cli_error)?;
            println!("password of {} reset; every session revoked", target.username);
            announce_close(&settings.redis, target.id, CloseReason::PasswordChanged).await;
            return Ok(());
        }
    };
    let target = find_user(&state, &who).await?;
    let banning = update.banned == Some(true);
    let unbanning = update.banned == Some(false);
    let updated = admin::change_user(&state, Actor::CommandLine, target.id, update).await.map_err(cli_error)?;
    let name = &updated.user.username;
    if banning {
        println!("banned {name}; every session revoked");
        announce_close(&settings.redis, target.id, CloseReason::Banned).await;
    } else if unbanning {
        println!("{name} is {}", if target.is_banned() { "unbanned" } else { "not banned (unchanged)" });
    } else if updated.user.role == target.role {
        println!("{name} is {} (unchanged)", target.role.as_str());
    } else {
        println!("{name}: {} -> {}", target.role.as_str(), updated.user.role.as_str());
        announce_close(&settings.redis, target.id, CloseReason::RoleChanged).await;
    }
    Ok(())
}

/// The new password: the environment variable, else the first line of standard input (so it can
/// be piped from a secret store without appearing in `ps`).
fn new_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        anyhow::bail!("no new password: set {PASSWORD_ENV} or give it on standard input");
    }
    Ok(password.to_owned())
}

async fn revoke_tokens(settings: Settings, who: String) -> anyhow::Result<()> {
    let state = cli_state(&settings)?;
    let target = find_user(&state, &who).await?;
    admin::revoke_sessions(&state, Actor::CommandLine, target.id).await.map_err(cli_error)?;
    println!("revoked every session of {}", target.username);
    announce_close(&settings.redis, target.id, CloseReason::TokensRevoked).await;
    Ok(())
}

async fn stats(settings: Settings) -> anyhow::Result<()> {
    let state = cli_state(&settings)?;
    let stats = admin::stats(&state).await.map_err(cli_error)?;
    let mut json = serde_json::to_value(&stats)?;
    // Live counters of the answering instance; this process is none, so they would read 0.
    if let Some(map) = json.as_object_mut() {
        map.remove("users_online");
        map.remove("connections");
    }
    print_out(&format!("{}\n", serde_json::to_string_pretty(&json)?))
}

async fn retention_run(settings: Settings) -> anyhow::Result<()> {
    use plauder::service::retention::{self, Outcome};
    let state = cli_state(&settings)?;
    match retention::run_once(&state).await.map_err(cli_error)? {
        Outcome::Completed(report) => print_out(&format!(
            "retention pass completed: deleted {} refresh token(s), {} support session(s), {} guest(s)\n",
            report.refresh_tokens, report.support_sessions, report.guests
        )),
        Outcome::Skipped => print_out("retention pass skipped: another process is running one\n"),
    }
}

/// Tells the running instances to close the user's WebSockets, as the admin route does through
/// its broker: with `redis.url` set, one PUBLISH of the close on the user's channel reaches every
/// instance where the user has a connection. Without Redis there is no way to reach a running
/// server from here: its sockets stay open until they close (tokens were revoked, so a reconnect
/// is refused). The change itself is committed either way, so a failure here is a warning.
async fn announce_close(redis: &RedisSettings, user_id: UserId, reason: CloseReason) {
    if !redis.enabled() {
        eprintln!(
            "note: redis.url is not set, so open WebSockets of this user on a running server stay open until they \
             disconnect; their tokens are revoked, so they cannot reconnect"
        );
        return;
    }
    let channel = wire::channel(&redis.channel_prefix, Topic::User(user_id));
    let payload = wire::encode("cli", &Envelope::Control(Control::Close(reason)));
    let publish = async {
        let client = redis::Client::open(redis.url.expose_secret())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PUBLISH").arg(channel).arg(payload).query_async::<u64>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(5), publish).await {
        Ok(Ok(instances)) => println!("closed their WebSockets on {instances} instance(s)"),
        Ok(Err(e)) => eprintln!("warning: could not reach Redis to close their open WebSockets: {e}"),
        Err(_) => eprintln!("warning: Redis did not answer within 5 s; their open WebSockets were not closed"),
    }
}

/// `config check`: `Settings::load` has already validated everything (a bad key exits with 2).
/// Printed with `Debug`, where every `SecretString` shows as `[REDACTED]`; so a secret added to
/// the settings later is masked too. The two URLs are repeated with only the password masked,
/// since which host and database they name is what an operator checks.
fn config_check(settings: &Settings) -> anyhow::Result<()> {
    let mut text = format!("# environment: {}\n{settings:#?}\n", plauder::config::environment());
    text.push_str(&format!("database.url = {}\n", mask_url_password(settings.database.url.expose_secret())));
    if settings.redis.enabled() {
        text.push_str(&format!("redis.url = {}\n", mask_url_password(settings.redis.url.expose_secret())));
    }
    text.push_str("configuration OK\n");
    print_out(&text)
}

/// Writes to standard output, failing (not panicking, as `println!` does) when it is closed,
/// e.g. piped into `head`.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `scheme://user:password@host/…?…` with the password replaced by `***`, and so the value of
/// every query parameter whose name contains "pass" (`password`, `sslpassword`); the rest, such
/// as `sslmode`, is shown.
fn mask_url_password(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let Some((scheme, rest)) = base.split_once("://") else { return "***".to_owned() };
    let mut masked = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{userinfo}@{host}"),
        },
        None => format!("{scheme}://{rest}"),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("pass") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        masked.push('?');
        masked.push_str(&params.join("&"));
    }
    masked
}

/// One `GET` over plain HTTP/1.0 with std's blocking socket (no HTTP client is compiled into the
/// server): Ok when the status is 200.
fn healthcheck(url: &str, timeout: Duration) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("only http:// URLs: {url}"))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    // The readiness answer is a few hundred bytes; more is not needed to judge it.
    stream.take(64 * 1024).read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        return Ok(());
    }
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    anyhow::bail!("{url}: {status} {body}")
}
