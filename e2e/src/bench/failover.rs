//! `bench failover`: app-visible write outages of pgvip, HAProxy and a Patroni callback, side by
//! side on one testbed. The testbed comes up once; pgvip (controller + agents against the OCI
//! simulator) and HAProxy (in the client namespace) are started; then, rep by rep, every VIP
//! method (pgvip at each simulated cloud latency, then the callback with pgvip stopped) goes
//! through every scenario (planned switchover, primary SIGKILL, primary node lost). Two more
//! writers ride along every one of those failovers: one through HAProxy, so HAProxy is measured
//! on the very same events, and the floor (libpq multi-host straight to the members,
//! `target_session_attrs=read-write`: the outage no VIP can beat). Every VIP and HAProxy sample
//! is paired with the floor's outage of its event; the excess over the floor is what the methods
//! are compared by, because Patroni's own timing varies more between events than the methods
//! differ. Samples are summarised (nearest-rank median/p95) after each measurement and handed to
//! a checkpoint, so an interrupted run still leaves its results. The testbed is torn down at the
//! end, always.
//!
//! On the L2 flavour (no cloud) the methods are pgvip (L2) and Debian's vip-manager 1.0.2,
//! which reads etcd only: its measurements run before pgvip's, on a testbed of their own whose Patroni
//! uses the bench-only etcd DCS ([`crate::dcs`]); HAProxy and the floor ride along there too.

pub mod callback;
mod drive;
mod haproxy;
mod path;
mod results;
pub mod vip_manager;

pub use drive::Seen;
pub use results::{build_kind, excess, Binary, Failed, Report, Row, Sample, Settings};

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    app,
    cluster::wait_for,
    dcs::Dcs,
    error::{Error, Result},
    layout::NodeLayout,
    netns,
    pgvip::{self, CloudMode},
    scenario::{self, run_failover, Expect},
    scenarios,
    sim_fault::{CloudCall, SimFault},
    Testbed, UpOptions,
};
use drive::Rider;

/// pgvip's goal for its own added latency (p99, ms).
pub const ADDED_LATENCY_GOAL_MILLIS: u64 = 100;

/// Options of `bench failover`.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// Repetitions of every method × scenario.
    #[arg(long, default_value_t = 10)]
    pub reps: u32,
    /// Two repetitions, for development (overrides --reps).
    #[arg(long)]
    pub quick: bool,
    /// Simulated cloud latencies for pgvip's runs, ms (added to every UpdatePrivateIp call).
    #[arg(long, value_delimiter = ',', default_value = "0,1000,3000")]
    pub latencies_ms: Vec<u64>,
    /// Leave the callback method out.
    #[arg(long)]
    pub no_callback: bool,
    /// Leave vip-manager out (it is measured on the L2 flavour only).
    #[arg(long)]
    pub no_vip_manager: bool,
    /// Scenarios to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "switchover,kill,node-lost"
    )]
    pub scenarios: Vec<Scenario>,
    /// Start no new measurement after this many minutes (0: no limit); results stay partial.
    #[arg(long, default_value_t = 0)]
    pub max_minutes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reps: 10,
            quick: false,
            latencies_ms: vec![0, 1000, 3000],
            no_callback: false,
            no_vip_manager: false,
            scenarios: Scenario::ALL.to_vec(),
            max_minutes: 0,
        }
    }
}

/// How the cluster is disturbed: the failover suite's disturbances of the same names
/// ([`scenarios::Scenario`]).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scenario {
    /// `patronictl switchover` away from the primary.
    Switchover,
    /// SIGKILL to the primary's Patroni and postmaster.
    Kill,
    /// The primary's node lost: its fabric link cut and every process in it frozen (thawed and
    /// reconnected after the measurement).
    #[serde(rename = "node-lost")]
    NodeLost,
}

impl Scenario {
    /// Every scenario, in the order tables and plots show them.
    pub const ALL: [Scenario; 3] = [Scenario::Switchover, Scenario::Kill, Scenario::NodeLost];

    /// The failover suite's scenario of the same name.
    pub fn shared(self) -> scenarios::Scenario {
        match self {
            Scenario::Switchover => scenarios::Scenario::Switchover,
            Scenario::Kill => scenarios::Scenario::Kill,
            Scenario::NodeLost => scenarios::Scenario::NodeLost,
        }
    }

    /// The name on the command line and in tables.
    pub fn name(self) -> &'static str {
        self.shared().name()
    }

    /// The title of its plot panel.
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Switchover => "planned switchover (patronictl switchover)",
            Scenario::Kill => "primary killed (SIGKILL Patroni + postmaster)",
            Scenario::NodeLost => "primary node lost (link cut, processes frozen)",
        }
    }

    /// What it expects of the leader.
    pub fn expect(self) -> Expect {
        self.shared().expect()
    }
}

/// What keeps the VIP on the primary during a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipMethod {
    /// pgvip, with this much latency added to the cloud's move call (ms).
    Pgvip(u64),
    /// Patroni's callback with a one-shot CLI move, pgvip stopped.
    Callback,
    /// pgvip on the L2 flavour: no cloud call.
    L2,
    /// vip-manager 1.0.2 on every node, Patroni on the etcd DCS (L2 flavour).
    VipManager,
}

impl VipMethod {
    /// The DCS Patroni uses while this method is measured.
    pub fn dcs(self) -> Dcs {
        match self {
            VipMethod::VipManager => Dcs::Etcd,
            _ => Dcs::Kubernetes,
        }
    }

    /// Whether pgvip (controller and agents) keeps the VIP.
    fn is_pgvip(self) -> bool {
        matches!(self, VipMethod::Pgvip(_) | VipMethod::L2)
    }
}

/// The label of a method in tables and plots (pure).
pub fn label(m: VipMethod) -> String {
    match m {
        VipMethod::Pgvip(ms) if ms % 1000 == 0 => format!("pgvip (cloud +{} s)", ms / 1000),
        VipMethod::Pgvip(ms) => format!("pgvip (cloud +{ms} ms)"),
        VipMethod::Callback => "callback (cloud +0 s)".into(),
        VipMethod::L2 => "pgvip (L2)".into(),
        VipMethod::VipManager => "vip-manager 1.0.2 (etcd DCS)".into(),
    }
}

/// Label of the HAProxy samples.
pub const HAPROXY: &str = "haproxy";

/// Label of the floor samples: libpq multi-host straight to the members.
pub const FLOOR: &str = "floor (libpq multi-host)";

/// The order of measurements (pure): rep by rep, every VIP method through every scenario, so an
/// interrupted run has about as many samples of each. With a `cloud`, pgvip at every latency
/// and the callback; without (L2), pgvip (L2) and vip-manager. Methods on the etcd DCS come
/// before all the others (they need a testbed of their own, and are the likelier to fail).
pub fn schedule(o: &Options, cloud: bool) -> Vec<(u32, VipMethod, Scenario)> {
    let reps = if o.quick { 2 } else { o.reps };
    let mut methods: Vec<VipMethod> = vec![];
    if cloud {
        methods.extend(o.latencies_ms.iter().map(|l| VipMethod::Pgvip(*l)));
        if !o.no_callback {
            methods.push(VipMethod::Callback);
        }
    } else {
        methods.push(VipMethod::L2);
        if !o.no_vip_manager {
            methods.push(VipMethod::VipManager);
        }
    }
    let mut out = vec![];
    for dcs in [Dcs::Etcd, Dcs::Kubernetes] {
        for rep in 1..=reps {
            for m in methods.iter().filter(|m| m.dcs() == dcs) {
                for s in &o.scenarios {
                    out.push((rep, *m, *s));
                }
            }
        }
    }
    out
}

/// One step of the plan: its event number (1-based, over the whole plan), rep, method, scenario.
type Step = (u32, u32, VipMethod, Scenario);

/// Runs the comparison on a fresh testbed; `checkpoint` gets the report after every
/// measurement; `stop` ends the run early (between measurements). Always tears down.
pub async fn run_with(
    opts: &Options,
    checkpoint: &mut dyn FnMut(&Report),
    stop: &AtomicBool,
) -> Result<Report> {
    let started = Instant::now();
    let cloud = crate::layout::CloudFlavour::from_env().has_cloud();
    let plan: Vec<Step> = schedule(opts, cloud)
        .into_iter()
        .enumerate()
        .map(|(i, (rep, m, sc))| (u32::try_from(i + 1).unwrap_or(u32::MAX), rep, m, sc))
        .collect();
    let mut report = Report::default();
    let mut complete = true;
    for dcs in [Dcs::Etcd, Dcs::Kubernetes] {
        let part: Vec<Step> = plan.iter().copied().filter(|s| s.2.dcs() == dcs).collect();
        if part.is_empty() {
            continue;
        }
        let up = UpOptions {
            patroni: crate::patroni::PatroniOptions {
                dcs,
                ..Default::default()
            },
        };
        let tb = match Testbed::up(&up).await {
            Ok(tb) => tb,
            Err(e) => {
                let _ = crate::testbed::down(&crate::Layout::standard(crate::testbed::state_dir()));
                report.summarise();
                return Err(e);
            }
        };
        let res = measure_all(
            &tb,
            opts,
            &up,
            started,
            &part,
            &mut report,
            checkpoint,
            stop,
        )
        .await;
        let down = tb.down();
        report.summarise();
        complete &= res?;
        down?;
        if !complete {
            break;
        }
    }
    report.complete = complete;
    Ok(report)
}

/// [`run_with`] without checkpoints or early stop.
pub async fn run(opts: &Options) -> Result<Report> {
    run_with(opts, &mut |_| {}, &AtomicBool::new(false)).await
}

async fn start_pgvip(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        pgvip::start_agent(&tb.layout, n)?;
    }
    pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    Ok(())
}

fn stop_pgvip(tb: &Testbed) -> Result<()> {
    pgvip::stop_controller(&tb.layout, 0, false)?;
    for n in &tb.layout.nodes {
        pgvip::stop_agent(&tb.layout, n)?;
    }
    Ok(())
}

/// Starts every member whose Patroni is not running (a killed primary rejoins as a replica).
fn rejoin(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        if !crate::cmd::alive(&tb.layout.path(&format!("patroni-{}.pid", n.member))) {
            tb.start_member(n)?;
        }
    }
    Ok(())
}

/// Removes the VIP the callback configured from every node before pgvip takes over: pgvip's
/// agents leave an address they did not configure themselves alone (also on the old primary
/// after the next failover), and a member restarted while the callback was being unconfigured
/// never ran its `on_start`. The step an operator takes when moving from the script to pgvip;
/// the agent on the leader's node then configures the address itself.
async fn clear_callback_vips(tb: &Testbed) -> Result<()> {
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let vip = format!("{}/32", tb.layout.vip);
    for n in &tb.layout.nodes {
        let _ = crate::cmd::ip_in(&n.netns, &["addr", "del", &vip, "dev", &n.ifname]);
    }
    Ok(())
}

/// The failover suite's disturbance of `sc`, on the old primary's node `old`.
async fn disturb(tb: &Testbed, old: &NodeLayout, sc: Scenario) -> Result<()> {
    sc.shared().disturb(tb, old).await
}

/// After a node-lost measurement (also a failed one): every node thawed and reconnected, a
/// healthy cluster, and the VIP on the leader's node alone. pgvip's agent on the returning node
/// removes its stale copy itself (fail closed); the callback's Patroni on that node runs
/// `on_role_change` when it demotes. If a stale copy is still there after a minute under the
/// callback (it does not fail closed), it is removed by hand and noted.
async fn thaw(tb: &Testbed, method: VipMethod, notes: &mut Vec<String>) -> Result<()> {
    for n in &tb.layout.nodes {
        tb.freeze_node(n, false)?;
        netns::set_fabric_port(&tb.layout, &n.fabric_port, true)?;
    }
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    let holder = tb.member_node(&leader)?.clone();
    let alone = wait_for(
        "the returning node to remove its stale copy of the VIP",
        Duration::from_secs(60),
        || async { (tb.nodes_with_vip().ok()? == vec![holder.name.clone()]).then_some(()) },
    )
    .await;
    match (alone, method) {
        (Ok(()), _) => Ok(()),
        (Err(e), m) if m != VipMethod::Callback => Err(e),
        (Err(_), _) => {
            let vip = format!("{}/32", tb.layout.vip);
            let stale: Vec<String> = tb
                .nodes_with_vip()?
                .into_iter()
                .filter(|n| *n != holder.name)
                .collect();
            for n in tb.layout.nodes.iter().filter(|n| stale.contains(&n.name)) {
                let _ = crate::cmd::ip_in(&n.netns, &["addr", "del", &vip, "dev", &n.ifname]);
            }
            let note = format!(
                "after a node-lost failover under the callback, {stale:?} still held the VIP a \
                 minute after returning; removed by hand"
            );
            tracing::warn!("{note}");
            notes.push(note);
            Ok(())
        }
    }
}

/// The pgvip binaries this run starts (found next to the bench binary), with what `file` says
/// about them.
fn pgvip_binaries() -> Vec<Binary> {
    ["pgvip-controller", "pgvip-node-agent"]
        .into_iter()
        .map(|name| {
            let path = pgvip::binary(name)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|e| e.to_string());
            let file = crate::cmd::run("file", &["-b", &path])
                .map(|f| f.trim().to_string())
                .unwrap_or_default();
            Binary {
                name: name.into(),
                build: build_kind(&file).into(),
                path,
                file,
            }
        })
        .collect()
}

/// Measures `part` of the plan (steps on one DCS) on `tb`; `Ok(false)` when it stopped early.
#[allow(clippy::too_many_arguments)]
async fn measure_all(
    tb: &Testbed,
    opts: &Options,
    up: &UpOptions,
    started: Instant,
    part: &[Step],
    report: &mut Report,
    checkpoint: &mut dyn FnMut(&Report),
    stop: &AtomicBool,
) -> Result<bool> {
    let cloud = tb.layout.cloud.has_cloud();
    if report.settings.writer.is_empty() {
        report.settings = settings(tb, opts, up, cloud);
    }
    if part.iter().any(|s| s.2 == VipMethod::VipManager) {
        report.settings.vip_manager = Some(vip_manager::describe(&tb.layout));
    }
    if up.patroni.dcs == Dcs::Etcd {
        vip_manager::start(&tb.layout)?;
    } else {
        start_pgvip(tb).await?;
        tb.kubectl_apply(&scenario::vip_manifest(tb, tb.use_endpoints))?;
    }
    let hap = haproxy::start(&tb.layout)?;
    let mut callback_on = false;
    let mut consecutive_failures = 0;
    let deadline = (opts.max_minutes > 0).then(|| Duration::from_secs(opts.max_minutes * 60));
    for (done, &(event, rep, method, sc)) in part.iter().enumerate() {
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| started.elapsed() > d) {
            tracing::warn!(done, planned = part.len(), "stopping early");
            return Ok(false);
        }
        rejoin(tb)?;
        match method {
            VipMethod::Callback if !callback_on => {
                stop_pgvip(tb)?;
                callback::install(tb).await?;
                callback_on = true;
            }
            m if m.is_pgvip() && callback_on => {
                callback::uninstall(tb).await?;
                clear_callback_vips(tb).await?;
                start_pgvip(tb).await?;
                callback_on = false;
            }
            _ => {}
        }
        if cloud {
            let millis = match method {
                VipMethod::Pgvip(ms) => ms,
                _ => 0,
            };
            tb.cloud_fault(SimFault::Latency {
                call: CloudCall::Move,
                millis,
            })
            .await?;
        }
        tracing::info!(rep, method = label(method), scenario = ?sc, "measuring");
        let measured = measure(tb, &hap, method, sc).await;
        if sc == Scenario::NodeLost {
            thaw(tb, method, &mut report.notes).await?;
        }
        match measured {
            Ok(samples) => {
                consecutive_failures = 0;
                let [v, h, f] = samples.map(|mut s| {
                    s.rep = rep;
                    s.event = event;
                    s
                });
                tracing::info!(
                    vip_ms = v.seen.outage_millis,
                    haproxy_ms = h.seen.outage_millis,
                    floor_ms = f.seen.outage_millis,
                    vip_excess_ms = v.excess_millis,
                    "measured"
                );
                report.samples.extend([v, h, f]);
            }
            Err(e) => {
                tracing::warn!(error = %e, "measurement failed");
                report.failures.push(Failed {
                    method: label(method),
                    scenario: sc,
                    rep,
                    error: e.to_string(),
                });
                consecutive_failures += 1;
                if consecutive_failures >= 3 {
                    report.summarise();
                    checkpoint(report);
                    return Err(Error::Other(format!(
                        "three measurements in a row failed; last: {e}"
                    )));
                }
            }
        }
        rejoin(tb)?;
        report.summarise();
        checkpoint(report);
    }
    Ok(true)
}

/// The run's fixed settings, from the first testbed it brings up.
fn settings(tb: &Testbed, opts: &Options, up: &UpOptions, cloud: bool) -> Settings {
    Settings {
        reps: if opts.quick { 2 } else { opts.reps },
        patroni: Some(up.patroni.clone()),
        patroni_version: tb
            .patronictl(&["version"])
            .unwrap_or_default()
            .trim()
            .into(),
        haproxy_version: haproxy::version(),
        haproxy_config: haproxy::config(&tb.layout),
        writer: "20 Hz, one INSERT per attempt, 1 s connect/write timeout, reconnect on error"
            .into(),
        floor: format!(
            "the same writer as libpq's multi-host client (tokio-postgres) of the members: {}, \
             tried in order, 1 s connect timeout per host",
            app::conn_string(&drive::floor_config(tb), app::Target::ReadWrite)
                .split(' ')
                .filter(|kv| kv.starts_with("host=") || kv.starts_with("target_session_attrs="))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        pgvip_binaries: pgvip_binaries(),
        latency_applies_to: if cloud {
            "UpdatePrivateIp".into()
        } else {
            "none (L2 flavour: no cloud)".into()
        },
        vip_manager: None,
    }
}

/// One failover measured through the VIP (by `method`), through HAProxy and by the floor at
/// once: (VIP sample, HAProxy sample, floor sample), the first two paired with the floor.
async fn measure(tb: &Testbed, hap: &str, method: VipMethod, sc: Scenario) -> Result<[Sample; 3]> {
    let name = label(method);
    let mut path_seen = None;
    let mut started_at = None;
    let (from, to, vip_seen, hap_seen, floor_seen, phases) = match method {
        VipMethod::Pgvip(_) | VipMethod::L2 => {
            tb.wait_healthy(Duration::from_secs(120)).await?;
            let mut hap_rider = Rider::start(tb, hap, 20).await?;
            let mut floor_rider = Rider::floor(tb, 20).await?;
            let mut probe = path::PathProbe::start(tb, &tb.layout.vip)?;
            let r = run_failover(tb, &name, sc.expect(), async |tb, old| {
                hap_rider.mark();
                floor_rider.mark();
                probe.mark();
                disturb(tb, old, sc).await
            })
            .await?;
            let new = tb
                .layout
                .node(&r.to)
                .cloned()
                .ok_or_else(|| Error::Other(format!("unknown node {}", r.to)))?;
            let (h, f) = futures::join!(hap_rider.finish(tb, &new), floor_rider.finish(tb, &new));
            path_seen = Some(probe.finish(&new)?);
            started_at = r.pgvip_started_at.clone();
            let v = Seen {
                outage_millis: r.outage_millis,
                acked: r.acked,
                failed: r.failed,
            };
            (r.from, r.to, v, h?, f?, r.phases)
        }
        VipMethod::Callback => {
            let e = drive::callback_failover(tb, hap, async |tb, old| disturb(tb, old, sc).await)
                .await?;
            (e.old.name, e.new.name, e.vip, e.haproxy, e.floor, None)
        }
        VipMethod::VipManager => {
            let e =
                drive::peer_failover(tb, hap, async |tb, old| disturb(tb, old, sc).await).await?;
            (e.old.name, e.new.name, e.vip, e.haproxy, e.floor, None)
        }
    };
    let (added, added_after_promotion) = Sample::added_from(phases.as_ref());
    let latency = match method {
        VipMethod::Pgvip(ms) => Some(ms),
        VipMethod::L2 => Some(0),
        _ => None,
    };
    let promotion = match (&started_at, &path_seen) {
        (Some(at), Some(p)) => results::millis_between(at, &p.floor_resumed_at),
        _ => None,
    };
    let beyond = match (&path_seen, latency, promotion) {
        (Some(p), Some(l), Some(pr)) => Some(results::beyond_overlap(p.excess_millis, l, pr)),
        _ => None,
    };
    let floor_millis = floor_seen.outage_millis;
    let rider = |method: &str, seen: Seen| Sample {
        method: method.into(),
        scenario: Some(sc),
        alongside: Some(name.clone()),
        from: from.clone(),
        to: to.clone(),
        seen,
        ..Default::default()
    };
    let vip = Sample {
        method: name.clone(),
        scenario: Some(sc),
        from: from.clone(),
        to: to.clone(),
        seen: vip_seen,
        phases,
        added_millis: added,
        added_after_promotion_millis: added_after_promotion,
        cloud_latency_millis: latency,
        promotion_millis: promotion,
        beyond_overlap_millis: beyond,
        path: path_seen,
        ..Default::default()
    };
    Ok([
        vip.paired_with(floor_millis),
        rider(HAPROXY, hap_seen).paired_with(floor_millis),
        rider(FLOOR, floor_seen),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_interleaves_methods_rep_by_rep() {
        let o = Options {
            reps: 3,
            latencies_ms: vec![0, 1000],
            scenarios: vec![Scenario::Switchover, Scenario::Kill],
            ..Default::default()
        };
        let s = schedule(&o, true);
        assert_eq!(s.len(), 3 * 3 * 2);
        assert_eq!(s[0], (1, VipMethod::Pgvip(0), Scenario::Switchover));
        assert_eq!(s[1], (1, VipMethod::Pgvip(0), Scenario::Kill));
        assert_eq!(s[5], (1, VipMethod::Callback, Scenario::Kill));
        assert_eq!(s[6].0, 2);
        let q = schedule(
            &Options {
                quick: true,
                no_callback: true,
                ..Default::default()
            },
            true,
        );
        assert_eq!(q.len(), 2 * 3 * 3);
        assert_eq!(q[2], (1, VipMethod::Pgvip(0), Scenario::NodeLost));
        assert!(q.iter().all(|x| x.1 != VipMethod::Callback));
    }

    #[test]
    fn scenarios_are_the_suites_by_name() {
        use clap::ValueEnum;
        for sc in Scenario::ALL {
            let pv = sc.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(pv.as_deref(), Some(sc.name()));
        }
        assert_eq!(Scenario::NodeLost.name(), "node-lost");
        assert_eq!(Scenario::NodeLost.expect(), Expect::NewLeaderOldNodeLost);
        assert_eq!(Scenario::Kill.expect(), Expect::NewLeader);
        assert_eq!(
            serde_json::to_value(Scenario::NodeLost).ok(),
            Some(serde_json::json!("node-lost"))
        );
        assert_eq!(
            serde_json::to_value(Scenario::Switchover).ok(),
            Some(serde_json::json!("switchover"))
        );
        assert_eq!(Options::default().scenarios, Scenario::ALL.to_vec());
    }

    #[test]
    fn on_l2_vip_manager_runs_first_on_the_etcd_dcs_then_pgvip() {
        let o = Options {
            reps: 2,
            scenarios: vec![Scenario::Switchover, Scenario::Kill],
            ..Default::default()
        };
        let s = schedule(&o, false);
        let methods: Vec<VipMethod> = s.iter().map(|x| x.1).collect();
        assert_eq!(
            methods,
            [[VipMethod::VipManager; 4], [VipMethod::L2; 4]].concat(),
            "no cloud latencies, no callback on L2; the etcd DCS first"
        );
        assert_eq!(s[0], (1, VipMethod::VipManager, Scenario::Switchover));
        assert_eq!(s[3], (2, VipMethod::VipManager, Scenario::Kill));
        assert_eq!(s[4], (1, VipMethod::L2, Scenario::Switchover));
        assert_eq!(VipMethod::VipManager.dcs(), Dcs::Etcd);
        assert_eq!(VipMethod::L2.dcs(), Dcs::Kubernetes);
        let without = schedule(
            &Options {
                no_vip_manager: true,
                ..o
            },
            false,
        );
        assert!(without.iter().all(|x| x.1 == VipMethod::L2));
        assert!(schedule(&Options::default(), true)
            .iter()
            .all(|x| x.1 != VipMethod::VipManager && x.1 != VipMethod::L2));
    }

    #[test]
    fn labels_name_the_cloud_latency() {
        assert_eq!(label(VipMethod::Pgvip(3000)), "pgvip (cloud +3 s)");
        assert_eq!(label(VipMethod::Pgvip(250)), "pgvip (cloud +250 ms)");
        assert_eq!(label(VipMethod::L2), "pgvip (L2)");
        assert_eq!(label(VipMethod::VipManager), "vip-manager 1.0.2 (etcd DCS)");
    }
}
