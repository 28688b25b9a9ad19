//! `cloudsim`: runs one cloud front (OCI by default, or `--cloud aws`) from an inventory
//! file over the fabric, prints its URLs as one JSON line on stdout when ready, and stops
//! on SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use pgvip_cloudsim::aws::{AwsInventory, AwsSim, AwsSimConfig};
use pgvip_cloudsim::{FabricConfig, FabricMode, Inventory, RateLimit, Sim, SimConfig};

/// Which cloud front to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Cloud {
    /// OCI Core Services, federation, OKE workload identity, IMDS.
    Oci,
    /// Amazon EC2 Query API and IMDSv2.
    Aws,
}

/// Cloud control-plane simulator for the pgvip testbed.
#[derive(Parser, Debug)]
#[command(name = "cloudsim")]
struct Args {
    /// The cloud front.
    #[arg(long, value_enum, default_value = "oci")]
    cloud: Cloud,
    /// Inventory JSON file (an OCI `Inventory` or, with `--cloud aws`, an `AwsInventory`).
    #[arg(long)]
    inventory: PathBuf,
    /// Where to write the CA certificate (PEM).
    #[arg(long)]
    ca_out: PathBuf,
    /// Core API (OCI) or EC2 API (AWS) listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Auth (federation) listen address.
    #[arg(long)]
    auth_listen: Option<SocketAddr>,
    /// OKE proxymux listen address.
    #[arg(long)]
    proxymux_listen: Option<SocketAddr>,
    /// Admin listen address (plain HTTP).
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// IP for per-instance IMDS listeners.
    #[arg(long)]
    imds_ip: Option<IpAddr>,
    /// Extra TLS certificate names (repeatable).
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
    /// Fabric network namespace (enables the fabric).
    #[arg(long)]
    fabric_netns: Option<String>,
    /// Fabric bridge.
    #[arg(long, default_value = "br0")]
    fabric_bridge: String,
    /// Fabric mode: mac-sticky or assignment-routed.
    #[arg(long, default_value = "mac-sticky")]
    fabric_mode: String,
    /// Fabric propagation delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    fabric_delay_ms: u64,
    /// Session token lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    token_ttl_secs: u64,
    /// Rate limit: requests per second per tenancy (with --rate-burst).
    #[arg(long)]
    rate_per_second: Option<f64>,
    /// File of PEM RSA private keys to use instead of generating (slow in debug builds).
    #[arg(long)]
    key_pool: Option<PathBuf>,
    /// Rate limit burst.
    #[arg(long, default_value_t = 10)]
    rate_burst: u32,
    /// AWS: delay before a reassigned address is visible on its new interface.
    #[arg(long, default_value_t = 30)]
    remap_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow_free::Result {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mode = match args.fabric_mode.as_str() {
        "mac-sticky" => FabricMode::MacSticky,
        "assignment-routed" => FabricMode::AssignmentRouted,
        other => return Err(format!("unknown fabric mode {other}").into()),
    };
    let fabric = args.fabric_netns.clone().map(|netns| FabricConfig {
        netns,
        bridge: args.fabric_bridge.clone(),
        mode,
        propagation_delay: Duration::from_millis(args.fabric_delay_ms),
    });
    let rate_limit = args.rate_per_second.map(|per_second| RateLimit {
        per_second,
        burst: args.rate_burst,
    });
    let raw = std::fs::read(&args.inventory)?;
    match args.cloud {
        Cloud::Oci => {
            let mut cfg = SimConfig::new(serde_json::from_slice::<Inventory>(&raw)?, args.ca_out);
            cfg.listen = args.listen;
            cfg.auth_listen = args.auth_listen;
            cfg.proxymux_listen = args.proxymux_listen;
            cfg.admin_listen = args.admin_listen;
            cfg.imds_ip = args.imds_ip;
            cfg.tls_names = args.tls_names;
            if let Some(p) = &args.key_pool {
                cfg.key_pool =
                    pgvip_cloudsim::keys::split_pem_private_keys(&std::fs::read_to_string(p)?);
            }
            cfg.token_ttl = Duration::from_secs(args.token_ttl_secs);
            cfg.rate_limit = rate_limit;
            cfg.fabric = fabric;
            let sim = Sim::start(cfg).await?;
            println!("{}", serde_json::to_string(sim.urls())?);
            wait_for_signal().await?;
            sim.shutdown().await;
        }
        Cloud::Aws => {
            let mut cfg = AwsSimConfig::new(serde_json::from_slice::<AwsInventory>(&raw)?);
            cfg.listen = args.listen;
            cfg.admin_listen = args.admin_listen;
            cfg.imds_ip = args.imds_ip;
            cfg.tls_names = args.tls_names;
            cfg.ca_out = Some(args.ca_out);
            cfg.rate_limit = rate_limit;
            cfg.fabric = fabric;
            cfg.remap_delay = Duration::from_millis(args.remap_delay_ms);
            let sim = AwsSim::start(cfg).await?;
            println!("{}", serde_json::to_string(sim.urls())?);
            wait_for_signal().await?;
            sim.shutdown().await;
        }
    }
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// `main`'s result without pulling in an error crate.
mod anyhow_free {
    /// Any error, printed by the runtime on exit.
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
