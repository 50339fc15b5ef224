//! `crm-bench`: the benchmark of issue 5. `bench/run` drives it end to end; each
//! subcommand also runs on its own:
//!
//! - `seed`: recreate a `*bench*` database and COPY N tenants x M contacts and deals
//!   into it, and a clinic with its appointments into tenant 0; writes `dataset.json`
//!   (sizes; ids are deterministic) and `tokens.txt`.
//! - `load`: one scenario at some connection counts against a running server.
//! - `pgbench`: the same database work by pgbench (prints the scripts with `--print`).
//! - `suite`: every scenario x connection count, API and both pgbench forms, with ratios.
//! - `hold`: thousands of keep-alive connections held open while serving, with the
//!   server's memory; `logins`: GET by id while clients log in continuously;
//!   `neighbours`: one tenant's GET by id alone, then while another tenant runs the
//!   heaviest searches it may (the noisy neighbour of issue 12).
//! - `webhooks`: create contact while every tenant's `contact.*` endpoint delivers to
//!   a receiver in `crm-bench`, then the drain of the backlog (issue 13).
//! - `report`: the markdown of a results file (BENCHMARKS.md).
//!
//! Results are printed one line each and appended as JSON lines to `--results`.

// A command-line tool: its results are its output.
#![allow(clippy::print_stdout)]

mod dataset;
mod load;
mod neighbours;
mod pgbench;
mod report;
mod seed;
mod webhooks;

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::{
    dataset::Dataset,
    load::{HoldSummary, Scenario, Summary, Target},
    pgbench::{Form, PgTarget, PgbenchSummary},
};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(about = "Benchmark the crm API against pgbench doing the same database work")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Where `seed` wrote dataset.json and tokens.txt.
    #[arg(long, default_value = "target/bench/data")]
    data: PathBuf,
    /// The server under test.
    #[arg(long, default_value = "127.0.0.1:8000")]
    server: SocketAddr,
    /// JSON-lines file the results are appended to.
    #[arg(long)]
    results: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct Timing {
    /// Seconds of warm-up before measuring (API runs).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 15)]
    duration: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Recreate the database named in DATABASE_URL (its name must contain "bench") and
    /// load it; needs CRM_JWT_SECRET (the server's) to mint tokens.
    Seed {
        /// 10 tenants x 1,000 contacts (10k contacts, 10k deals; 20k appointments).
        #[arg(long, conflicts_with = "large")]
        small: bool,
        /// 1,000 tenants x 1,000 contacts (1M contacts, 1M deals; 1M appointments).
        #[arg(long)]
        large: bool,
        #[arg(long, default_value_t = 10)]
        tenants: u64,
        #[arg(long, default_value_t = 1000)]
        contacts_per_tenant: u64,
        #[arg(long, default_value_t = 20)]
        companies_per_tenant: u64,
        /// Appointments of tenant 0's clinic (0: no clinic); `--small` and `--large`
        /// set 20,000 and 1,000,000.
        #[arg(long, default_value_t = 0)]
        appointments: u64,
        /// Practitioners of the clinic, who share its appointments.
        #[arg(long, default_value_t = 50)]
        practitioners: u64,
        /// Where to write dataset.json and tokens.txt.
        #[arg(long, default_value = "target/bench/data")]
        data: PathBuf,
    },
    /// One scenario against a running server.
    Load {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        timing: Timing,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
        conns: Vec<u64>,
    },
    /// The same database work by pgbench, as the application role.
    Pgbench {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        timing: Timing,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
        conns: Vec<u64>,
        /// Only print the scripts.
        #[arg(long)]
        print: bool,
    },
    /// Every scenario (but the clinic's, without `--scenarios`) at every connection
    /// count: API, pgbench statement by statement, pgbench pipelined, and the ratios.
    Suite {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        timing: Timing,
        #[arg(long, value_enum, value_delimiter = ',')]
        scenarios: Vec<Scenario>,
        #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
        conns: Vec<u64>,
        /// API only.
        #[arg(long)]
        no_pgbench: bool,
    },
    /// Hold many keep-alive connections open, each sending a GET every interval.
    Hold {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        conns: u64,
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Milliseconds between one connection's requests.
        #[arg(long, default_value_t = 5000)]
        interval_ms: u64,
        /// The server's pid, to sample its resident memory.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// GET by id at `--conns` while `--login-clients` clients log in back to back.
    Logins {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        timing: Timing,
        #[arg(long, default_value_t = 64)]
        conns: u64,
        #[arg(long, default_value_t = 4)]
        login_clients: u64,
    },
    /// Tenant 0's GET by id at `--quiet-conns`, alone and then while tenant 1 runs the
    /// heaviest legal searches from `--noisy-conns` clients.
    Neighbours {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        timing: Timing,
        #[arg(long, default_value_t = 4)]
        quiet_conns: u64,
        #[arg(long, default_value_t = 40)]
        noisy_conns: u64,
    },
    /// Create contact with one `contact.*` endpoint per tenant delivering to a receiver
    /// in this process (the server needs CRM_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8), then
    /// the drain of what is still queued; the endpoints are deleted at the end.
    Webhooks {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        timing: Timing,
        #[arg(long, default_value_t = 64)]
        conns: u64,
        /// Seconds the drain may wait, after the load, for the last event.
        #[arg(long, default_value_t = 120)]
        drain_timeout: u64,
        /// No drain: the create rate alone (the write path, against a server run with
        /// CRM_RUN_WORKER=false).
        #[arg(long)]
        no_wait: bool,
    },
    /// Write the markdown report of a results file.
    Report {
        #[arg(long)]
        results: PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// The command that produced the results (quoted in the report).
        #[arg(long)]
        command: String,
        /// The dataset of the main table (the other one is used for scaling).
        #[arg(long, default_value = "large")]
        main_dataset: String,
        /// Notes added under the tables (pool size, caveats).
        #[arg(long)]
        note: Vec<String>,
    },
}

/// One line of a results file.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Api {
        dataset: String,
        scenario: Scenario,
        conns: u64,
        summary: Summary,
    },
    Pgbench {
        dataset: String,
        scenario: Scenario,
        conns: u64,
        form: Form,
        summary: PgbenchSummary,
    },
    Hold {
        dataset: String,
        summary: HoldSummary,
    },
    Logins {
        dataset: String,
        conns: u64,
        login_clients: u64,
        reads: Summary,
        logins: Summary,
    },
    Neighbours {
        dataset: String,
        summary: neighbours::NeighbourSummary,
    },
    Webhooks {
        dataset: String,
        summary: webhooks::WebhookSummary,
    },
}

fn record(results: Option<&Path>, record: &Record) -> Result<()> {
    if let Some(path) = results {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{}", serde_json::to_string(record)?)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("crm-bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The benchmark database as its owner (`DATABASE_URL`).
fn owner_url() -> String {
    env(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/crm_bench",
    )
}

fn pg_target() -> Result<PgTarget> {
    PgTarget::from_owner_url(
        &owner_url(),
        &env("CRM_APP_ROLE", "crm_app"),
        &env("CRM_APP_PASSWORD", "crm_app"),
    )
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Seed {
            small,
            large,
            tenants,
            contacts_per_tenant,
            companies_per_tenant,
            appointments,
            practitioners,
            data,
        } => {
            let (name, tenants, contacts_per_tenant, appointments) = match (small, large) {
                (true, _) => ("small".to_owned(), 10, 1000, 20_000),
                (_, true) => ("large".to_owned(), 1000, 1000, 1_000_000),
                _ => (
                    format!("{tenants}x{contacts_per_tenant}"),
                    tenants,
                    contacts_per_tenant,
                    appointments,
                ),
            };
            seed::seed(
                seed::SeedArgs {
                    name,
                    tenants,
                    contacts_per_tenant,
                    companies_per_tenant,
                    appointments,
                    practitioners,
                },
                &data,
            )
            .await?;
        }
        Command::Load {
            common,
            timing,
            scenario,
            conns,
        } => {
            let dataset = Arc::new(Dataset::load(&common.data)?);
            for conns in conns {
                api(&common, &timing, &dataset, scenario, conns).await?;
            }
        }
        Command::Pgbench {
            common,
            timing,
            scenario,
            conns,
            print,
        } => {
            let dataset = Dataset::load(&common.data)?;
            if print {
                let claims = pgbench::mint_claims(&owner_url(), &dataset).await?;
                for form in [Form::Statements, Form::Pipelined] {
                    for (part, _) in parts(scenario) {
                        println!(
                            "-- {} ({form:?})\n{}",
                            part.name(),
                            pgbench::script(&dataset, part, form, &claims)?
                        );
                    }
                }
                return Ok(());
            }
            for conns in conns {
                for form in [Form::Statements, Form::Pipelined] {
                    pg(&common, &timing, &dataset, scenario, conns, form).await?;
                }
            }
        }
        Command::Suite {
            common,
            timing,
            scenarios,
            conns,
            no_pgbench,
        } => {
            let dataset = Arc::new(Dataset::load(&common.data)?);
            let scenarios = if scenarios.is_empty() {
                Scenario::SUITE.to_vec()
            } else {
                scenarios
            };
            for scenario in scenarios {
                for &conns in &conns {
                    let api = api(&common, &timing, &dataset, scenario, conns).await?;
                    if no_pgbench {
                        continue;
                    }
                    let stmt = pg(
                        &common,
                        &timing,
                        &dataset,
                        scenario,
                        conns,
                        Form::Statements,
                    )
                    .await?;
                    let pipe =
                        pg(&common, &timing, &dataset, scenario, conns, Form::Pipelined).await?;
                    println!(
                        "{:<26} {:>4} conns  API/pgbench: {} statement by statement, {} pipelined",
                        scenario.name(),
                        conns,
                        pgbench::ratio(api.rps, stmt.tps),
                        pgbench::ratio(api.rps, pipe.tps),
                    );
                }
            }
        }
        Command::Hold {
            common,
            conns,
            duration,
            interval_ms,
            server_pid,
        } => {
            let dataset = Arc::new(Dataset::load(&common.data)?);
            let target = Target {
                addr: common.server,
            };
            let summary = load::hold(
                &target,
                Arc::clone(&dataset),
                conns,
                Duration::from_secs(duration),
                Duration::from_millis(interval_ms),
                server_pid,
            )
            .await?;
            println!(
                "hold {} conns ({} connected) {}s, GET every {} ms: {}  server RSS max {:.0} MB, at end {:.0} MB",
                summary.conns,
                summary.connected,
                summary.seconds,
                summary.interval_ms,
                summary.requests,
                summary.server_rss_max_mb,
                summary.server_rss_end_mb
            );
            record(
                common.results.as_deref(),
                &Record::Hold {
                    dataset: dataset.name.clone(),
                    summary,
                },
            )?;
        }
        Command::Logins {
            common,
            timing,
            conns,
            login_clients,
        } => {
            let dataset = Arc::new(Dataset::load(&common.data)?);
            let target = Target {
                addr: common.server,
            };
            let (reads, logins) = load::logins(
                &target,
                Arc::clone(&dataset),
                conns,
                login_clients,
                Duration::from_secs(timing.warmup),
                Duration::from_secs(timing.duration),
            )
            .await?;
            println!("GET by id, {conns} conns, while {login_clients} clients log in: {reads}");
            println!("logins ({login_clients} clients):{logins}");
            record(
                common.results.as_deref(),
                &Record::Logins {
                    dataset: dataset.name.clone(),
                    conns,
                    login_clients,
                    reads,
                    logins,
                },
            )?;
        }
        Command::Neighbours {
            common,
            timing,
            quiet_conns,
            noisy_conns,
        } => {
            let dataset = Arc::new(Dataset::load(&common.data)?);
            let target = Target {
                addr: common.server,
            };
            let summary = neighbours::run(
                &target,
                Arc::clone(&dataset),
                quiet_conns,
                noisy_conns,
                Duration::from_secs(timing.warmup),
                Duration::from_secs(timing.duration),
            )
            .await?;
            println!("noisy neighbour: tenant A's GET by id ({quiet_conns} conns)");
            println!("  alone                               {}", summary.alone);
            println!(
                "  while B searches ({noisy_conns:>3} conns)       {}",
                summary.beside_noise
            );
            println!("  B's searches                        {}", summary.noise);
            println!(
                "  A's p99 under load / quiet p99: {:.2}x (goal < 3x)",
                summary.p99_ratio()
            );
            record(
                common.results.as_deref(),
                &Record::Neighbours {
                    dataset: dataset.name.clone(),
                    summary,
                },
            )?;
        }
        Command::Webhooks {
            common,
            timing,
            conns,
            drain_timeout,
            no_wait,
        } => {
            let dataset = Arc::new(Dataset::load(&common.data)?);
            let target = Target {
                addr: common.server,
            };
            let options = webhooks::Options {
                conns,
                warmup: Duration::from_secs(timing.warmup),
                duration: Duration::from_secs(timing.duration),
                drain_timeout: (!no_wait).then(|| Duration::from_secs(drain_timeout)),
            };
            let summary = webhooks::run(&target, Arc::clone(&dataset), options).await?;
            println!("{summary}");
            record(
                common.results.as_deref(),
                &Record::Webhooks {
                    dataset: dataset.name.clone(),
                    summary,
                },
            )?;
        }
        Command::Report {
            results,
            out,
            command,
            main_dataset,
            note,
        } => {
            let markdown = report::render(&results, &command, &main_dataset, &note).await?;
            let existing = std::fs::read_to_string(&out).ok();
            std::fs::write(&out, report::keep_hand_runs(&markdown, existing.as_deref()))?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

fn parts(scenario: Scenario) -> Vec<(Scenario, u32)> {
    match scenario {
        Scenario::Mix => Scenario::mix().to_vec(),
        one => vec![(one, 1)],
    }
}

async fn api(
    common: &Common,
    timing: &Timing,
    dataset: &Arc<Dataset>,
    scenario: Scenario,
    conns: u64,
) -> Result<Summary> {
    let target = Target {
        addr: common.server,
    };
    let summary = load::run(
        &target,
        Arc::clone(dataset),
        scenario,
        conns,
        Duration::from_secs(timing.warmup),
        Duration::from_secs(timing.duration),
    )
    .await?;
    println!(
        "{:<26} {:>4} conns  API      {summary}",
        scenario.name(),
        conns
    );
    record(
        common.results.as_deref(),
        &Record::Api {
            dataset: dataset.name.clone(),
            scenario,
            conns,
            summary: summary.clone(),
        },
    )?;
    Ok(summary)
}

async fn pg(
    common: &Common,
    timing: &Timing,
    dataset: &Dataset,
    scenario: Scenario,
    conns: u64,
    form: Form,
) -> Result<PgbenchSummary> {
    let dir = common.data.join("pgbench");
    let claims = pgbench::mint_claims(&owner_url(), dataset).await?;
    let args = pgbench::write_scripts(dataset, scenario, form, &dir, &claims)?;
    let headroom = pgbench::connection_headroom(&owner_url()).await?;
    let clients = conns.min(headroom);
    let summary = pgbench::run(&pg_target()?, &args, clients, timing.duration).await?;
    let label = match form {
        Form::Statements => "pgbench statement by statement",
        Form::Pipelined => "pgbench pipelined",
    };
    println!(
        "{:<26} {:>4} conns  {label}: {:.0} tps with {} clients, latency avg {:.2} ms, failed {}",
        scenario.name(),
        conns,
        summary.tps,
        summary.clients,
        summary.latency_avg_ms,
        summary.failed
    );
    record(
        common.results.as_deref(),
        &Record::Pgbench {
            dataset: dataset.name.clone(),
            scenario,
            conns,
            form,
            summary: summary.clone(),
        },
    )?;
    Ok(summary)
}
