//! The `plauder` binary: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use plauder::config::Settings;
use plauder::db::models::Role;
use plauder::service::accounts::{self, Registration};
use plauder::startup::Application;
use plauder::state::AppState;
use secrecy::ExposeSecret;

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
        #[arg(long, env = "PLAUDER_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "user", value_parser = ["admin", "moderator", "user"])]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
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
    plauder::telemetry::init(&settings.log.level, settings.json_logs());
    let result = match command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(settings)),
        Command::Migrate => actix_web::rt::System::new().block_on(migrate(settings)),
        Command::User { command: UserCommand::Create { username, email, password, role, display_name } } => {
            let reg = Registration { username, email, password, display_name };
            // clap allows only the names of these roles.
            match role.parse::<Role>() {
                Ok(role) => actix_web::rt::System::new().block_on(create_user(settings, reg, role)),
                Err(_) => Err(anyhow::anyhow!("unknown role '{role}'")),
            }
        }
    };
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
    let applied = plauder::db::run_migrations(settings.database.url.expose_secret().to_owned()).await?;
    println!("{} migration(s) applied", applied.len());
    Ok(())
}

async fn create_user(settings: Settings, reg: Registration, role: Role) -> anyhow::Result<()> {
    plauder::db::run_migrations(settings.database.url.expose_secret().to_owned()).await?;
    let state = AppState::new(settings, "cli".to_owned())?;
    let user =
        accounts::create_user(&state, reg, role).await.map_err(|e| anyhow::anyhow!("{}", e.body().error.message))?;
    println!("created {} {} ({})", user.role.as_str(), user.username, user.id);
    Ok(())
}
