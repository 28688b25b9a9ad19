//! `testbed up|down|env|serve`: the local OKE-like testbed.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pgvip_e2e::{
    layout::Layout,
    patroni::{PatroniFlavor, PatroniOptions},
    testbed::{down, state_dir},
    Testbed, UpOptions,
};

#[derive(Parser)]
#[command(about = "pgvip's local OKE-like testbed")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bring the testbed up (tearing down leftovers first) and print the env file path.
    Up {
        /// Run Debian's Patroni 3.0.2 instead of Patroni 4.x.
        #[arg(long)]
        patroni3: bool,
        /// Patroni `kubernetes.use_endpoints` mode.
        #[arg(long)]
        use_endpoints: bool,
    },
    /// Tear everything down; safe to run at any time.
    Down,
    /// Print the env file of the running testbed.
    Env,
    /// Start pgvip on the running testbed: one node-agent per worker and a controller.
    Pgvip {
        /// Run the controller without the cloud move (reproduces the bug pgvip fixes).
        #[arg(long)]
        no_cloud: bool,
    },
    /// Internal: the supervisor process (forwarders, node heartbeats).
    Serve,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let layout = Layout::standard(state_dir());
    let res = match Cli::parse().cmd {
        Cmd::Up {
            patroni3,
            use_endpoints,
        } => {
            let flavor = if patroni3 {
                PatroniFlavor::V3Debian
            } else {
                PatroniFlavor::V4
            };
            let opts = UpOptions {
                patroni: PatroniOptions {
                    flavor,
                    use_endpoints,
                    ..Default::default()
                },
            };
            Testbed::up(&opts)
                .await
                .map(|tb| println!("{}", tb.layout.path(pgvip_e2e::envfile::ENV_FILE).display()))
        }
        Cmd::Down => down(&layout),
        Cmd::Env => std::fs::read_to_string(layout.path(pgvip_e2e::envfile::ENV_FILE))
            .map(|t| print!("{t}"))
            .map_err(|e| pgvip_e2e::Error::Other(format!("no testbed is up: {e}"))),
        Cmd::Serve => pgvip_e2e::serve::run(layout).await,
        Cmd::Pgvip { no_cloud } => start_pgvip(&layout, no_cloud),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testbed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start_pgvip(layout: &Layout, no_cloud: bool) -> pgvip_e2e::Result<()> {
    use pgvip_e2e::pgvip::{start_agent, start_controller, CloudMode};
    for n in &layout.nodes {
        start_agent(layout, n)?;
    }
    start_controller(
        layout,
        0,
        if no_cloud {
            CloudMode::None
        } else {
            CloudMode::Cloud
        },
    )?;
    println!("pgvip started; logs in {}", layout.path("logs").display());
    Ok(())
}
