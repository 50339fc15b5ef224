//! BENCHMARKS.md from a results file: the main table (API beside pgbench), scaling
//! from the small to the large data set, connections held, logins, the noisy
//! neighbour, webhooks under load, and the machine.

use std::{fmt::Write as _, path::Path};

use crate::{
    Record, Result,
    load::{Scenario, Summary},
    pgbench::Form,
};

/// The line above which the report is generated; what follows it in an existing
/// BENCHMARKS.md (figures measured by hand) is kept when the report is written again.
pub const HAND_RUNS: &str =
    "<!-- Hand-run sections follow; `crm-bench report` keeps everything below this line. -->";

/// `generated` followed by the hand-run sections of `existing` (the file being
/// replaced), from [`HAND_RUNS`] on; `generated` alone when there are none.
pub fn keep_hand_runs(generated: &str, existing: Option<&str>) -> String {
    match existing.and_then(|old| old.find(HAND_RUNS).map(|at| &old[at..])) {
        Some(hand_runs) => format!("{}\n\n{hand_runs}", generated.trim_end()),
        None => generated.to_owned(),
    }
}

pub async fn render(results: &Path, command: &str, main: &str, notes: &[String]) -> Result<String> {
    let records: Vec<Record> = std::fs::read_to_string(results)?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let mut md = String::new();
    writeln!(md, "# Benchmarks\n")?;
    writeln!(
        md,
        "Produced by `{command}` on {} (issue 5). API: the release server, `crm-bench` \
         closed-loop keep-alive clients. pgbench: the same SQL as the application role \
         `crm_app`, `-M prepared -j 2`, statement by statement and in one pipeline. \
         Load generator, server and PostgreSQL share the machine.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )?;
    writeln!(md, "## Machine\n\n{}", machine().await)?;
    writeln!(md, "{}", include_str!("about.md"))?;

    writeln!(md, "## Throughput and latency ({main} data set)\n")?;
    writeln!(
        md,
        "| scenario | conns | req/s | p50 ms | p99 ms | errors | pgbench stmt tps | pgbench pipelined tps | API/stmt | API/pipelined |"
    )?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for &scenario in Scenario::SUITE.iter().chain(&Scenario::CLINIC) {
        for record in &records {
            let Record::Api {
                dataset,
                scenario: s,
                conns,
                summary,
            } = record
            else {
                continue;
            };
            if dataset != main || *s != scenario {
                continue;
            }
            let pg = |form: Form| {
                records.iter().find_map(|r| match r {
                    Record::Pgbench {
                        dataset: d,
                        scenario: s2,
                        conns: c,
                        form: f,
                        summary,
                    } if d == main && *s2 == scenario && c == conns && *f == form => Some(summary),
                    _ => None,
                })
            };
            let (stmt, pipe) = (pg(Form::Statements), pg(Form::Pipelined));
            let tps = |p: Option<&crate::pgbench::PgbenchSummary>| match p {
                Some(p) if p.clients != *conns => format!("{:.0} ({} clients)", p.tps, p.clients),
                Some(p) => format!("{:.0}", p.tps),
                None => "–".to_owned(),
            };
            let ratio = |p: Option<&crate::pgbench::PgbenchSummary>| {
                p.map_or("–".to_owned(), |p| {
                    crate::pgbench::ratio(summary.rps, p.tps)
                })
            };
            writeln!(
                md,
                "| {} | {conns} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
                scenario.name(),
                summary.rps,
                summary.p50_ms,
                summary.p99_ms,
                summary.errors,
                tps(stmt),
                tps(pipe),
                ratio(stmt),
                ratio(pipe)
            )?;
        }
    }
    writeln!(
        md,
        "\npgbench needs one PostgreSQL backend per client: where `max_connections` leaves \
         fewer, the clients it ran with are shown in brackets.\n"
    )?;

    let scaling: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Api {
                dataset,
                scenario,
                conns,
                summary,
            } if dataset != main => {
                let large = records.iter().find_map(|r2| match r2 {
                    Record::Api {
                        dataset: d,
                        scenario: s,
                        conns: c,
                        summary,
                    } if d == main && s == scenario && c == conns => Some(summary),
                    _ => None,
                })?;
                Some((dataset, scenario, conns, summary, large))
            }
            _ => None,
        })
        .collect();
    if !scaling.is_empty() {
        writeln!(
            md,
            "## Scaling: p50 with the small and the {main} data set\n"
        )?;
        writeln!(
            md,
            "| scenario | conns | p50 small ms | p50 {main} ms | ratio |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|")?;
        for (_, scenario, conns, small, large) in scaling {
            writeln!(
                md,
                "| {} | {conns} | {:.2} | {:.2} | {:.2}x |",
                scenario.name(),
                small.p50_ms,
                large.p50_ms,
                large.p50_ms / small.p50_ms.max(f64::MIN_POSITIVE)
            )?;
        }
        writeln!(md)?;
    }

    for record in &records {
        match record {
            Record::Hold {
                dataset,
                summary: h,
            } => {
                writeln!(md, "## Connections held open ({dataset} data set)\n")?;
                writeln!(
                    md,
                    "| conns | connected | seconds | GET every | req/s | p50 ms | p99 ms | errors | server RSS max MB |"
                )?;
                writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
                writeln!(
                    md,
                    "| {} | {} | {} | {} ms | {:.0} | {:.2} | {:.2} | {} | {:.0} |\n",
                    h.conns,
                    h.connected,
                    h.seconds,
                    h.interval_ms,
                    h.requests.rps,
                    h.requests.p50_ms,
                    h.requests.p99_ms,
                    h.requests.errors,
                    h.server_rss_max_mb
                )?;
            }
            Record::Logins {
                dataset,
                conns,
                login_clients,
                reads,
                logins,
            } => {
                writeln!(
                    md,
                    "## GET by id while clients log in ({dataset} data set)\n"
                )?;
                writeln!(
                    md,
                    "| GET conns | login clients | GET req/s | GET p50 ms | GET p99 ms | GET errors | logins/s | login p99 ms | login errors |"
                )?;
                writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
                writeln!(
                    md,
                    "| {conns} | {login_clients} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.0} | {} |\n",
                    reads.rps,
                    reads.p50_ms,
                    reads.p99_ms,
                    reads.errors,
                    logins.rps,
                    logins.p99_ms,
                    logins.errors
                )?;
            }
            Record::Neighbours {
                dataset,
                summary: n,
            } => {
                writeln!(md, "## Noisy neighbour ({dataset} data set)\n")?;
                writeln!(
                    md,
                    "Tenant A's GET by id at {} connections, alone and while tenant B runs the \
                     heaviest accepted searches from {} connections (goal: p99 under 3x).\n",
                    n.quiet_conns, n.noisy_conns
                )?;
                writeln!(
                    md,
                    "| A alone p50 ms | A alone p99 ms | A beside B p50 ms | A beside B p99 ms | p99 ratio | A errors | B searches/s | B refused or failed |"
                )?;
                writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|")?;
                writeln!(
                    md,
                    "| {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x | {} | {:.0} | {} |\n",
                    n.alone.p50_ms,
                    n.alone.p99_ms,
                    n.beside_noise.p50_ms,
                    n.beside_noise.p99_ms,
                    n.p99_ratio(),
                    n.alone.errors + n.beside_noise.errors,
                    n.noise.rps,
                    n.noise.errors
                )?;
            }
            _ => {}
        }
    }
    webhooks(&mut md, &records)?;
    if !notes.is_empty() {
        writeln!(md, "## Notes\n")?;
        for note in notes {
            writeln!(md, "- {note}")?;
        }
    }
    Ok(md)
}

/// The "Webhooks" section: each `webhooks` run beside its baseline, the latest
/// create-contact run on the same data set at the same connections before it in the
/// results file (bench/run runs one just before, with no endpoint).
fn webhooks(md: &mut String, records: &[Record]) -> std::fmt::Result {
    let runs: Vec<_> = records
        .iter()
        .enumerate()
        .filter_map(|(at, record)| match record {
            Record::Webhooks { dataset, summary } => Some((
                dataset,
                summary,
                baseline(&records[..at], dataset, summary.conns),
            )),
            _ => None,
        })
        .collect();
    if runs.is_empty() {
        return Ok(());
    }
    writeln!(md, "## Webhooks (issue 13)\n")?;
    writeln!(
        md,
        "Create contact with one `contact.*` endpoint per tenant, delivered to a receiver in \
         `crm-bench` on the same machine, beside the same load with no endpoint just before \
         (goal: subscribed ≥ 0.85x). End-to-end latency: the receiver's arrival minus the \
         event's `timestamp`, written in the contact's transaction (one wall clock). \
         Deliveries/s and latencies are those of the measured window of the load.\n"
    )?;
    writeln!(
        md,
        "| data set | run | conns | endpoints | create req/s, no endpoint | create req/s, subscribed | ratio | create p99 ms | errors | deliveries/s | e2e p50 ms | e2e p99 ms |"
    )?;
    writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (dataset, w, base) in &runs {
        let run = if w.delivered.requests == 0 {
            "subscribed, nothing delivered"
        } else {
            "subscribed, delivering"
        };
        let (base_rps, ratio) = base.map_or(("–".to_owned(), "–".to_owned()), |b| {
            (
                format!("{:.0}", b.rps),
                format!("{:.2}x", w.create.rps / b.rps.max(f64::MIN_POSITIVE)),
            )
        });
        let d = &w.delivered;
        let delivered = if d.requests == 0 {
            "0 | – | –".to_owned()
        } else {
            format!("{:.0} | {:.0} | {:.0}", d.rps, d.p50_ms, d.p99_ms)
        };
        writeln!(
            md,
            "| {dataset} | {run} | {} | {} | {base_rps} | {:.0} | {ratio} | {:.2} | {} | {delivered} |",
            w.conns, w.endpoints, w.create.rps, w.create.p99_ms, w.create.errors,
        )?;
    }
    if runs.iter().all(|(_, w, _)| w.drain.is_none()) {
        return writeln!(md);
    }
    writeln!(
        md,
        "\nThe drain: from the end of the load until every contact created (warm-up \
         included) has arrived.\n"
    )?;
    writeln!(
        md,
        "| data set | conns | created | received | missing | duplicates | malformed | drain s | drained events/s | e2e p50 ms | e2e p99 ms | per tenant |"
    )?;
    writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )?;
    for (dataset, w, _) in &runs {
        let Some(d) = &w.drain else { continue };
        let missing = match w.missing() {
            Some(0) | None => "0".to_owned(),
            Some(n) => format!("**{n} (MISMATCH)**"),
        };
        writeln!(
            md,
            "| {dataset} | {} | {} | {} | {missing} | {} | {} | {:.1}{} | {:.0} | {:.0} | {:.0} | {}–{} |",
            w.conns,
            w.created,
            d.received,
            d.duplicates,
            w.malformed,
            d.seconds,
            if d.timed_out { " (timed out)" } else { "" },
            d.delivered.rps,
            d.delivered.p50_ms,
            d.delivered.p99_ms,
            d.per_tenant_min,
            d.per_tenant_max
        )?;
    }
    writeln!(md)
}

/// The create-contact summary of the last API record of `dataset` at `conns`.
fn baseline<'a>(records: &'a [Record], dataset: &str, conns: u64) -> Option<&'a Summary> {
    records.iter().rev().find_map(|record| match record {
        Record::Api {
            dataset: d,
            scenario: Scenario::Create,
            conns: c,
            summary,
        } if d == dataset && *c == conns => Some(summary),
        _ => None,
    })
}

async fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let ram = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let pg = postgres_version()
        .await
        .unwrap_or_else(|err| format!("unknown ({err})"));
    format!(
        "- cores (nproc): {cores}\n- RAM: {ram}\n- CPU: {cpu}\n- kernel: {kernel}\n- PostgreSQL: {pg}\n- crm commit: {}\n",
        std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    )
}

async fn postgres_version() -> Result<String> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/crm_bench".to_owned());
    let client = crm::platform::db::owner_connect(&url.parse()?).await?;
    let row = client.query_one("SELECT version()", &[]).await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_the_report_again_keeps_the_hand_run_sections() {
        let old = format!("# Old\n\ngenerated before\n\n{HAND_RUNS}\n\n## By hand\n\n| 1 |\n");
        let kept = keep_hand_runs("# New\n\ngenerated now\n", Some(&old));
        assert_eq!(
            kept,
            format!("# New\n\ngenerated now\n\n{HAND_RUNS}\n\n## By hand\n\n| 1 |\n")
        );
        assert_eq!(
            keep_hand_runs("# New\n", Some("# Old, no marker\n")),
            "# New\n"
        );
        assert_eq!(keep_hand_runs("# New\n", None), "# New\n");
    }
}
