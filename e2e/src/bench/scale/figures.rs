//! The scale bench's figures: per-phase convergence, cloud calls against the rate limit, the
//! controller's footprint, and the printed table with the goals next to the figures.
//!
//! Data flow: convergence times, call records and `/proc` windows → [`CloudPhase::measure`]
//! (pure) → [`Report`] → [`Report::table`].

use std::{collections::BTreeMap, path::Path, time::Duration};

use pgvip_cloudsim::{CallRecord, Operation};
use serde::Serialize;

use super::procstat::Window;
use super::Options;

/// Steady-state RSS goal, MiB.
pub const RSS_GOAL_MIB: f64 = 64.0;

/// Fewest cloud calls one move can take (a read to find the IP and its etag,
/// `UpdatePrivateIp` to move it), for the bound that no client can beat.
pub const MIN_CALLS_PER_MOVE: usize = 2;

/// One phase that ends when a set of VIPs has converged.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CloudPhase {
    /// VIPs that had to converge.
    pub vips: usize,
    /// VIPs that converged in time.
    pub converged: usize,
    /// Time until the last one converged (`None`: not all did).
    pub converge_secs: Option<f64>,
    /// Median per-VIP convergence time.
    pub p50_secs: Option<f64>,
    /// 95th percentile per-VIP convergence time.
    pub p95_secs: Option<f64>,
    /// Cloud calls the simulator answered (not throttled).
    pub calls_ok: usize,
    /// 429s the simulator answered.
    pub throttled: usize,
    /// `UpdatePrivateIp` calls that succeeded (moves).
    pub moves: usize,
    /// Answered (not throttled) calls per OCI operation, to see where the calls go.
    pub by_operation: BTreeMap<String, usize>,
    /// Lower bound from the calls the controller made: (calls − burst) / rate.
    pub bound_made_secs: f64,
    /// Lower bound for any client: (VIPs × minimum calls per move − burst) / rate (0 for a
    /// phase without moves).
    pub bound_min_secs: f64,
    /// The controller's footprint during the phase.
    pub footprint: Window,
}

/// Pure: nearest-rank percentile of sorted seconds.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Pure: `ListPrivateIps 1000, GetVnic 50`, most frequent first.
pub fn ops_summary(by_op: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = by_op.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = v.iter().map(|(op, n)| format!("{op} {n}")).collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// Pure: seconds to issue `calls` under a token bucket of `rate`/s starting full at `burst`.
pub fn bound_secs(calls: usize, rate: f64, burst: u32) -> f64 {
    calls.saturating_sub(burst as usize) as f64 / rate
}

impl CloudPhase {
    /// Pure: the phase's figures from per-VIP convergence times and the calls logged in it.
    pub fn measure(
        done: &[Option<Duration>],
        calls: &[CallRecord],
        opts: &Options,
        footprint: Window,
        moves_needed: usize,
    ) -> CloudPhase {
        let mut secs: Vec<f64> = done.iter().flatten().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        let cloud: Vec<&CallRecord> = calls
            .iter()
            .filter(|c| c.operation != Operation::Admin)
            .collect();
        let throttled = cloud.iter().filter(|c| c.status == 429).count();
        let calls_ok = cloud.len() - throttled;
        let moves = cloud
            .iter()
            .filter(|c| c.operation == Operation::UpdatePrivateIp && c.status < 300)
            .count();
        let mut by_operation = BTreeMap::new();
        for c in cloud.iter().filter(|c| c.status != 429) {
            *by_operation
                .entry(format!("{:?}", c.operation))
                .or_insert(0) += 1;
        }
        let min_calls = if moves > 0 {
            moves_needed * MIN_CALLS_PER_MOVE
        } else {
            0
        };
        CloudPhase {
            vips: done.len(),
            converged: secs.len(),
            converge_secs: if secs.len() == done.len() {
                secs.last().copied()
            } else {
                None
            },
            p50_secs: percentile(&secs, 0.50),
            p95_secs: percentile(&secs, 0.95),
            calls_ok,
            throttled,
            moves,
            by_operation,
            bound_made_secs: bound_secs(calls_ok, opts.cloud_rate, opts.cloud_burst),
            bound_min_secs: bound_secs(min_calls, opts.cloud_rate, opts.cloud_burst),
            footprint,
        }
    }
}

/// The scale bench's result.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Controller binary measured.
    pub controller_binary: String,
    /// Its build profile (`release`, `debug`, or `unknown`).
    pub profile: String,
    /// PostgresVips.
    pub vips: usize,
    /// Worker nodes.
    pub nodes: usize,
    /// Simulated tenancy rate limit, requests/s, and burst.
    pub cloud_rate: f64,
    /// Burst of the simulated limit.
    pub cloud_burst: u32,
    /// The controller's own client-side rate limit and burst.
    pub controller_rate: f64,
    /// The controller's client-side burst.
    pub controller_burst: u32,
    /// Seconds between lock renewals per cluster.
    pub renew_seconds: u64,
    /// Stand-in node-agent reports were written.
    pub agent_reports: bool,
    /// Controller start until every VIP is confirmed on its leader.
    pub startup: CloudPhase,
    /// Steady state after start-up (all VIPs confirmed, locks renewing).
    pub steady: Window,
    /// The leader-change storm.
    pub storm: CloudPhase,
    /// Whole run (VmHWM is the peak RSS).
    pub whole: Window,
    /// Cloud calls logged by the simulator in the whole run.
    pub calls_total: usize,
}

fn profile_of(bin: &Path) -> String {
    let s = bin.to_string_lossy();
    if s.contains("/release/") {
        "release".into()
    } else if s.contains("/debug/") {
        "debug".into()
    } else {
        "unknown".into()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.1} s"))
        .unwrap_or_else(|| "not converged".into())
}

impl Report {
    /// Assembles the report.
    pub fn new(
        opts: &Options,
        bin: &Path,
        startup: CloudPhase,
        steady: Window,
        storm: CloudPhase,
        whole: Window,
        calls_total: usize,
    ) -> Report {
        Report {
            controller_binary: bin.display().to_string(),
            profile: profile_of(bin),
            vips: opts.vips,
            nodes: opts.nodes,
            cloud_rate: opts.cloud_rate,
            cloud_burst: opts.cloud_burst,
            controller_rate: opts.controller_rate,
            controller_burst: opts.controller_burst,
            renew_seconds: opts.renew_seconds,
            agent_reports: opts.agent_reports,
            startup,
            steady,
            storm,
            whole,
            calls_total,
        }
    }

    /// The printed table: figures with their goals.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        let mut row = |a: &str, b: String, c: &str| rows.push((a.into(), b, c.into()));
        let s = &self.startup;
        let st = &self.storm;
        row("controller build", self.profile.clone(), "");
        row(
            "node-agent reports",
            if self.agent_reports {
                "stand-in (no data-path check)".into()
            } else {
                "none".into()
            },
            "flag --scale-agent-reports",
        );
        row(
            "simulated OCI rate limit",
            format!("{}/s, burst {}", self.cloud_rate, self.cloud_burst),
            "flag --scale-cloud-rate",
        );
        row(
            "controller client-side limit",
            format!(
                "{}/s, burst {}",
                self.controller_rate, self.controller_burst
            ),
            "",
        );
        row(
            "start-up: all VIPs confirmed",
            format!("{} ({}/{})", opt(s.converge_secs), s.converged, s.vips),
            "",
        );
        row(
            "  per VIP p50 / p95",
            format!("{} / {}", opt(s.p50_secs), opt(s.p95_secs)),
            "",
        );
        row(
            "  cloud calls ok / 429",
            format!("{} / {}", s.calls_ok, s.throttled),
            "",
        );
        row("  by operation", ops_summary(&s.by_operation), "");
        row(
            "  bound: calls made / rate",
            format!("{:.1} s", s.bound_made_secs),
            "start-up ≈ bound",
        );
        row(
            "steady RSS (end / max)",
            format!(
                "{:.1} / {:.1} MiB",
                self.steady.rss_end_mib, self.steady.rss_max_mib
            ),
            &format!("< {RSS_GOAL_MIB} MiB"),
        );
        row(
            "steady CPU",
            format!("{:.1} % of a core", self.steady.cpu_cores * 100.0),
            "",
        );
        row(
            "storm: all converged",
            format!("{} ({}/{})", opt(st.converge_secs), st.converged, st.vips),
            "cloud + desiredNode + assignedNode",
        );
        row(
            "  per VIP p50 / p95",
            format!("{} / {}", opt(st.p50_secs), opt(st.p95_secs)),
            "",
        );
        row(
            "  cloud calls ok / 429 / moves",
            format!("{} / {} / {}", st.calls_ok, st.throttled, st.moves),
            "",
        );
        row("  by operation", ops_summary(&st.by_operation), "");
        row(
            "  bound: calls made / rate",
            format!("{:.1} s", st.bound_made_secs),
            "storm ≈ bound",
        );
        row(
            "  bound: 2 calls per move / rate",
            format!("{:.1} s", st.bound_min_secs),
            "no client beats this",
        );
        row(
            "  CPU (mean / peak)",
            format!(
                "{:.1} / {:.1} % of a core",
                st.footprint.cpu_cores * 100.0,
                st.footprint.cpu_cores_peak * 100.0
            ),
            "",
        );
        row(
            "peak RSS (VmHWM)",
            format!("{:.1} MiB", self.whole.hwm_mib),
            "",
        );
        let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        let mut out = format!(
            "Scale: one controller, {} PostgresVips on {} nodes, storm of {} leader changes\n\
             (no node-agents: convergence = simulator holds the VIP on the leader's VNIC and\n\
             status.desiredNode = status.assignedNode = leader's node)\n",
            self.vips, self.nodes, self.storm.vips
        );
        for (a, b, c) in rows {
            let pad0 = w0 - a.chars().count();
            let pad1 = w1 - b.chars().count();
            out.push_str(&format!(
                "  {a}{}  {b}{}  {c}\n",
                " ".repeat(pad0),
                " ".repeat(pad1)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: Operation, status: u16) -> CallRecord {
        CallRecord {
            operation: op,
            principal: None,
            status,
            code: None,
            opc_request_id: String::new(),
            timestamp: String::new(),
            method: "GET".into(),
            path: "/".into(),
            injected: status == 429,
        }
    }

    #[test]
    fn percentiles_and_bounds() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), Some(2.0));
        assert_eq!(percentile(&v, 0.95), Some(4.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(bound_secs(410, 10.0, 10), 40.0);
        assert_eq!(bound_secs(5, 10.0, 10), 0.0);
    }

    #[test]
    fn a_phase_counts_throttles_and_moves_and_needs_every_vip() {
        let opts = Options::default();
        let calls = vec![
            rec(Operation::ListPrivateIps, 200),
            rec(Operation::UpdatePrivateIp, 429),
            rec(Operation::UpdatePrivateIp, 200),
            rec(Operation::Admin, 200),
        ];
        let s = Duration::from_secs;
        let p = CloudPhase::measure(
            &[Some(s(3)), Some(s(1))],
            &calls,
            &opts,
            Window::default(),
            2,
        );
        assert_eq!((p.calls_ok, p.throttled, p.moves), (2, 1, 1));
        assert_eq!(
            ops_summary(&p.by_operation),
            "ListPrivateIps 1, UpdatePrivateIp 1"
        );
        assert_eq!(p.converge_secs, Some(3.0));
        assert_eq!(p.p50_secs, Some(1.0));
        let p = CloudPhase::measure(&[Some(s(3)), None], &calls, &opts, Window::default(), 2);
        assert_eq!((p.converged, p.converge_secs), (1, None));
    }

    #[test]
    fn the_table_names_goals_and_the_definition() {
        let opts = Options::default();
        let r = Report::new(
            &opts,
            Path::new("/x/target/release/pgvip-controller"),
            CloudPhase::default(),
            Window::default(),
            CloudPhase::default(),
            Window::default(),
            0,
        );
        let t = r.table();
        assert!(t.contains("release") && t.contains("< 64 MiB") && t.contains("desiredNode"));
    }
}
