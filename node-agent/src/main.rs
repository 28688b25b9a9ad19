//! `pgvip-node-agent`: wires flags, logging, netlink, the AF_PACKET announcer, the kube
//! watchers, the status reporter and the metrics/health server to the agent loop.

use std::process::ExitCode;

use clap::Parser;
use pgvip_node_agent::agent::{Agent, AgentConfig};
use pgvip_node_agent::announce::Announcer;
use pgvip_node_agent::config::{Args, LogFormat};
use pgvip_node_agent::metrics::Metrics;
use pgvip_node_agent::netlink::Netlink;
use pgvip_node_agent::{heartbeat, http, local, report, reserved, watch, Error};
use tokio::sync::{mpsc, watch as signal_watch};
use tracing::{error, info};

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, category = e.category(), "node-agent failed");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(args: Args) -> Result<(), Error> {
    args.validate()?;
    let metrics = Metrics::new();
    // Privileged resources first, so a missing capability fails the start visibly.
    let net = Netlink::connect()?;
    let announcer = Announcer::open(metrics.clone())?;
    let client = kube::Client::try_default().await.map_err(Error::Kube)?;

    let scopes = args.scopes();
    let (input_tx, input_rx) = mpsc::channel(1024);
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let agent = Agent::new(
        AgentConfig {
            node: args.node_name.clone(),
            hold: args.hold(),
            resync: args.resync(),
            scopes: scopes.clone(),
            release_on_exit: args.release_on_exit,
        },
        net,
        announcer,
        report_tx,
        metrics.clone(),
    );
    // The local member check asks a pod IP on this node: never through a proxy.
    let local_http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| Error::Config(format!("HTTP client for the local member check: {e}")))?;
    let (targets_tx, targets_rx) = signal_watch::channel(Default::default());
    let agent = agent.with_local_targets(targets_tx);
    let (stop_tx, stop_rx) = signal_watch::channel(false);
    let http_task = tokio::spawn(http::serve(
        args.metrics_addr,
        metrics.clone(),
        agent.readiness(),
        stopped(stop_rx.clone()),
    ));
    let mut tasks = watch::spawn_watches(&client, &args.node_name, &scopes, &input_tx);
    tasks.push(tokio::spawn(reserved::run(
        client.clone(),
        args.node_name.clone(),
        input_tx.clone(),
    )));
    tasks.push(tokio::spawn(local::run(
        targets_rx,
        client.clone(),
        local_http,
        input_tx.clone(),
    )));
    tasks.push(tokio::spawn(watch::probe(
        client.clone(),
        watch::probe_interval(args.hold()),
        input_tx,
    )));
    match &args.heartbeat_namespace {
        Some(ns) => tasks.push(tokio::spawn(heartbeat::run(
            client.clone(),
            ns.clone(),
            args.node_name.clone(),
            args.heartbeat(),
        ))),
        None => tracing::warn!("no --heartbeat-namespace (POD_NAMESPACE): no heartbeat Lease; failover readiness will report this node's agent as not running"),
    }
    tasks.push(tokio::spawn(report::run(
        client,
        args.node_name.clone(),
        report_rx,
        metrics,
    )));
    info!(node = %args.node_name, ?scopes, hold_seconds = args.hold_seconds, resync_seconds = args.resync_seconds, metrics_addr = %args.metrics_addr, "starting");

    agent.run(input_rx, terminated()).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
    match http_task.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Completes on SIGTERM or SIGINT.
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot install the SIGTERM handler");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
    }
}

/// Completes once `true` is sent on the stop channel.
async fn stopped(mut rx: signal_watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
