//! Scale bench: one real pgvip controller against many PostgresVips and a storm of leader
//! changes, with the cloud side served by the OCI simulator under a tenancy rate limit.
//!
//! Data flow: a private control plane ([`stack`]) → the synthetic world ([`world`],
//! [`populate`]: nodes, member pods with loopback IPs, leader locks, PostgresVips) → the REST
//! stand-in ([`rest_stub`]) answers `/primary` and `/replica` → the simulator (in process) holds
//! the cloud state → the controller binary starts; [`procstat`] samples it; [`observe`]
//! decides convergence (cloud + status) → phases: start-up confirmation, steady state, storm →
//! [`Report`]. Everything started is stopped and the state dir removed, also on error.
//!
//! There are no node-agents here, so the agent and data-path phases never complete:
//! convergence means the simulator holds each VIP on its leader's VNIC and the PostgresVip's
//! `desiredNode` and `assignedNode` both name the leader's node.

pub mod agent_reports;
pub mod figures;
pub mod observe;
pub mod populate;
pub mod procstat;
pub mod rest_stub;
pub mod stack;
pub mod world;

use std::{
    net::IpAddr,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use pgvip_cloudsim::{CallLog, RateLimit, Sim, SimConfig};
use tracing::info;

use crate::{
    cloud::{ensure_api_key, CONTROLLER_USER},
    cmd::{spawn_detached, stop_pidfile},
    error::{Context, Error, Result},
};
use observe::StatusBoard;
use procstat::Sampler;
use stack::{Ports, Stack};
use world::World;

pub use figures::{CloudPhase, Report};

/// Options of the scale bench (flags prefixed `scale-`).
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// PostgresVips (one Patroni cluster of two members each).
    #[arg(long = "scale-vips", default_value_t = 1000)]
    pub vips: usize,
    /// Worker nodes. OCI allows 32 IPv4 addresses per VNIC (the simulator enforces it), so
    /// 1,000 VIPs need at least 33 nodes' VNICs, and the storm's incoming VIPs count too.
    #[arg(long = "scale-nodes", default_value_t = 50)]
    pub nodes: usize,
    /// Clusters whose leader changes at once in the storm.
    #[arg(long = "scale-storm", default_value_t = 200)]
    pub storm: usize,
    /// Simulated OCI rate limit for the tenancy, requests per second (OCI does not publish its
    /// Core networking limits; 10/s is the low end of what tenancies report).
    #[arg(long = "scale-cloud-rate", default_value_t = 10.0)]
    pub cloud_rate: f64,
    /// Burst of the simulated rate limit (token bucket size).
    #[arg(long = "scale-cloud-burst", default_value_t = 10)]
    pub cloud_burst: u32,
    /// The controller's client-side rate limit (its `--oci-rate-limit`; its default is 10).
    #[arg(long = "scale-controller-rate", default_value_t = 10.0)]
    pub controller_rate: f64,
    /// The controller's client-side burst (its `--oci-rate-burst`; its default is 20).
    #[arg(long = "scale-controller-burst", default_value_t = 20)]
    pub controller_burst: u32,
    /// Seconds between leader-lock renewals of each cluster (Patroni's `loop_wait`).
    #[arg(long = "scale-renew-seconds", default_value_t = 10)]
    pub renew_seconds: u64,
    /// Seconds of steady state measured after start-up.
    #[arg(long = "scale-settle-seconds", default_value_t = 30)]
    pub settle_seconds: u64,
    /// Longest wait for one phase to converge, seconds.
    #[arg(long = "scale-timeout-seconds", default_value_t = 900)]
    pub timeout_seconds: u64,
    /// Port of the members' REST stand-in on every pod IP (127.77.x.y).
    #[arg(long = "scale-rest-port", default_value_t = 18008)]
    pub rest_port: u16,
    /// Write stand-in node-agent reports (and run the controller with
    /// `--verify-data-path=false`, since the VIPs are not reachable here). Without them the
    /// controller's failovers wait for agents forever; see `agent_reports`.
    #[arg(long = "scale-agent-reports", default_value_t = true, action = clap::ArgAction::Set)]
    pub agent_reports: bool,
    /// The controller binary (default: `pgvip-controller` next to the bench binary).
    #[arg(long = "scale-controller-bin")]
    pub controller_bin: Option<PathBuf>,
    /// The controller's RUST_LOG.
    #[arg(long = "scale-controller-log", default_value = "info")]
    pub controller_log: String,
    /// State directory (deleted at the end).
    #[arg(long = "scale-state-dir", default_value = "/tmp/pgvip-bench-scale")]
    pub state_dir: PathBuf,
    /// First of the loopback ports used: etcd, etcd peer, apiserver, controller metrics.
    #[arg(long = "scale-base-port", default_value_t = 24370)]
    pub base_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            vips: 1000,
            nodes: 50,
            storm: 200,
            cloud_rate: 10.0,
            cloud_burst: 10,
            controller_rate: 10.0,
            controller_burst: 20,
            renew_seconds: 10,
            settle_seconds: 30,
            timeout_seconds: 900,
            rest_port: 18008,
            agent_reports: true,
            controller_bin: None,
            controller_log: "info".into(),
            state_dir: PathBuf::from("/tmp/pgvip-bench-scale"),
            base_port: 24370,
        }
    }
}

/// Runs the bench once and tears everything down.
pub async fn run(opts: &Options) -> Result<Report> {
    let world = World {
        clusters: opts.vips,
        nodes: opts.nodes,
        rest_port: opts.rest_port,
    };
    world.validate().map_err(Error::Other)?;
    let peak = world.peak_ips_per_vnic(&world.storm_clusters(opts.storm));
    if peak > pgvip_cloudsim::state::MAX_IPS_PER_VNIC {
        return Err(Error::Other(format!(
            "the storm would put {peak} addresses on one VNIC; OCI allows {}: use more --scale-nodes",
            pgvip_cloudsim::state::MAX_IPS_PER_VNIC
        )));
    }
    let bin = match &opts.controller_bin {
        Some(p) => p.clone(),
        None => crate::pgvip::binary("pgvip-controller")?,
    };
    let ports = Ports::from_base(opts.base_port);
    let stack = Stack::up(&opts.state_dir, ports).await?;
    let res = run_on(&stack, &world, opts, &bin).await;
    if let Err(error) = &res {
        let logs = stack.save_logs();
        tracing::warn!(%error, logs = %logs.display(), "bench failed; logs kept");
    }
    stack.down();
    res
}

/// Everything that runs while the control plane is up.
async fn run_on(stack: &Stack, world: &World, opts: &Options, bin: &PathBuf) -> Result<Report> {
    let t_setup = Instant::now();
    let oci = stack.layout.path("oci");
    let fp = ensure_api_key(&oci)?;
    let pub_pem = std::fs::read_to_string(oci.join("api-key.pub")).ctx("reading the API key")?;
    let key_pem = std::fs::read_to_string(oci.join("api-key.pem")).ctx("reading the API key")?;
    let mut cfg = SimConfig::new(
        world.inventory(CONTROLLER_USER, &pub_pem, &fp),
        oci.join("ca.crt"),
    );
    cfg.rate_limit = Some(RateLimit {
        per_second: opts.cloud_rate,
        burst: opts.cloud_burst,
    });
    // Instance identities are unused here; one ready key avoids slow key generation.
    cfg.key_pool = vec![key_pem; world.nodes + 1];
    let sim = Sim::start(cfg)
        .await
        .map_err(|e| Error::Other(format!("OCI simulator: {e}")))?;
    let roles = rest_stub::Roles::default();
    let mut ips = Vec::new();
    for c in 0..world.clusters {
        for m in 0..world::MEMBERS {
            let ip = world.pod_ip(c, m);
            roles.set(
                ip,
                rest_stub::Member {
                    scope: world.scope(c),
                    name: world.member(c, m),
                    primary: m == 0,
                },
            );
            ips.push(ip);
        }
    }
    let mut tasks = rest_stub::serve(&roles, &ips, world.rest_port).await?;
    let board = StatusBoard::default();
    tasks.push(board.watch(&stack.client));
    if opts.agent_reports {
        tasks.push(agent_reports::spawn(&stack.client));
    }
    let result = async {
        populate::populate(&stack.client, world).await?;
        tasks.push(populate::spawn_renewer(
            &stack.client,
            *world,
            Duration::from_secs(opts.renew_seconds),
        ));
        info!(
            vips = world.clusters,
            secs = t_setup.elapsed().as_secs_f32(),
            "world populated"
        );
        phases(stack, world, opts, bin, &sim, &roles, &board).await
    }
    .await;
    let _ = stop_pidfile(&stack.pidfile("controller"), Duration::from_secs(5));
    for t in tasks {
        t.abort();
    }
    sim.shutdown().await;
    result
}

/// Starts the controller and measures start-up, steady state and the storm.
async fn phases(
    stack: &Stack,
    world: &World,
    opts: &Options,
    bin: &PathBuf,
    sim: &pgvip_cloudsim::SimHandle,
    roles: &rest_stub::Roles,
    board: &StatusBoard,
) -> Result<Report> {
    let calls = sim.call_log();
    let cloud = |ip: IpAddr| sim.assignment(ip);
    let limit = Duration::from_secs(opts.timeout_seconds);
    let kc = stack.kubeconfig_for(
        &stack.layout.system_namespace,
        "pgvip-controller",
        "kubeconfig-controller",
    )?;
    let mut cmd = controller_command(stack, opts, bin, &kc, sim.core_url());
    let t_start = Instant::now();
    let pid = spawn_detached(
        &mut cmd,
        &stack.pidfile("controller"),
        &stack.layout.path("logs/controller.log"),
    )?;
    let sampler = Sampler::start(pid, Duration::from_millis(250));
    info!(pid, binary = %bin.display(), "controller started");

    // Start-up: every VIP confirmed on its first leader.
    let all: Vec<(usize, usize)> = (0..world.clusters).map(|c| (c, 0)).collect();
    let done = observe::wait_converged(world, board, &cloud, &all, t_start, limit).await;
    let startup = CloudPhase::measure(
        &done,
        &calls.records(),
        opts,
        sampler.window(t_start),
        world.clusters,
    );
    info!(secs = ?startup.converge_secs, "start-up confirmed");

    // Steady state.
    let t_steady = Instant::now();
    tokio::time::sleep(Duration::from_secs(opts.settle_seconds)).await;
    let steady = sampler.window(t_steady);

    // Storm: the replica of each chosen cluster becomes primary, then takes the lock.
    let storm = world.storm_clusters(opts.storm);
    let n_before = calls.records().len();
    for &c in &storm {
        roles.set_primary(world.pod_ip(c, 1), true);
        roles.set_primary(world.pod_ip(c, 0), false);
    }
    let t_storm = Instant::now();
    populate::take_over(&stack.client, world, &storm, 1).await?;
    let targets: Vec<(usize, usize)> = storm.iter().map(|&c| (c, 1)).collect();
    let done = observe::wait_converged(world, board, &cloud, &targets, t_storm, limit).await;
    let storm_calls: Vec<_> = calls.records().into_iter().skip(n_before).collect();
    let storm_phase = CloudPhase::measure(
        &done,
        &storm_calls,
        opts,
        sampler.window(t_storm),
        storm.len(),
    );
    info!(secs = ?storm_phase.converge_secs, "storm converged");
    let peak = sampler.window(t_start);
    Ok(Report::new(
        opts,
        bin,
        startup,
        steady,
        storm_phase,
        peak,
        calls_total(&calls),
    ))
}

fn calls_total(calls: &CallLog) -> usize {
    calls.records().len()
}

/// The controller's command line: the real binary with the chart's flags, pointed at the
/// bench's apiserver and simulator.
fn controller_command(
    stack: &Stack,
    opts: &Options,
    bin: &PathBuf,
    kubeconfig: &std::path::Path,
    core_url: &str,
) -> Command {
    let l = &stack.layout;
    let mut cmd = Command::new(bin);
    cmd.env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", "pgvip-controller-bench")
        .env("POD_NAMESPACE", &l.system_namespace)
        .env("RUST_LOG", &opts.controller_log)
        // As deployed: no backtrace capture on every error (a developer's shell may set it).
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .args(["--log-format", "json"])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{}", opts.base_port + 3),
        ])
        .args(["--leader-election-namespace", &l.system_namespace])
        .args(["--cloud-provider", "oci", "--oci-auth", "api-key"])
        .args([
            "--oci-region",
            "us-phoenix-1",
            "--oci-tenancy",
            world::TENANCY,
        ])
        .args(["--oci-user", CONTROLLER_USER])
        .args([
            "--oci-fingerprint",
            std::fs::read_to_string(l.path("oci/api-key.fingerprint"))
                .unwrap_or_default()
                .trim(),
        ])
        .arg("--oci-private-key-file")
        .arg(l.path("oci/api-key.pem"))
        .args(["--oci-core-endpoint", core_url])
        .arg("--oci-ca-bundle")
        .arg(l.path("oci/ca.crt"))
        .args(["--oci-rate-limit", &opts.controller_rate.to_string()])
        .args(["--oci-rate-burst", &opts.controller_burst.to_string()]);
    if opts.agent_reports {
        cmd.arg("--verify-data-path=false");
    }
    cmd
}

#[cfg(test)]
mod run_once {
    /// Manual entry point while the `bench` binary does not call this part (root; minutes):
    /// `PGVIP_BENCH_CONTROLLER=target/release/pgvip-controller cargo test -p pgvip-e2e --lib
    /// bench::scale::run_once -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn defaults() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,kube=warn,pgvip_cloudsim=warn")
            .try_init();
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            opts: super::Options,
        }
        // Extra flags, e.g. PGVIP_BENCH_SCALE_ARGS="--scale-vips 100 --scale-nodes 10".
        let extra = std::env::var("PGVIP_BENCH_SCALE_ARGS").unwrap_or_default();
        let args = std::iter::once("bench").chain(extra.split_whitespace());
        let mut opts = <Cli as clap::Parser>::parse_from(args).opts;
        opts.controller_bin = std::env::var_os("PGVIP_BENCH_CONTROLLER").map(Into::into);
        let r = super::run(&opts).await.unwrap();
        println!("{}", r.table());
        println!("{}", serde_json::to_string_pretty(&r).unwrap());
    }
}
