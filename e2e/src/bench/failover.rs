//! `bench failover`: app-visible write outages of pgvip, HAProxy and a Patroni callback, side by
//! side on one testbed. The testbed comes up once; pgvip (controller + agents against the OCI
//! simulator) and HAProxy (in the client namespace) are started; then, rep by rep, every VIP
//! method (pgvip at each simulated cloud latency, then the callback with pgvip stopped) goes
//! through every scenario (planned switchover, primary SIGKILL). A writer through HAProxy rides
//! along every one of those failovers, so HAProxy is measured on the very same events. Samples
//! are summarised (nearest-rank median/p95) after each measurement and handed to a checkpoint,
//! so an interrupted run still leaves its results. The testbed is torn down at the end, always.

pub mod callback;
mod drive;
mod haproxy;
mod results;

pub use drive::Seen;
pub use results::{Failed, Report, Row, Sample, Settings};

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use pgvip_ocisim::{faults::Operation, FaultCommand};
use serde::Serialize;

use crate::{
    error::{Error, Result},
    layout::NodeLayout,
    pgvip::{self, CloudMode},
    scenario::{self, run_failover, Expect},
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
    /// Scenarios to run.
    #[arg(long, value_delimiter = ',', default_value = "switchover,kill")]
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
            scenarios: vec![Scenario::Switchover, Scenario::Kill],
            max_minutes: 0,
        }
    }
}

/// How the cluster is disturbed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scenario {
    /// `patronictl switchover` away from the primary.
    Switchover,
    /// SIGKILL to the primary's Patroni and postmaster.
    Kill,
}

/// What keeps the VIP on the primary during a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipMethod {
    /// pgvip, with this much latency added to the cloud's move call (ms).
    Pgvip(u64),
    /// Patroni's callback with a one-shot CLI move, pgvip stopped.
    Callback,
}

/// The label of a method in tables and plots (pure).
pub fn label(m: VipMethod) -> String {
    match m {
        VipMethod::Pgvip(ms) if ms % 1000 == 0 => format!("pgvip (cloud +{} s)", ms / 1000),
        VipMethod::Pgvip(ms) => format!("pgvip (cloud +{ms} ms)"),
        VipMethod::Callback => "callback (cloud +0 s)".into(),
    }
}

/// Label of the HAProxy samples.
pub const HAPROXY: &str = "haproxy";

/// The order of measurements (pure): rep by rep, every VIP method through every scenario, so an
/// interrupted run has about as many samples of each.
pub fn schedule(o: &Options) -> Vec<(u32, VipMethod, Scenario)> {
    let reps = if o.quick { 2 } else { o.reps };
    let mut methods: Vec<VipMethod> = o
        .latencies_ms
        .iter()
        .map(|l| VipMethod::Pgvip(*l))
        .collect();
    if !o.no_callback {
        methods.push(VipMethod::Callback);
    }
    let mut out = vec![];
    for rep in 1..=reps {
        for m in &methods {
            for s in &o.scenarios {
                out.push((rep, *m, *s));
            }
        }
    }
    out
}

/// Runs the comparison on a fresh testbed; `checkpoint` gets the report after every
/// measurement; `stop` ends the run early (between measurements). Always tears down.
pub async fn run_with(
    opts: &Options,
    checkpoint: &mut dyn FnMut(&Report),
    stop: &AtomicBool,
) -> Result<Report> {
    let started = Instant::now();
    let up = UpOptions::default();
    let tb = match Testbed::up(&up).await {
        Ok(tb) => tb,
        Err(e) => {
            let _ = crate::testbed::down(&crate::Layout::standard(crate::testbed::state_dir()));
            return Err(e);
        }
    };
    let mut report = Report::default();
    let res = measure_all(&tb, opts, &up, started, &mut report, checkpoint, stop).await;
    let down = tb.down();
    report.summarise();
    res?;
    down?;
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
    pgvip::start_controller(&tb.layout, 0, CloudMode::Oci)?;
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

async fn disturb(tb: &Testbed, old: &NodeLayout, sc: Scenario) -> Result<()> {
    match sc {
        Scenario::Switchover => tb
            .patronictl(&["switchover", "--force", "--primary", &old.member])
            .map(|_| ()),
        Scenario::Kill => {
            tb.kill_member(old);
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure_all(
    tb: &Testbed,
    opts: &Options,
    up: &UpOptions,
    started: Instant,
    report: &mut Report,
    checkpoint: &mut dyn FnMut(&Report),
    stop: &AtomicBool,
) -> Result<()> {
    report.settings = Settings {
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
        latency_applies_to: "UpdatePrivateIp".into(),
    };
    start_pgvip(tb).await?;
    tb.kubectl_apply(&scenario::vip_manifest(tb, tb.use_endpoints))?;
    let hap = haproxy::start(&tb.layout)?;
    let mut callback_on = false;
    let mut consecutive_failures = 0;
    let deadline = (opts.max_minutes > 0).then(|| Duration::from_secs(opts.max_minutes * 60));
    let plan = schedule(opts);
    for (i, (rep, method, sc)) in plan.iter().copied().enumerate() {
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| started.elapsed() > d) {
            tracing::warn!(done = i, planned = plan.len(), "stopping early");
            return Ok(());
        }
        rejoin(tb)?;
        match method {
            VipMethod::Callback if !callback_on => {
                stop_pgvip(tb)?;
                callback::install(tb).await?;
                callback_on = true;
            }
            VipMethod::Pgvip(_) if callback_on => {
                callback::uninstall(tb).await?;
                clear_callback_vips(tb).await?;
                start_pgvip(tb).await?;
                callback_on = false;
            }
            _ => {}
        }
        let millis = match method {
            VipMethod::Pgvip(ms) => ms,
            VipMethod::Callback => 0,
        };
        tb.oci_fault(&FaultCommand::Latency {
            operation: Some(Operation::UpdatePrivateIp),
            millis,
        })
        .await?;
        tracing::info!(rep, method = label(method), scenario = ?sc, "measuring");
        match measure(tb, &hap, method, sc).await {
            Ok((v, h)) => {
                consecutive_failures = 0;
                let mut h = h;
                h.rep = rep;
                let mut v = v;
                v.rep = rep;
                tracing::info!(
                    vip_ms = v.seen.outage_millis,
                    haproxy_ms = h.seen.outage_millis,
                    "measured"
                );
                report.samples.push(v);
                report.samples.push(h);
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
    report.complete = true;
    Ok(())
}

/// One failover measured through the VIP (by `method`) and through HAProxy at once.
async fn measure(
    tb: &Testbed,
    hap: &str,
    method: VipMethod,
    sc: Scenario,
) -> Result<(Sample, Sample)> {
    let name = label(method);
    let (from, to, vip_seen, hap_seen, phases) = match method {
        VipMethod::Pgvip(_) => {
            tb.wait_healthy(Duration::from_secs(120)).await?;
            let mut rider = Rider::start(tb, hap, 20).await?;
            let r = run_failover(tb, &name, Expect::NewLeader, async |tb, old| {
                rider.mark();
                disturb(tb, old, sc).await
            })
            .await?;
            let new = tb
                .layout
                .node(&r.to)
                .cloned()
                .ok_or_else(|| Error::Other(format!("unknown node {}", r.to)))?;
            let h = rider.finish(tb, &new).await?;
            let v = Seen {
                outage_millis: r.outage_millis,
                acked: r.acked,
                failed: r.failed,
            };
            (r.from, r.to, v, h, r.phases)
        }
        VipMethod::Callback => {
            let (old, new, v, h) =
                drive::callback_failover(tb, hap, async |tb, old| disturb(tb, old, sc).await)
                    .await?;
            (old.name, new.name, v, h, None)
        }
    };
    let (added, added_after_promotion) = Sample::added_from(phases.as_ref());
    let vip = Sample {
        method: name.clone(),
        scenario: Some(sc),
        rep: 0,
        alongside: None,
        from: from.clone(),
        to: to.clone(),
        seen: vip_seen,
        phases,
        added_millis: added,
        added_after_promotion_millis: added_after_promotion,
    };
    let hap = Sample {
        method: HAPROXY.into(),
        scenario: Some(sc),
        rep: 0,
        alongside: Some(name),
        from,
        to,
        seen: hap_seen,
        phases: None,
        added_millis: None,
        added_after_promotion_millis: None,
    };
    Ok((vip, hap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_interleaves_methods_rep_by_rep() {
        let o = Options {
            reps: 3,
            latencies_ms: vec![0, 1000],
            ..Default::default()
        };
        let s = schedule(&o);
        assert_eq!(s.len(), 3 * 3 * 2);
        assert_eq!(s[0], (1, VipMethod::Pgvip(0), Scenario::Switchover));
        assert_eq!(s[1], (1, VipMethod::Pgvip(0), Scenario::Kill));
        assert_eq!(s[5], (1, VipMethod::Callback, Scenario::Kill));
        assert_eq!(s[6].0, 2);
        let q = schedule(&Options {
            quick: true,
            no_callback: true,
            ..Default::default()
        });
        assert_eq!(q.len(), 2 * 3 * 2);
        assert!(q.iter().all(|x| x.1 != VipMethod::Callback));
    }

    #[test]
    fn labels_name_the_cloud_latency() {
        assert_eq!(label(VipMethod::Pgvip(3000)), "pgvip (cloud +3 s)");
        assert_eq!(label(VipMethod::Pgvip(250)), "pgvip (cloud +250 ms)");
    }
}
