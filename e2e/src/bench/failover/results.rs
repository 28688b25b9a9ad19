//! What `bench failover` records and how it is summarised: samples and failed measurements
//! in, per method × scenario statistics, pgvip's own added latency against its goal, the printed
//! table and the plot's panels out. Pure; the driver fills [`Report::samples`] and calls
//! [`Report::summarise`] after every measurement.

use pgvip_api::FailoverPhases;
use serde::Serialize;

use super::{drive::Seen, Scenario, ADDED_LATENCY_GOAL_MILLIS};
use crate::{
    bench::report::{self, Panel, Summary},
    patroni::PatroniOptions,
};

/// One measured outage.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Method label.
    pub method: String,
    /// Scenario.
    pub scenario: Option<Scenario>,
    /// Repetition (1-based).
    pub rep: u32,
    /// For HAProxy: the VIP method whose failover it rode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alongside: Option<String>,
    /// Old and new primary's node.
    pub from: String,
    /// New primary's node.
    pub to: String,
    /// What the writer saw.
    #[serde(flatten)]
    pub seen: Seen,
    /// pgvip only: status.lastFailover phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<FailoverPhases>,
    /// pgvip only: its own added latency, decide + announce (excludes the cloud call), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_millis: Option<u64>,
    /// pgvip only: the same without Patroni's promotion (the new holder answering that it
    /// is not primary yet), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_after_promotion_millis: Option<u64>,
}

impl Sample {
    /// Pure: (added, added after promotion) from a pgvip run's phases.
    pub fn added_from(phases: Option<&FailoverPhases>) -> (Option<u64>, Option<u64>) {
        match phases {
            Some(p) => (
                Some(p.decide_millis + p.announce_millis),
                Some(p.decide_millis.saturating_sub(p.promotion_millis) + p.announce_millis),
            ),
            None => (None, None),
        }
    }
}

/// A measurement that did not complete.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    /// Method label.
    pub method: String,
    /// Scenario.
    pub scenario: Scenario,
    /// Repetition.
    pub rep: u32,
    /// What went wrong.
    pub error: String,
}

/// One row of the summary.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Method label.
    pub method: String,
    /// Scenario.
    pub scenario: Scenario,
    /// Outage statistics, ms.
    #[serde(flatten)]
    pub outage: Summary,
}

/// Fixed settings of the run, for whoever reads the results.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Repetitions asked for.
    pub reps: u32,
    /// Patroni settings (identical for every method).
    pub patroni: Option<PatroniOptions>,
    /// `patronictl version`.
    pub patroni_version: String,
    /// `haproxy -v`.
    pub haproxy_version: String,
    /// The HAProxy configuration.
    pub haproxy_config: String,
    /// Writer: attempts per second and per-attempt timeout.
    pub writer: String,
    /// Which cloud call the simulated latency is added to.
    pub latency_applies_to: String,
}

/// Everything `bench failover` measured.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Settings.
    pub settings: Settings,
    /// Outage statistics per method × scenario.
    pub summary: Vec<Row>,
    /// pgvip's own added latency over all its runs (decide + announce), ms.
    pub pgvip_added_latency: Summary,
    /// The same from when the new leader had finished promoting (its last "not primary yet"
    /// answer), ms.
    pub pgvip_added_latency_after_promotion: Summary,
    /// The goal for its p99, ms.
    pub pgvip_added_latency_goal_p99_millis: u64,
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Measurements that failed.
    pub failures: Vec<Failed>,
    /// Whether the whole schedule ran.
    pub complete: bool,
}

impl Report {
    /// Recomputes the summary from the samples (pure), in first-seen order of methods.
    pub fn summarise(&mut self) {
        let mut rows: Vec<Row> = vec![];
        for s in &self.samples {
            let Some(sc) = s.scenario else { continue };
            if !rows
                .iter()
                .any(|r| r.method == s.method && r.scenario == sc)
            {
                let v: Vec<u64> = self
                    .samples
                    .iter()
                    .filter(|x| x.method == s.method && x.scenario == Some(sc))
                    .map(|x| x.seen.outage_millis)
                    .collect();
                rows.push(Row {
                    method: s.method.clone(),
                    scenario: sc,
                    outage: Summary::of(&v),
                });
            }
        }
        rows.sort_by_key(|r| r.scenario == Scenario::Kill);
        self.summary = rows;
        let added: Vec<u64> = self.samples.iter().filter_map(|s| s.added_millis).collect();
        self.pgvip_added_latency = Summary::of(&added);
        let after: Vec<u64> = self
            .samples
            .iter()
            .filter_map(|s| s.added_after_promotion_millis)
            .collect();
        self.pgvip_added_latency_after_promotion = Summary::of(&after);
        self.pgvip_added_latency_goal_p99_millis = ADDED_LATENCY_GOAL_MILLIS;
    }

    /// The printed table: method × scenario with n, median, p95, min, max (ms), then pgvip's
    /// own added latency against its goal.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .summary
            .iter()
            .map(|r| {
                let o = &r.outage;
                vec![
                    r.method.clone(),
                    format!("{:?}", r.scenario).to_lowercase(),
                    o.n.to_string(),
                    o.median.to_string(),
                    o.p95.to_string(),
                    o.min.to_string(),
                    o.max.to_string(),
                ]
            })
            .collect();
        let mut out = report::table(
            &[
                "method",
                "scenario",
                "n",
                "median_ms",
                "p95_ms",
                "min_ms",
                "max_ms",
            ],
            &rows,
        );
        let line = |what: &str, a: &Summary| {
            format!(
                "pgvip's own added latency ({what}, cloud call excluded): n={} median={} ms p95={} ms p99={} ms; goal p99 < {} ms: {}\n",
                a.n,
                a.median,
                a.p95,
                a.p99,
                ADDED_LATENCY_GOAL_MILLIS,
                if a.n == 0 { "no data" } else if a.p99 < ADDED_LATENCY_GOAL_MILLIS { "met" } else { "NOT met" }
            )
        };
        out.push('\n');
        out.push_str(&line(
            "leader change seen -> address + GARP on the new node",
            &self.pgvip_added_latency,
        ));
        out.push_str(&line(
            "new leader promoted -> address + GARP",
            &self.pgvip_added_latency_after_promotion,
        ));
        if !self.failures.is_empty() {
            out.push_str(&format!(
                "{} measurements failed (see failures in the results file)\n",
                self.failures.len()
            ));
        }
        out
    }

    /// Plot panels: one per scenario, one group per method.
    pub fn panels(&self) -> Vec<Panel> {
        [Scenario::Switchover, Scenario::Kill]
            .into_iter()
            .filter_map(|sc| {
                let groups: Vec<(String, Vec<u64>)> = self
                    .summary
                    .iter()
                    .filter(|r| r.scenario == sc)
                    .map(|r| {
                        let v = self
                            .samples
                            .iter()
                            .filter(|s| s.method == r.method && s.scenario == Some(sc))
                            .map(|s| s.seen.outage_millis)
                            .collect();
                        (r.method.clone(), v)
                    })
                    .collect();
                let title = match sc {
                    Scenario::Switchover => "planned switchover (patronictl switchover)",
                    Scenario::Kill => "primary killed (SIGKILL Patroni + postmaster)",
                };
                (!groups.is_empty()).then(|| Panel {
                    title: title.into(),
                    groups,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(method: &str, sc: Scenario, ms: u64, added: Option<u64>) -> Sample {
        Sample {
            method: method.into(),
            scenario: Some(sc),
            seen: Seen {
                outage_millis: ms,
                ..Default::default()
            },
            added_millis: added,
            ..Default::default()
        }
    }

    #[test]
    fn summary_groups_by_method_and_scenario_and_checks_the_goal() {
        let mut r = Report {
            samples: vec![
                sample("pgvip (cloud +0 s)", Scenario::Kill, 21000, Some(40)),
                sample("pgvip (cloud +0 s)", Scenario::Switchover, 1500, Some(30)),
                sample("haproxy", Scenario::Switchover, 6000, None),
                sample("pgvip (cloud +0 s)", Scenario::Switchover, 1700, Some(150)),
                sample("haproxy", Scenario::Switchover, 5000, None),
            ],
            ..Default::default()
        };
        r.summarise();
        let got: Vec<_> = r
            .summary
            .iter()
            .map(|x| {
                (
                    x.method.as_str(),
                    x.scenario,
                    x.outage.n,
                    x.outage.median,
                    x.outage.max,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("pgvip (cloud +0 s)", Scenario::Switchover, 2, 1500, 1700),
                ("haproxy", Scenario::Switchover, 2, 5000, 6000),
                ("pgvip (cloud +0 s)", Scenario::Kill, 1, 21000, 21000),
            ]
        );
        assert_eq!(r.pgvip_added_latency.n, 3);
        assert_eq!(r.pgvip_added_latency.p99, 150);
        let t = r.table();
        assert!(t.contains("goal p99 < 100 ms: NOT met"), "{t}");
        assert!(
            t.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("pgvip (cloud +0 s)  switchover")),
            "{t}"
        );
        let p = r.panels();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].groups[1], ("haproxy".to_string(), vec![6000, 5000]));
    }

    #[test]
    fn promotion_is_taken_out_of_the_added_latency() {
        let phases = FailoverPhases {
            decide_millis: 900,
            promotion_millis: 850,
            cloud_millis: 3000,
            announce_millis: 40,
            verify_millis: 5,
        };
        assert_eq!(
            Sample::added_from(Some(&phases)),
            (Some(940), Some(90)),
            "the cloud call is excluded from both"
        );
        assert_eq!(Sample::added_from(None), (None, None));
        let mut r = Report {
            samples: vec![Sample {
                added_millis: Some(940),
                added_after_promotion_millis: Some(90),
                ..sample("pgvip (cloud +0 s)", Scenario::Switchover, 1500, None)
            }],
            ..Default::default()
        };
        r.summarise();
        let t = r.table();
        assert!(
            t.contains("new leader promoted -> address + GARP") && t.contains("met"),
            "{t}"
        );
        assert_eq!(r.pgvip_added_latency_after_promotion.p99, 90);
    }
}
