//! The `crm` command line: `serve` (the default) and `migrate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use crm::{Application, config::Config, db, telemetry};

/// Multi-tenant CRM server. Configuration comes from environment variables (see README).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare the database and serve the API (the default).
    Serve,
    /// Create the database if needed, apply migrations and set up the application role.
    Migrate,
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
        Command::Migrate => db::prepare_database(&config)
            .await
            .map_err(|err| err.to_string()),
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

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config)
        .await
        .map_err(|err| err.to_string())?;
    app.run_until_stopped().await.map_err(|err| err.to_string())
}
