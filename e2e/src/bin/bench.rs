//! `bench`: pgvip's benchmarks on the local testbed, printing figures (never pass/fail).
//! `bench failover` compares app-visible write outages of pgvip, HAProxy and a Patroni callback;
//! `bench scale` runs one controller against many PostgresVips and a leader-change storm;
//! `bench agent` measures the node-agent's footprint and status-to-address latency;
//! `bench all` runs those three. Each run writes `benchmarks/results/<date>-<host>.json` (or
//! `--out`), an SVG plot next to it, and prints a table. `bench chaos` soaks the failover
//! suite's nine disturbances (`benchmarks/results/<date>-chaos.json`). Run them under the
//! testbed lock: `flock /tmp/pgvip-testbed.lock ./target/debug/bench failover`.
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use clap::{Parser, Subcommand};
use pgvip_e2e::{
    bench::{
        agent, chaos, failover,
        report::{self, Machine, Results},
        scale,
    },
    Error, Result,
};

#[derive(Parser)]
#[command(about = "pgvip benchmarks on the local testbed")]
struct Cli {
    /// Results file (default: benchmarks/results/<date>-<host>.json in the repository).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Failover outage: pgvip at several cloud latencies, HAProxy, a Patroni callback (on the L2
    /// flavour: pgvip and vip-manager).
    Failover(failover::Options),
    /// Controller at scale: many PostgresVips, a leader-change storm, a rate-limited cloud.
    Scale(scale::Options),
    /// Node-agent: idle footprint and status-to-address latency.
    Agent(agent::Options),
    /// Every benchmark but chaos, one after the other.
    All(AllArgs),
    /// Soak: the failover suite's nine scenarios, --reps times each, interleaved.
    Chaos(chaos::Options),
    /// One cloud move, as a CLI would do it (used by the callback script).
    #[command(hide = true)]
    OciAssign(failover::callback::AssignArgs),
}

/// Options of `bench all`: every part's own flags.
#[derive(clap::Args)]
struct AllArgs {
    #[command(flatten)]
    failover: failover::Options,
    #[command(flatten)]
    scale: scale::Options,
    #[command(flatten)]
    agent: agent::Options,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes the results file and its plot.
fn save(path: &Path, results: &Results, report: Option<&failover::Report>) -> Result<()> {
    report::write_json(path, results)?;
    if let Some(r) = report {
        let title = format!(
            "Write outage seen by the application, {} ({} CPUs)",
            results.machine.hostname, results.machine.nproc
        );
        let svg = report::svg(&title, &r.panels());
        std::fs::write(path.with_extension("svg"), svg)
            .map_err(|e| pgvip_e2e::Error::Other(format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Runs the failover comparison, writing a checkpoint after every measurement; on failure the
/// last checkpoint's figures stay in `results`.
async fn failover_part(
    opts: &failover::Options,
    path: &Path,
    results: &mut Results,
    stop: &AtomicBool,
) -> Result<failover::Report> {
    let base = results.clone();
    let mut last = None;
    let mut checkpoint = |r: &failover::Report| {
        let mut partial = base.clone();
        partial.finished_at = now();
        partial.failover = report::to_value(r).ok();
        last = partial.failover.clone();
        if let Err(e) = save(path, &partial, Some(r)) {
            eprintln!("bench: checkpoint: {e}");
        }
    };
    let res = failover::run_with(opts, &mut checkpoint, stop).await;
    match res {
        Ok(r) => {
            results.failover = Some(report::to_value(&r)?);
            Ok(r)
        }
        Err(e) => {
            results.failover = last;
            Err(e)
        }
    }
}

/// Runs the chaos soak, writing the results file after every run and at the end.
async fn chaos_bench(opts: &chaos::Options, out: Option<&Path>, stop: &AtomicBool) -> Result<()> {
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| chaos::default_path(&pgvip_e2e::testbed::repo_root(), &date));
    let file = chaos::Results {
        machine: Machine::detect(),
        started_at: now(),
        ..Default::default()
    };
    let mut checkpoint = |r: &chaos::Report| {
        let partial = chaos::Results {
            finished_at: now(),
            chaos: r.clone(),
            ..file.clone()
        };
        if let Err(e) = report::write_json(&path, &partial) {
            eprintln!("bench: checkpoint: {e}");
        }
    };
    let (r, res) = chaos::run_with(opts, &mut checkpoint, stop).await;
    if !r.runs.is_empty() {
        print!("{}", r.table());
        let done = chaos::Results {
            finished_at: now(),
            complete: r.complete,
            chaos: r,
            ..file
        };
        report::write_json(&path, &done)?;
        println!("results: {}", path.display());
    }
    res
}

async fn bench(cli: &Cli, stop: &AtomicBool) -> Result<()> {
    let machine = Machine::detect();
    let path = cli.out.clone().unwrap_or_else(|| {
        report::default_path(
            &pgvip_e2e::testbed::repo_root(),
            &chrono::Utc::now().format("%Y-%m-%d").to_string(),
            &machine.hostname,
        )
    });
    let mut results = Results {
        machine,
        started_at: now(),
        ..Default::default()
    };
    let mut failures = vec![];
    let (f, sc, ag) = match &cli.cmd {
        Cmd::OciAssign(a) => return failover::callback::oci_assign(a).await,
        Cmd::Chaos(o) => return chaos_bench(o, cli.out.as_deref(), stop).await,
        Cmd::Failover(o) => (Some(o), None, None),
        Cmd::Scale(o) => (None, Some(o), None),
        Cmd::Agent(o) => (None, None, Some(o)),
        Cmd::All(a) => (Some(&a.failover), Some(&a.scale), Some(&a.agent)),
    };
    let mut complete = true;
    let mut plot = None;
    if let Some(o) = f {
        match failover_part(o, &path, &mut results, stop).await {
            Ok(r) => {
                print!("{}", r.table());
                complete &= r.complete;
                plot = Some(r);
            }
            Err(e) => failures.push(format!("failover: {e}")),
        }
    }
    if let Some(o) = sc {
        match scale::run(o).await {
            Ok(r) => {
                print!("{}", r.table());
                results.scale = Some(report::to_value(&r)?);
            }
            Err(e) => failures.push(format!("scale: {e}")),
        }
    }
    if let Some(o) = ag {
        match agent::run(o).await {
            Ok(r) => {
                print!("{}", r.table());
                results.agent = Some(report::to_value(&r)?);
            }
            Err(e) => failures.push(format!("agent: {e}")),
        }
    }
    results.finished_at = now();
    results.complete = complete && failures.is_empty();
    if results.failover.is_some() || results.scale.is_some() || results.agent.is_some() {
        // A failed failover part already left its plot with the last checkpoint.
        save(&path, &results, plot.as_ref())?;
        println!("results: {}", path.display());
        if plot.is_some() {
            println!("plot: {}", path.with_extension("svg").display());
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(failures.join("; ")))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::OciAssign(_)) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,kube=warn,tokio_postgres=warn".into()),
            )
            .try_init();
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            eprintln!("bench: stopping after the current measurement");
            stop.store(true, Ordering::SeqCst);
        });
    }
    match bench(&cli, &stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
