//! What `bench failover` records and how it is summarised: samples and failed measurements
//! in, per method × scenario statistics, pgvip's own added latency against its goal, the printed
//! table and the plot's panels out. Pure; the driver fills [`Report::samples`] and calls
//! [`Report::summarise`] after every measurement.
//!
//! Every measured failover (an *event*) has three writers riding it: the VIP method's, HAProxy's
//! and the floor's (libpq multi-host straight to the members). Patroni's own timing varies more
//! from event to event than the methods differ, so methods are compared by their *paired
//! excess*: the method's outage minus the floor's outage of the same event.

use pgvip_api::FailoverPhases;
use serde::Serialize;

use super::{drive::Seen, path::PathSeen, Scenario, ADDED_LATENCY_GOAL_MILLIS, FLOOR, HAPROXY};
use crate::{
    bench::report::{self, Panel, SignedSummary, Summary},
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
    /// The measured failover (1-based, in the order of the run); the samples of the writers that
    /// rode the same failover share it.
    pub event: u32,
    /// For HAProxy and the floor: the VIP method whose failover it rode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alongside: Option<String>,
    /// Old and new primary's node.
    pub from: String,
    /// New primary's node.
    pub to: String,
    /// What the writer saw.
    #[serde(flatten)]
    pub seen: Seen,
    /// The floor writer's outage in the same event, ms (absent for the floor itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_outage_millis: Option<u64>,
    /// This outage minus the floor's outage of the same event, ms (below zero when this writer
    /// happened to resume first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excess_millis: Option<i64>,
    /// pgvip only: when the path probe (open loop through the VIP, per member for the floor)
    /// saw each side resume, and the difference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathSeen>,
    /// pgvip only: the simulated latency added to its cloud move, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_latency_millis: Option<u64>,
    /// pgvip only: Patroni's part after the lock change, from pgvip seeing the lock change
    /// (lastFailover.at) to the path probe's first write the new primary accepted on its own
    /// address, ms. The cloud move runs alongside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_millis: Option<u64>,
    /// pgvip only: the path excess beyond what the cloud call may add once it overlaps the
    /// promotion ([`beyond_overlap`]), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_overlap_millis: Option<i64>,
    /// pgvip only: status.lastFailover phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<FailoverPhases>,
    /// pgvip only: its own added latency, decide + announce (up to the new node's first
    /// announcement; excludes the cloud call and the agent's report back), ms.
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

    /// Pairs this sample with the floor's outage of the same event (pure).
    pub fn paired_with(mut self, floor_outage_millis: u64) -> Sample {
        self.floor_outage_millis = Some(floor_outage_millis);
        self.excess_millis = Some(excess(self.seen.outage_millis, floor_outage_millis));
        self
    }
}

/// A method's outage minus the floor's, ms (pure; saturating).
pub fn excess(outage_millis: u64, floor_outage_millis: u64) -> i64 {
    let o = i64::try_from(outage_millis).unwrap_or(i64::MAX);
    let f = i64::try_from(floor_outage_millis).unwrap_or(i64::MAX);
    o.saturating_sub(f)
}

/// Pure: how much of a path excess the overlap does not explain. A cloud call of `latency`
/// that starts at the lock change and runs alongside a promotion of `promotion` may delay the
/// VIP past the new primary by at most `latency − promotion` (nothing when the promotion takes
/// longer); the rest of the excess is pgvip's own.
pub fn beyond_overlap(path_excess: i64, latency: u64, promotion: u64) -> i64 {
    let budget = i64::try_from(latency.saturating_sub(promotion)).unwrap_or(i64::MAX);
    path_excess.saturating_sub(budget)
}

/// Pure: milliseconds from RFC 3339 time `from` to `to` (0 when `to` is earlier; `None` when
/// either does not parse).
pub fn millis_between(from: &str, to: &str) -> Option<u64> {
    let a = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some(u64::try_from((b - a).num_milliseconds()).unwrap_or(0))
}

/// Pure: the table cells `pick` takes from a summary, or as many dashes when there is none.
fn cells<S, V: ToString, const N: usize>(
    s: Option<&S>,
    pick: impl Fn(&S) -> [V; N],
) -> [String; N] {
    match s {
        Some(s) => pick(s).map(|v| v.to_string()),
        None => std::array::from_fn(|_| "-".to_string()),
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
    /// The floor's outage in the same events, ms (absent for the floor's own row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<Summary>,
    /// Paired excess over the floor (outage − floor outage, event by event), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excess: Option<SignedSummary>,
    /// The path probe's excess (VIP open loop − floor per member, event by event), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_excess: Option<SignedSummary>,
    /// pgvip only: the path excess beyond the overlap's allowance, event by event, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_overlap: Option<SignedSummary>,
    /// pgvip only: Patroni's promotion after the lock change in the same events, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Summary>,
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
    /// The floor writer: how it reaches the primary.
    pub floor: String,
    /// The pgvip binaries the run used (controller, node-agent).
    pub pgvip_binaries: Vec<Binary>,
    /// Which cloud call the simulated latency is added to.
    pub latency_applies_to: String,
    /// vip-manager's version and command line, and the DCS it was measured on (when it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip_manager: Option<String>,
}

/// One binary a run used.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Binary {
    /// Its name.
    pub name: String,
    /// Where it was.
    pub path: String,
    /// What `file -b` says about it.
    pub file: String,
    /// Its build, from that: "static release (as the images ship)", "debug" or "release".
    pub build: String,
}

/// The build of a binary, from `file -b`'s description (pure).
pub fn build_kind(file: &str) -> &'static str {
    let static_ = file.contains("statically linked") || file.contains("static-pie linked");
    if file.contains("with debug_info") {
        "debug"
    } else if static_ && file.contains(", stripped") {
        "static release (as the images ship)"
    } else {
        "release"
    }
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
    /// What the run had to repair between measurements (e.g. a stale VIP left on a node the
    /// callback did not unconfigure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether the whole schedule ran.
    pub complete: bool,
}

impl Report {
    /// Recomputes the summary from the samples (pure): per scenario, the VIP methods in
    /// first-seen order, then HAProxy, then the floor.
    pub fn summarise(&mut self) {
        let mut rows: Vec<Row> = vec![];
        for s in &self.samples {
            let Some(sc) = s.scenario else { continue };
            if rows
                .iter()
                .any(|r| r.method == s.method && r.scenario == sc)
            {
                continue;
            }
            let of: Vec<&Sample> = self
                .samples
                .iter()
                .filter(|x| x.method == s.method && x.scenario == Some(sc))
                .collect();
            let v: Vec<u64> = of.iter().map(|x| x.seen.outage_millis).collect();
            // The statistics of one field over the samples that have it (none: no row cell).
            let unsigned = |f: fn(&Sample) -> Option<u64>| {
                let v: Vec<u64> = of.iter().filter_map(|x| f(x)).collect();
                (!v.is_empty()).then(|| Summary::of(&v))
            };
            let signed = |f: fn(&Sample) -> Option<i64>| {
                let v: Vec<i64> = of.iter().filter_map(|x| f(x)).collect();
                (!v.is_empty()).then(|| SignedSummary::of(&v))
            };
            rows.push(Row {
                method: s.method.clone(),
                scenario: sc,
                outage: Summary::of(&v),
                floor: unsigned(|x| x.floor_outage_millis),
                excess: signed(|x| x.excess_millis),
                path_excess: signed(|x| x.path.as_ref().map(|p| p.excess_millis)),
                beyond_overlap: signed(|x| x.beyond_overlap_millis),
                promotion: unsigned(|x| x.promotion_millis),
            });
        }
        let rank = |m: &str| match m {
            HAPROXY => 1,
            FLOOR => 2,
            _ => 0,
        };
        rows.sort_by_key(|r| (r.scenario, rank(&r.method)));
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

    /// The printed table: method × scenario with n, median, p95, min, max of the outage, the
    /// floor's median outage in the same events and the paired excess over the floor (median,
    /// p95, max; ms), then pgvip's own added latency against its goal.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .summary
            .iter()
            .map(|r| {
                let o = &r.outage;
                let mut row = vec![
                    r.method.clone(),
                    r.scenario.name().to_string(),
                    o.n.to_string(),
                    o.median.to_string(),
                    o.p95.to_string(),
                    o.min.to_string(),
                    o.max.to_string(),
                ];
                row.extend(cells(r.floor.as_ref(), |f| [f.median]));
                row.extend(cells(r.excess.as_ref(), |e| [e.median, e.p95, e.max]));
                row.extend(cells(r.path_excess.as_ref(), |e| [e.median, e.p95]));
                row.extend(cells(r.promotion.as_ref(), |p| [p.median]));
                row.extend(cells(r.beyond_overlap.as_ref(), |e| [e.median, e.max]));
                row
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
                "floor_median_ms",
                "excess_median_ms",
                "excess_p95_ms",
                "excess_max_ms",
                "path_excess_median_ms",
                "path_excess_p95_ms",
                "promotion_median_ms",
                "beyond_overlap_median_ms",
                "beyond_overlap_max_ms",
            ],
            &rows,
        );
        out.push_str(&format!(
            "\nexcess: the method's outage minus the floor's outage of the same failover, event by \
             event; floor: {}\npath_excess: the same from the path probe (open loop through the VIP, a \
             fresh connection every 50 ms, against each member on its own connection), free of \
             the writers' one-second timeout rhythm\npromotion: pgvip seeing the lock change -> the \
             new primary's first write on its own address (Patroni's part; the cloud move runs \
             alongside it); beyond_overlap: path_excess - max(0, cloud latency - promotion), what \
             the overlap does not explain (goal: <= 150 ms at every latency)\n",
            if self.settings.floor.is_empty() {
                FLOOR
            } else {
                self.settings.floor.as_str()
            }
        ));
        for b in &self.settings.pgvip_binaries {
            out.push_str(&format!("{}: {} ({})\n", b.name, b.path, b.build));
        }
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

    /// Plot panels: one per scenario, one group per method but the floor, each sample its
    /// paired excess over the floor.
    pub fn panels(&self) -> Vec<Panel> {
        Scenario::ALL
            .into_iter()
            .filter_map(|sc| {
                let groups: Vec<(String, Vec<i64>)> = self
                    .summary
                    .iter()
                    .filter(|r| r.scenario == sc && r.excess.is_some())
                    .map(|r| {
                        let v = self
                            .samples
                            .iter()
                            .filter(|s| s.method == r.method && s.scenario == Some(sc))
                            .filter_map(|s| s.excess_millis)
                            .collect();
                        (r.method.clone(), v)
                    })
                    .collect();
                (!groups.is_empty()).then(|| Panel {
                    title: sc.title().into(),
                    y_label: "outage − floor's outage, same failover (ms)".into(),
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
                sample(FLOOR, Scenario::Switchover, 1400, None),
                sample("haproxy", Scenario::Switchover, 6000, None),
                sample("pgvip (cloud +0 s)", Scenario::Switchover, 1500, Some(30)),
                sample("pgvip (cloud +0 s)", Scenario::NodeLost, 25000, Some(30)),
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
                (FLOOR, Scenario::Switchover, 1, 1400, 1400),
                ("pgvip (cloud +0 s)", Scenario::Kill, 1, 21000, 21000),
                ("pgvip (cloud +0 s)", Scenario::NodeLost, 1, 25000, 25000),
            ]
        );
        assert_eq!(r.pgvip_added_latency.n, 4);
        assert_eq!(r.pgvip_added_latency.p99, 150);
        let t = r.table();
        assert!(t.contains("goal p99 < 100 ms: NOT met"), "{t}");
        assert!(
            t.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("pgvip (cloud +0 s)        switchover")),
            "{t}"
        );
        assert!(t.contains("  node-lost  "), "{t}");
    }

    /// The samples of one event: (VIP method's, HAProxy's, floor's), paired as the driver
    /// pairs them.
    fn event(method: &str, sc: Scenario, n: u32, vip: u64, hap: u64, floor: u64) -> [Sample; 3] {
        let s = |m: &str, ms| Sample {
            event: n,
            ..sample(m, sc, ms, None)
        };
        [
            s(method, vip).paired_with(floor),
            s(HAPROXY, hap).paired_with(floor),
            s(FLOOR, floor),
        ]
    }

    #[test]
    fn methods_are_compared_by_their_paired_excess_over_the_floor() {
        let mut r = Report::default();
        // Patroni's own timing moves all three writers of an event together.
        for (n, (vip, hap, floor)) in [
            (3300, 6400, 3200),
            (1500, 4700, 1400),
            (2400, 5800, 2300),
            (1390, 4500, 1400),
        ]
        .into_iter()
        .enumerate()
        {
            r.samples.extend(event(
                "pgvip (cloud +0 s)",
                Scenario::Switchover,
                n as u32 + 1,
                vip,
                hap,
                floor,
            ));
        }
        r.samples.extend(event(
            "callback (cloud +0 s)",
            Scenario::Switchover,
            5,
            3000,
            5000,
            2900,
        ));
        // The path probe rides pgvip's events only.
        for (i, x) in r
            .samples
            .iter_mut()
            .filter(|x| x.method == "pgvip (cloud +0 s)")
            .enumerate()
        {
            x.path = Some(PathSeen {
                excess_millis: 20 * i as i64 - 10,
                ..Default::default()
            });
        }
        r.summarise();
        let row = |m: &str| r.summary.iter().find(|x| x.method == m).cloned();
        let pgvip = row("pgvip (cloud +0 s)");
        let e = pgvip.as_ref().and_then(|x| x.excess.clone());
        assert_eq!(
            e.map(|e| (e.n, e.median, e.p95, e.min, e.max)),
            Some((4, 100, 100, -10, 100))
        );
        let path = pgvip.as_ref().and_then(|x| x.path_excess.clone());
        assert_eq!(path.map(|e| (e.n, e.median, e.max)), Some((4, 10, 50)));
        assert_eq!(pgvip.and_then(|x| x.floor).map(|f| f.median), Some(1400));
        assert!(row(HAPROXY).is_some_and(|h| h.path_excess.is_none()));
        let hap = row(HAPROXY).and_then(|x| x.excess);
        assert_eq!(hap.map(|e| (e.n, e.median, e.max)), Some((5, 3200, 3500)));
        let floor = row(FLOOR);
        assert!(floor
            .as_ref()
            .is_some_and(|f| f.excess.is_none() && f.floor.is_none() && f.outage.n == 5));
        let t = r.table();
        assert!(
            t.lines().next().is_some_and(
                |h| h.ends_with("path_excess_p95_ms  promotion_median_ms  beyond_overlap_median_ms  beyond_overlap_max_ms")
            ),
            "{t}"
        );
        let floor_line = t.lines().find(|l| l.starts_with(FLOOR)).unwrap_or_default();
        let cells: Vec<&str> = floor_line.split_whitespace().collect();
        assert!(
            cells.len() > 9 && cells[cells.len() - 9..] == ["-"; 9],
            "{t}"
        );
        // The plot: the excess of every method but the floor, every sample.
        let p = r.panels();
        assert_eq!(p.len(), 1);
        let labels: Vec<&str> = p[0].groups.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            labels,
            ["pgvip (cloud +0 s)", "callback (cloud +0 s)", HAPROXY]
        );
        assert_eq!(p[0].groups[0].1, vec![100, 100, 100, -10]);
        assert!(p[0].y_label.contains("floor"));
        // The raw samples stay in the JSON with the pairing.
        let json = serde_json::to_value(&r).unwrap_or_default();
        let first = &json["samples"][0];
        assert_eq!(first["outageMillis"], 3300);
        assert_eq!(first["floorOutageMillis"], 3200);
        assert_eq!(first["excessMillis"], 100);
        assert_eq!(first["event"], 1);
        assert!(json["samples"][2].get("excessMillis").is_none());
        assert_eq!(json["summary"][0]["excess"]["median"], 100);
    }

    #[test]
    fn excess_may_be_negative_and_builds_are_named() {
        assert_eq!(excess(1390, 1400), -10);
        assert_eq!(excess(u64::MAX, 0), i64::MAX);
        assert_eq!(
            build_kind(
                "ELF 64-bit LSB executable, x86-64, version 1 (SYSV), static-pie linked, stripped"
            ),
            "static release (as the images ship)"
        );
        assert_eq!(
            build_kind("ELF 64-bit LSB pie executable, x86-64, dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, with debug_info, not stripped"),
            "debug"
        );
        assert_eq!(
            build_kind("ELF 64-bit LSB pie executable, x86-64, dynamically linked, stripped"),
            "release"
        );
    }

    #[test]
    fn the_overlap_explains_at_most_latency_minus_promotion() {
        // (path excess, cloud latency, promotion) → beyond the overlap
        let cases = [
            (40, 0, 300, 40),       // no cloud latency: all of it is pgvip's
            (760, 1000, 300, 60),   // 700 explained by the move outlasting the promotion
            (-20, 1000, 1500, -20), // promotion longer than the move: nothing explained
            (2750, 3000, 300, 50),
            (1000, 1000, 0, 0),
        ];
        for (excess, latency, promotion, want) in cases {
            assert_eq!(
                beyond_overlap(excess, latency, promotion),
                want,
                "{excess} {latency} {promotion}"
            );
        }
    }

    #[test]
    fn millis_between_wall_times() {
        let cases = [
            (
                "2026-12-07T10:00:00.000Z",
                "2026-12-07T10:00:00.250Z",
                Some(250),
            ),
            (
                "2026-12-07T10:00:00.250Z",
                "2026-12-07T10:00:00.000Z",
                Some(0),
            ),
            ("garbage", "2026-12-07T10:00:00.000Z", None),
        ];
        for (a, b, want) in cases {
            assert_eq!(millis_between(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn promotion_is_taken_out_of_the_added_latency() {
        let phases = FailoverPhases {
            decide_millis: 900,
            promotion_millis: 850,
            cloud_millis: 3000,
            announce_millis: 40,
            report_millis: 70,
            verify_millis: 5,
        };
        assert_eq!(
            Sample::added_from(Some(&phases)),
            (Some(940), Some(90)),
            "the cloud call and the report back are excluded from both"
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
