//! What `bench chaos` records and prints (pure): one [`Run`] per scenario run, read from
//! [`run_failover`](crate::scenario::run_failover)'s result (the lost writes and the VIP's
//! holders are taken from its error when it fails on them), and the per-scenario summary and
//! table of a [`Report`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::report::{table, Machine, Summary};
use crate::{
    error::Result, patroni::PatroniOptions, scenario::ScenarioResult, scenarios::Scenario,
};

/// One run of one scenario.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Scenario (short name).
    pub scenario: Scenario,
    /// Repetition, from 1.
    pub rep: u32,
    /// Writes resumed through the VIP on the new primary and every check after convergence held.
    pub converged: bool,
    /// Why the run did not converge (`run_failover`'s error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Longest stretch without an acknowledged write, ms (converged runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_millis: Option<u64>,
    /// Acknowledged writes missing on the new primary; absent when the run failed before that
    /// check.
    pub acked_writes_lost: Option<usize>,
    /// Nodes that held the VIP after convergence (the old node excluded while it is lost);
    /// absent when the run failed before that check.
    pub vip_holders: Option<Vec<String>>,
    /// Holders beyond one after convergence.
    pub extra_holders: usize,
    /// Node the VIP moved from and to (converged runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Node the VIP moved to (converged runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// pgvip's own measurement of the move, ms (`status.lastFailover.durationMillis`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgvip_total_millis: Option<u64>,
    /// The scenario's recovery step failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover_error: Option<String>,
    /// The full restoration after a failed run or recovery failed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// Wall time of the run with its recovery, ms.
    pub took_millis: u64,
}

/// The count in `run_failover`'s "N acknowledged writes are missing" error, if that is it.
pub fn lost_writes(error: &str) -> Option<usize> {
    let at = error.find(" acknowledged writes are missing")?;
    error[..at].split_whitespace().last()?.parse().ok()
}

/// The nodes in `run_failover`'s "after convergence the VIP is configured on [..]" error.
pub fn holders_in(error: &str) -> Option<Vec<String>> {
    const MARK: &str = "after convergence the VIP is configured on [";
    let rest = &error[error.find(MARK)? + MARK.len()..];
    let list = &rest[..rest.find(']')?];
    Some(
        list.split(',')
            .map(|h| h.trim().trim_matches('"').to_string())
            .filter(|h| !h.is_empty())
            .collect(),
    )
}

/// Holders beyond one.
pub fn extra_holders(holders: &[String]) -> usize {
    holders.len().saturating_sub(1)
}

impl Run {
    /// The record of one `run_failover` result (recovery fields and time left unset).
    pub fn of(scenario: Scenario, rep: u32, res: &Result<ScenarioResult>) -> Run {
        let mut run = Run {
            scenario,
            rep,
            converged: false,
            error: None,
            outage_millis: None,
            acked_writes_lost: None,
            vip_holders: None,
            extra_holders: 0,
            from: None,
            to: None,
            pgvip_total_millis: None,
            recover_error: None,
            restore_error: None,
            took_millis: 0,
        };
        match res {
            Ok(r) => {
                run.converged = true;
                run.outage_millis = Some(r.outage_millis);
                run.acked_writes_lost = Some(0);
                run.vip_holders = Some(vec![r.to.clone()]);
                run.from = Some(r.from.clone());
                run.to = Some(r.to.clone());
                run.pgvip_total_millis = r.pgvip_total_millis;
            }
            Err(e) => {
                let text = e.to_string();
                run.acked_writes_lost = lost_writes(&text);
                run.vip_holders = holders_in(&text);
                run.extra_holders = run.vip_holders.as_deref().map_or(0, extra_holders);
                run.error = Some(text);
            }
        }
        run
    }

    /// One line for the progress log.
    pub fn verdict(&self) -> String {
        let mut s = match (&self.outage_millis, &self.error) {
            (Some(ms), _) if self.converged => format!("converged, outage {ms} ms"),
            (_, Some(e)) => format!("NOT converged: {e}"),
            _ => "NOT converged".into(),
        };
        if let Some(e) = &self.recover_error {
            s.push_str(&format!("; recovery failed: {e}"));
        }
        if let Some(e) = &self.restore_error {
            s.push_str(&format!("; restore failed: {e}"));
        }
        s
    }
}

/// The soak's settings.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Runs of every scenario.
    pub reps: u32,
    /// Shuffle seed (absent: the suite's order every round).
    pub seed: Option<u64>,
    /// Scenarios, in their order within a round before any shuffle.
    pub scenarios: Vec<Scenario>,
    /// The testbed's Patroni options.
    pub patroni: Option<PatroniOptions>,
    /// `patronictl version`.
    pub patroni_version: String,
    /// The application writer.
    pub writer: String,
}

/// One scenario's figures.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioSummary {
    /// Scenario (short name).
    pub scenario: Scenario,
    /// Runs.
    pub runs: usize,
    /// Runs that converged.
    pub converged: usize,
    /// Runs with more than one node holding the VIP after convergence.
    pub dual_holder_runs: usize,
    /// Acknowledged writes lost, over the runs where that was checked.
    pub acked_writes_lost: usize,
    /// Runs where the lost writes could not be checked (failed before the check).
    pub lost_unchecked: usize,
    /// Write outage of the converged runs, ms (nearest-rank percentiles).
    pub outage: Summary,
}

/// Everything the soak measured.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Settings.
    pub settings: Settings,
    /// Every run, in the order run.
    pub runs: Vec<Run>,
    /// Per scenario, in the settings' order.
    pub summary: Vec<ScenarioSummary>,
    /// Whether every planned run ran.
    pub complete: bool,
    /// Why the soak stopped before its end, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// Every run converged, none lost an acknowledged write or left two holders.
    pub target_met: bool,
}

impl Report {
    /// Recomputes the summary from the runs.
    pub fn summarise(&mut self) {
        let mut order = self.settings.scenarios.clone();
        for r in &self.runs {
            if !order.contains(&r.scenario) {
                order.push(r.scenario);
            }
        }
        self.summary = order
            .into_iter()
            .map(|sc| {
                let runs: Vec<&Run> = self.runs.iter().filter(|r| r.scenario == sc).collect();
                let outages: Vec<u64> = runs
                    .iter()
                    .filter(|r| r.converged)
                    .filter_map(|r| r.outage_millis)
                    .collect();
                ScenarioSummary {
                    scenario: sc,
                    runs: runs.len(),
                    converged: runs.iter().filter(|r| r.converged).count(),
                    dual_holder_runs: runs.iter().filter(|r| r.extra_holders > 0).count(),
                    acked_writes_lost: runs.iter().filter_map(|r| r.acked_writes_lost).sum(),
                    lost_unchecked: runs
                        .iter()
                        .filter(|r| r.acked_writes_lost.is_none())
                        .count(),
                    outage: Summary::of(&outages),
                }
            })
            .filter(|s| s.runs > 0)
            .collect();
        self.target_met = !self.runs.is_empty()
            && self.summary.iter().all(|s| {
                s.converged == s.runs && s.dual_holder_runs == 0 && s.acked_writes_lost == 0
            });
    }

    /// The table a person reads, with the failed runs and the verdict under it.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .summary
            .iter()
            .map(|s| {
                let ms = |v: u64| {
                    if s.outage.n == 0 {
                        "-".to_string()
                    } else {
                        v.to_string()
                    }
                };
                vec![
                    s.scenario.name().to_string(),
                    s.runs.to_string(),
                    s.converged.to_string(),
                    s.dual_holder_runs.to_string(),
                    if s.lost_unchecked > 0 {
                        format!("{} ({} unchecked)", s.acked_writes_lost, s.lost_unchecked)
                    } else {
                        s.acked_writes_lost.to_string()
                    },
                    ms(s.outage.median),
                    ms(s.outage.p95),
                ]
            })
            .collect();
        let mut out = table(
            &[
                "scenario",
                "runs",
                "converged",
                "two_holders",
                "acked_lost",
                "median_ms",
                "p95_ms",
            ],
            &rows,
        );
        for r in self.runs.iter().filter(|r| !r.converged) {
            out.push_str(&format!(
                "not converged: {} rep {}: {}\n",
                r.scenario.name(),
                r.rep,
                r.error.as_deref().unwrap_or("")
            ));
        }
        if let Some(e) = &self.aborted {
            out.push_str(&format!("stopped early: {e}\n"));
        }
        out.push_str(&format!(
            "target (every run converges, 0 acknowledged writes lost, 0 runs with two holders): {}\n",
            if self.target_met { "met" } else { "NOT met" }
        ));
        out
    }
}

/// The results file of `bench chaos`.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    /// The machine.
    pub machine: Machine,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When it finished, or when this checkpoint was written (RFC 3339).
    pub finished_at: String,
    /// Whether the soak ran every planned run (false for a checkpoint or an interrupted run).
    pub complete: bool,
    /// The soak.
    pub chaos: Report,
}

/// `benchmarks/results/<date>-chaos.json` under `root`.
pub fn default_path(root: &Path, date: &str) -> PathBuf {
    root.join("benchmarks/results")
        .join(format!("{date}-chaos.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn reads_lost_writes_and_holders_from_run_failover_errors() {
        let lost = "3 acknowledged writes are missing on the new primary: [1, 2, 3]";
        assert_eq!(lost_writes(lost), Some(3));
        assert_eq!(lost_writes("timed out after 90s waiting for x"), None);
        let two = r#"after convergence the VIP is configured on ["n1", "n2"], expected only n2"#;
        assert_eq!(
            holders_in(two),
            Some(vec!["n1".to_string(), "n2".to_string()])
        );
        assert_eq!(
            holders_in("after convergence the VIP is configured on [], expected only n2"),
            Some(vec![])
        );
        assert_eq!(extra_holders(&["n1".into(), "n2".into()]), 1);
        assert_eq!(extra_holders(&[]), 0);

        let r = Run::of(Scenario::Kill, 2, &Err(Error::Other(two.into())));
        assert!(!r.converged && r.extra_holders == 1 && r.acked_writes_lost.is_none());
        let r = Run::of(Scenario::Kill, 2, &Err(Error::Other(lost.into())));
        assert_eq!((r.acked_writes_lost, r.extra_holders), (Some(3), 0));
    }

    #[test]
    fn summary_counts_and_the_target() {
        let ok = |sc, rep, ms| {
            Run::of(
                sc,
                rep,
                &Ok(ScenarioResult {
                    outage_millis: ms,
                    to: "n2".into(),
                    ..Default::default()
                }),
            )
        };
        let mut rep = Report {
            settings: Settings {
                scenarios: vec![Scenario::Switchover, Scenario::Kill, Scenario::Agent],
                ..Default::default()
            },
            runs: vec![
                ok(Scenario::Switchover, 1, 3000),
                ok(Scenario::Switchover, 2, 3400),
                ok(Scenario::Kill, 1, 20000),
            ],
            ..Default::default()
        };
        rep.summarise();
        assert!(rep.target_met);
        assert_eq!(rep.summary.len(), 2, "scenarios without runs are left out");
        assert_eq!(rep.summary[0].outage.median, 3000);
        assert_eq!(rep.summary[0].outage.p95, 3400);
        rep.runs.push(Run::of(
            Scenario::Kill,
            2,
            &Err(Error::Other("2 acknowledged writes are missing".into())),
        ));
        rep.summarise();
        assert!(!rep.target_met);
        let kill = &rep.summary[1];
        assert_eq!(
            (kill.runs, kill.converged, kill.acked_writes_lost),
            (2, 1, 2)
        );
        let t = rep.table();
        assert!(t.starts_with("scenario"), "{t}");
        assert!(t.contains("not converged: kill rep 2"), "{t}");
        assert!(t.contains("NOT met"), "{t}");
        assert_eq!(
            default_path(Path::new("/r"), "2026-11-23"),
            PathBuf::from("/r/benchmarks/results/2026-11-23-chaos.json")
        );
    }
}
