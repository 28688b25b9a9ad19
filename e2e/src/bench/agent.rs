//! Node-agent bench: the real `pgvip-node-agent` binary in a network namespace of its own,
//! against a private apiserver; its idle footprint, and the time from a PostgresVip status
//! write (`desiredNode = assignedNode = this node`, a fresh `cloud.assignedAt`) to the address
//! configured and to the first gratuitous ARP, measured from outside the agent.
//!
//! Data flow: private control plane ([`crate::bench::scale::stack`]) → namespace with `ens3`
//! ([`node`]) → loopback forwarder so the agent reaches the apiserver → agent started →
//! observers in the namespace ([`capture`]) → per sample: status write stamped on the wall
//! clock, then the first address event (`ip monitor`) and ARP frame (`tcpdump`) after it; then
//! the status is cleared and the address removal awaited → [`Report`]. The agent's own
//! histograms (from event receipt) are scraped at the end for comparison. Everything started
//! is stopped, the namespace deleted and the state dir removed, also on error.

pub mod capture;
pub mod node;

use std::{
    io::{Read, Write},
    net::SocketAddr,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use kube::{
    api::{Patch, PatchParams},
    Api, Client,
};
use pgvip_api::PostgresVip;
use serde::Serialize;
use serde_json::json;
use tracing::info;

use crate::{
    bench::scale::{
        figures::percentile,
        procstat,
        stack::{Ports, Stack},
        world::DB_NAMESPACE,
    },
    cmd::{spawn_detached, stop_pidfile},
    error::{Error, Result},
    fwd,
};
use capture::{Capture, Event};

/// Idle RSS goal, MiB.
pub const IDLE_RSS_GOAL_MIB: f64 = 16.0;
/// Median status-to-configured / status-to-GARP goal, ms.
pub const P50_GOAL_MS: f64 = 5.0;

const NODE: &str = "bench-node-1";
const VIP_NAME: &str = "bench-rw";
const METRICS_PORT: u16 = 9101;

/// Options of the node-agent bench (flags prefixed `agent-`).
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Status changes measured.
    #[arg(long = "agent-samples", default_value_t = 100)]
    pub samples: usize,
    /// Seconds the agent idles (watch established, one VIP not on this node) before its RSS
    /// is read.
    #[arg(long = "agent-idle-seconds", default_value_t = 10)]
    pub idle_seconds: u64,
    /// The agent binary (default: `pgvip-node-agent` next to the bench binary).
    #[arg(long = "agent-bin")]
    pub agent_bin: Option<PathBuf>,
    /// Network namespace of the node (created and deleted by the bench).
    #[arg(long = "agent-netns", default_value = "pgvip-bench-ag")]
    pub netns: String,
    /// State directory (deleted at the end).
    #[arg(long = "agent-state-dir", default_value = "/tmp/pgvip-bench-agent")]
    pub state_dir: PathBuf,
    /// First of the loopback ports used: etcd, etcd peer, apiserver.
    #[arg(long = "agent-base-port", default_value_t = 24470)]
    pub base_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            samples: 100,
            idle_seconds: 10,
            agent_bin: None,
            netns: "pgvip-bench-ag".into(),
            state_dir: PathBuf::from("/tmp/pgvip-bench-agent"),
            base_port: 24470,
        }
    }
}

/// Latency distribution in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Samples measured.
    pub n: usize,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
}

impl Latency {
    /// Pure: the distribution of `ms`.
    pub fn of(ms: &[f64]) -> Latency {
        let mut v = ms.to_vec();
        v.sort_by(f64::total_cmp);
        Latency {
            n: v.len(),
            p50_ms: percentile(&v, 0.50),
            p95_ms: percentile(&v, 0.95),
            p99_ms: percentile(&v, 0.99),
            max_ms: v.last().copied(),
        }
    }
}

/// The node-agent bench's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Agent binary measured.
    pub agent_binary: String,
    /// VmRSS after idling, MiB.
    pub idle_rss_mib: f64,
    /// VmRSS after the samples, MiB.
    pub rss_after_mib: f64,
    /// VmHWM at the end, MiB.
    pub hwm_mib: f64,
    /// Status write sent → the apiserver's answer (the part of the latency that is the
    /// apiserver's, not the agent's; the watch event goes out about then).
    pub write_ack: Latency,
    /// Status write → address added (`ip monitor`).
    pub to_configured: Latency,
    /// Status write → first ARP frame for the VIP (`tcpdump` on the node's interface).
    pub to_garp: Latency,
    /// Status write sent → the bench's own watch receives it: when the change became
    /// visible in the API.
    pub to_visible: Latency,
    /// Change visible on a watch → address added: the agent's share, including its own
    /// watch delivery.
    pub visible_to_configured: Latency,
    /// Change visible on a watch → first ARP frame.
    pub visible_to_garp: Latency,
    /// Samples where one of the two events did not come within 5 s.
    pub missed: usize,
    /// The agent's own mean, event receipt → configured, ms (its histogram).
    pub agent_configured_mean_ms: Option<f64>,
    /// The agent's own mean, event receipt → first announcement, ms.
    pub agent_announced_mean_ms: Option<f64>,
}

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2} ms"))
        .unwrap_or_else(|| "-".into())
}

impl Report {
    /// The printed table: figures with their goals.
    pub fn table(&self) -> String {
        let lat = |name: &str, l: &Latency, goal: bool| {
            let goal = if goal {
                format!("   goal p50 < {P50_GOAL_MS} ms")
            } else {
                String::new()
            };
            format!(
                "  {name:<31} n={:<4} p50 {:>9}  p95 {:>9}  p99 {:>9}  max {:>9}{goal}\n",
                l.n,
                ms(l.p50_ms),
                ms(l.p95_ms),
                ms(l.p99_ms),
                ms(l.max_ms)
            )
        };
        let mut out = String::from(
            "Node agent (real binary in its own namespace; times from the status write's wall clock\n\
             to `ip monitor` address event / `tcpdump` ARP frame in the namespace)\n",
        );
        out.push_str(&format!(
            "  {:<30} {:.1} MiB   goal < {IDLE_RSS_GOAL_MIB} MiB\n",
            "idle RSS", self.idle_rss_mib
        ));
        out.push_str(&format!(
            "  {:<30} {:.1} MiB (VmHWM {:.1} MiB)\n",
            "RSS after samples", self.rss_after_mib, self.hwm_mib
        ));
        out.push_str(&lat(
            "status write → apiserver answer",
            &self.write_ack,
            false,
        ));
        out.push_str(&lat("status write → address", &self.to_configured, false));
        out.push_str(&lat("status write → first GARP", &self.to_garp, false));
        out.push_str(&lat(
            "status write → visible on a watch",
            &self.to_visible,
            false,
        ));
        out.push_str(&lat(
            "visible on a watch → address",
            &self.visible_to_configured,
            true,
        ));
        out.push_str(&lat(
            "visible on a watch → first GARP",
            &self.visible_to_garp,
            true,
        ));
        out.push_str(&format!("  {:<30} {}\n", "missed samples", self.missed));
        out.push_str(&format!(
            "  {:<30} configured {} / announced {}\n",
            "agent's own mean (from receipt)",
            ms(self.agent_configured_mean_ms),
            ms(self.agent_announced_mean_ms)
        ));
        out
    }
}

/// Runs the bench once and tears everything down.
pub async fn run(opts: &Options) -> Result<Report> {
    let bin = match &opts.agent_bin {
        Some(p) => p.clone(),
        None => crate::pgvip::binary("pgvip-node-agent")?,
    };
    let ports = Ports::from_base(opts.base_port);
    let stack = Stack::up(&opts.state_dir, ports).await?;
    let res = match node::create(&opts.netns) {
        Ok(()) => run_on(&stack, opts, &bin).await,
        Err(e) => Err(e),
    };
    let _ = stop_pidfile(&stack.pidfile("agent"), Duration::from_secs(5));
    node::destroy(&opts.netns);
    if let Err(error) = &res {
        let logs = stack.save_logs();
        tracing::warn!(%error, logs = %logs.display(), "bench failed; logs kept");
    }
    stack.down();
    res
}

async fn run_on(stack: &Stack, opts: &Options, bin: &PathBuf) -> Result<Report> {
    let api: SocketAddr = ([127, 0, 0, 1], stack.layout.apiserver_port).into();
    let relay = fwd::spawn(&opts.netns, api, api)?;
    let res = measure(stack, opts, bin).await;
    relay.abort();
    res
}

async fn measure(stack: &Stack, opts: &Options, bin: &PathBuf) -> Result<Report> {
    let kc = stack.kubeconfig_for(
        &stack.layout.system_namespace,
        "pgvip-node-agent",
        "kubeconfig-agent",
    )?;
    let vips: Api<PostgresVip> = Api::namespaced(stack.client.clone(), DB_NAMESPACE);
    let vip = json!({"apiVersion": "pgvip.dev/v1alpha1", "kind": "PostgresVip",
        "metadata": {"name": VIP_NAME, "namespace": DB_NAMESPACE},
        "spec": {"address": node::VIP, "patroni": {"scope": "bench"},
                 "provider": {"oci": {"subnetId": "ocid1.subnet.oc1.phx.pgvipbench"}},
                 "announce": {"garpCount": 1, "garpIntervalMillis": 100}}});
    vips.patch(
        VIP_NAME,
        &PatchParams::apply("pgvip-bench").force(),
        &Patch::Apply(vip),
    )
    .await
    .map_err(|e| kube_err("creating the PostgresVip", e))?;

    let mut cmd = Command::new("ip");
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .args(["netns", "exec", &opts.netns, "env"])
        .arg(format!("KUBECONFIG={}", kc.display()))
        .arg(format!("NODE_NAME={NODE}"))
        .arg(format!("POD_NAMESPACE={}", stack.layout.system_namespace))
        .arg("RUST_LOG=info")
        .arg(bin)
        .args(["--metrics-addr", &format!("127.0.0.1:{METRICS_PORT}")])
        .args(["--log-format", "json"]);
    let pid = spawn_detached(
        &mut cmd,
        &stack.pidfile("agent"),
        &stack.layout.path("logs/agent.log"),
    )?;
    info!(pid, binary = %bin.display(), "node-agent started");
    wait_ready(&opts.netns, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(opts.idle_seconds)).await;
    let tps = procstat::ticks_per_sec();
    let idle = procstat::read(pid, tps)
        .ok_or_else(|| Error::Other("the node-agent exited while idle".into()))?;

    let mut cap = Capture::start(&opts.netns, node::IFNAME, node::VIP).await?;
    let mut seen = Observer::start(&stack.client);
    let (mut addr_ms, mut garp_ms, mut ack_ms, mut missed) = (vec![], vec![], vec![], 0);
    let (mut vis_ms, mut vis_addr_ms, mut vis_garp_ms) = (vec![], vec![], vec![]);
    for i in 0..opts.samples {
        let t0 = SystemTime::now();
        let rv = set_status(&stack.client, true).await?;
        ack_ms.push(since(t0, SystemTime::now()));
        let (added, arp) = wait_on(&mut cap, t0).await;
        let visible = match &rv {
            Some(rv) => seen.stamp_of(rv).await,
            None => None,
        };
        match (added, arp) {
            (Some(a), Some(g)) => {
                addr_ms.push(since(t0, a));
                garp_ms.push(since(t0, g));
                if let Some(v) = visible {
                    vis_ms.push(since(t0, v));
                    vis_addr_ms.push(signed_ms(v, a));
                    vis_garp_ms.push(signed_ms(v, g));
                }
            }
            _ => missed += 1,
        }
        let t1 = SystemTime::now();
        let _ = set_status(&stack.client, false).await?;
        wait_deleted(&mut cap, t1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if i % 20 == 19 {
            info!(done = i + 1, "agent samples");
        }
    }
    cap.stop().await;
    let after = procstat::read(pid, tps)
        .ok_or_else(|| Error::Other("the node-agent exited during the samples".into()))?;
    let (conf, ann) = scrape_means(&opts.netns).unwrap_or((None, None));
    Ok(Report {
        agent_binary: bin.display().to_string(),
        idle_rss_mib: idle.rss_kib as f64 / 1024.0,
        rss_after_mib: after.rss_kib as f64 / 1024.0,
        hwm_mib: after.hwm_kib as f64 / 1024.0,
        write_ack: Latency::of(&ack_ms),
        to_configured: Latency::of(&addr_ms),
        to_garp: Latency::of(&garp_ms),
        to_visible: Latency::of(&vis_ms),
        visible_to_configured: Latency::of(&vis_addr_ms),
        visible_to_garp: Latency::of(&vis_garp_ms),
        missed,
        agent_configured_mean_ms: conf,
        agent_announced_mean_ms: ann,
    })
}

fn kube_err(what: &str, source: kube::Error) -> Error {
    Error::Kube {
        context: what.into(),
        source,
    }
}

fn since(t0: SystemTime, t: SystemTime) -> f64 {
    t.duration_since(t0)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Pure: `t - from` in ms, negative when `t` came first (the agent can beat the bench's watch).
fn signed_ms(from: SystemTime, t: SystemTime) -> f64 {
    match t.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// The bench's own watch on the PostgresVip, from the bench's process on the host: stamps
/// each resourceVersion with the wall-clock time its event arrived, the moment the change is
/// visible to any watcher. The agent's watch goes through the namespace's relay, one hop more.
struct Observer {
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, SystemTime)>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    fn start(client: &Client) -> Observer {
        use futures::StreamExt;
        use kube::runtime::{watcher, WatchStreamExt};
        let api: Api<PostgresVip> = Api::namespaced(client.clone(), DB_NAMESPACE);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={VIP_NAME}"));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut s = std::pin::pin!(watcher(api, cfg).default_backoff().applied_objects());
            while let Some(ev) = s.next().await {
                if let Ok(v) = ev {
                    let stamp = SystemTime::now();
                    if let Some(rv) = v.metadata.resource_version {
                        let _ = tx.send((rv, stamp));
                    }
                }
            }
        });
        Observer { rx, task }
    }

    /// When the event of `rv` arrived (5 s at most); earlier versions are skipped.
    async fn stamp_of(&mut self, rv: &str) -> Option<SystemTime> {
        first_within(&mut self.rx, |(r, t)| (r == rv).then_some(t)).await
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes the status as the controller would: the node is desired and assigned with a fresh
/// `assignedAt` (`on`), or no node may hold the address (`!on`). Returns the written
/// resourceVersion.
async fn set_status(client: &Client, on: bool) -> Result<Option<String>> {
    let api: Api<PostgresVip> = Api::namespaced(client.clone(), DB_NAMESPACE);
    let status = if on {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        json!({"observedGeneration": 1, "desiredNode": NODE, "assignedNode": NODE,
               "leader": {"pod": "bench-0", "node": NODE, "podIP": "10.99.0.10"},
               "cloud": {"vnicId": "ocid1.vnic.oc1.phx.bench", "privateIpId": "ocid1.privateip.oc1.phx.bench",
                         "assignedAt": at}})
    } else {
        json!({"observedGeneration": 1})
    };
    let body = json!({"apiVersion": "pgvip.dev/v1alpha1", "kind": "PostgresVip",
                      "metadata": {"name": VIP_NAME, "namespace": DB_NAMESPACE}, "status": status});
    let written = api
        .patch_status(
            VIP_NAME,
            &PatchParams::apply(pgvip_api::CONTROLLER_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(|e| kube_err("writing the PostgresVip status", e))?;
    Ok(written.metadata.resource_version)
}

/// The first item on `rx` that `pick` turns into an answer, within 5 s; `None` when none came.
async fn first_within<T, R>(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    mut pick: impl FnMut(T) -> Option<R>,
) -> Option<R> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(item)) => {
                if let Some(r) = pick(item) {
                    return Some(r);
                }
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

/// The first address-added and ARP events at or after `t0` (5 s at most).
async fn wait_on(cap: &mut Capture, t0: SystemTime) -> (Option<SystemTime>, Option<SystemTime>) {
    let (mut added, mut arp) = (None, None);
    first_within(&mut cap.events, |e| {
        match e {
            Event::Added(t) if t >= t0 => added = added.or(Some(t)),
            Event::Arp(t) if t >= t0 => arp = arp.or(Some(t)),
            _ => {}
        }
        (added.is_some() && arp.is_some()).then_some(())
    })
    .await;
    (added, arp)
}

/// Waits (5 s at most) for the address to be removed after `t0`.
async fn wait_deleted(cap: &mut Capture, t0: SystemTime) {
    first_within(&mut cap.events, |e| {
        matches!(e, Event::Deleted(t) if t >= t0).then_some(())
    })
    .await;
}

/// Waits until the agent's `/readyz` answers 200 (its watch has listed).
async fn wait_ready(netns: &str, limit: Duration) -> Result<()> {
    let netns = netns.to_string();
    crate::cluster::wait_for("the node-agent's /readyz", limit, || {
        let netns = netns.clone();
        async move {
            tokio::task::spawn_blocking(move || http_get_in(&netns, "/readyz"))
                .await
                .ok()
                .and_then(Result::ok)
                .filter(|r| r.starts_with("HTTP/1.1 200"))
                .map(|_| ())
        }
    })
    .await
}

/// Pure: the mean in ms of histogram `name` in a Prometheus text exposition.
pub fn histogram_mean_ms(text: &str, name: &str) -> Option<f64> {
    let value = |suffix: &str| {
        let key = format!("{name}{suffix}");
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key.as_str()))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let (sum, count) = (value("_sum")?, value("_count")?);
    (count > 0.0).then(|| sum / count * 1000.0)
}

/// One plain HTTP GET of the agent's metrics server from inside its namespace; the whole
/// response (status line, headers, body).
fn http_get_in(netns: &str, path: &str) -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let req = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
    fwd::spawn_in_netns(netns, move || {
        let get = || -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", METRICS_PORT))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(req.as_bytes())?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        };
        let _ = tx.send(get());
    })?;
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| Error::Other(format!("no answer from the agent's {path}")))?
        .map_err(|e| Error::Other(format!("agent {path}: {e}")))
}

/// The agent's own means (configured, announced) from its `/metrics`.
fn scrape_means(netns: &str) -> Result<(Option<f64>, Option<f64>)> {
    let text = http_get_in(netns, "/metrics")?;
    Ok((
        histogram_mean_ms(&text, "pgvip_agent_status_to_configured_seconds"),
        histogram_mean_ms(&text, "pgvip_agent_status_to_announced_seconds"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_distribution() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::of(&v);
        assert_eq!(
            (l.n, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms),
            (100, Some(50.0), Some(95.0), Some(99.0), Some(100.0))
        );
        assert_eq!(Latency::of(&[]).p50_ms, None);
    }

    #[test]
    fn histogram_mean_from_exposition() {
        let t = "# TYPE pgvip_agent_status_to_configured_seconds histogram\n\
                 pgvip_agent_status_to_configured_seconds_sum 0.004\n\
                 pgvip_agent_status_to_configured_seconds_count 4\n\
                 pgvip_agent_status_to_configured_seconds_bucket{le=\"0.0001\"} 0\n";
        let m = histogram_mean_ms(t, "pgvip_agent_status_to_configured_seconds").unwrap();
        assert!((m - 1.0).abs() < 1e-9);
        assert_eq!(
            histogram_mean_ms(t, "pgvip_agent_status_to_announced_seconds"),
            None
        );
    }

    #[test]
    fn the_table_names_the_goals() {
        let t = Report::default().table();
        assert!(t.contains("goal < 16 MiB") && t.contains("goal p50 < 5 ms"));
        let goal_row = t.lines().find(|l| l.contains("goal p50")).unwrap();
        assert!(goal_row.contains("visible on a watch → address"), "{t}");
    }

    #[test]
    fn signed_gaps_allow_the_agent_to_be_first() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let later = t0 + Duration::from_micros(1500);
        assert_eq!(signed_ms(t0, later), 1.5);
        assert_eq!(signed_ms(later, t0), -1.5);
    }
}

#[cfg(test)]
mod run_once {
    /// Manual entry point while the `bench` binary does not call this part (root):
    /// `PGVIP_BENCH_AGENT=target/release/pgvip-node-agent cargo test -p pgvip-e2e --lib
    /// bench::agent::run_once -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn defaults() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,kube=warn")
            .try_init();
        let opts = super::Options {
            agent_bin: std::env::var_os("PGVIP_BENCH_AGENT").map(Into::into),
            ..super::Options::default()
        };
        let r = super::run(&opts).await.unwrap();
        println!("{}", r.table());
        println!("{}", serde_json::to_string_pretty(&r).unwrap());
    }
}
