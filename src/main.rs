//! The `crm` command line: `serve` (the default), `worker`, `migrate`, `audit`,
//! `context-key` and `healthcheck`. It only parses arguments and calls the library.

use std::{io::Write, process::ExitCode};

/// jemalloc returns the memory of idle keep-alive connections to the system far better
/// than glibc's allocator (measured with 10,000 held connections, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand, ValueEnum};
use crm::{
    Application, Worker,
    modules::registry,
    platform::{config::Config, db, telemetry},
};

/// Multi-tenant CRM server. Configuration comes from environment variables (see README).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare the database and serve the API (the default); also runs the job host
    /// unless CRM_RUN_WORKER=false.
    Serve,
    /// Prepare the database and run the job host alone (no HTTP).
    Worker,
    /// Create the database if needed, apply migrations and set up the application role.
    Migrate,
    /// Ask this container's server for /health (for Docker's HEALTHCHECK); exits 1
    /// unless it answers 200.
    Healthcheck,
    /// Audit row-level security (the checks of sql/audit_rls.sql); exits 1 on any error.
    Audit {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Narrow the role rules to this login role, as the server does at start-up
        /// (default: every login role in crm_api).
        #[arg(long)]
        role: Option<String>,
    },
    /// Manage the keys that sign the tenant context (see the README's security model).
    ContextKey {
        #[command(subcommand)]
        action: ContextKeyAction,
    },
}

#[derive(Subcommand)]
enum ContextKeyAction {
    /// Add a new key; servers sign with it once restarted, older keys stay valid.
    Rotate,
    /// Delete every key but the newest; servers not restarted since are refused.
    Retire,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Worker => worker(config).await,
        Command::Migrate => db::prepare_database(&config, registry::ALL)
            .await
            .map_err(|err| err.to_string()),
        Command::Audit { format, role } => return audit(&config, format, role.as_deref()).await,
        Command::ContextKey { action } => context_key(&config, action).await,
        Command::Healthcheck => {
            return if crm::http::probe_health(config.bind.port()).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn context_key(config: &Config, action: ContextKeyAction) -> Result<(), String> {
    match action {
        ContextKeyAction::Rotate => {
            let id = db::rotate_context_key(config)
                .await
                .map_err(|err| err.to_string())?;
            tracing::info!(
                key = id,
                "added a context key: restart every server, then retire"
            );
        }
        ContextKeyAction::Retire => {
            let retired = db::retire_context_keys(config)
                .await
                .map_err(|err| err.to_string())?;
            tracing::info!(retired, "retired the context keys older than the newest");
        }
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config)
        .await
        .map_err(|err| err.to_string())?;
    app.run_until_stopped().await.map_err(|err| err.to_string())
}

async fn worker(config: Config) -> Result<(), String> {
    let worker = Worker::build(config).await.map_err(|err| err.to_string())?;
    worker.run_until_stopped().await;
    Ok(())
}

async fn audit(config: &Config, format: Format, role: Option<&str>) -> ExitCode {
    let findings = match run_audit(config, role).await {
        Ok(findings) => findings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &findings)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        Format::Text if findings.is_empty() => writeln!(out, "row-level security audit: clean"),
        Format::Text => findings
            .iter()
            .try_for_each(|finding| writeln!(out, "{finding}")),
    };
    if written.is_err() {
        return ExitCode::from(2);
    }
    if findings.iter().any(db::Finding::is_error) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_audit(config: &Config, role: Option<&str>) -> Result<Vec<db::Finding>, String> {
    let owner = config
        .database_url
        .expose()
        .parse()
        .map_err(|err| format!("DATABASE_URL: {err}"))?;
    let client = db::owner_connect(&owner)
        .await
        .map_err(|err| err.to_string())?;
    db::audit(&client, role)
        .await
        .map_err(|err| err.to_string())
}
