//! Prometheus metrics (prefix `pgvip_`), all with bounded label values.
//!
//! Data flow: the reconciler records failover phases, cloud calls, reconcile outcomes and each
//! VIP's conditions here; `/metrics` ([`crate::http`]) encodes the registry on request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::conditions::{COMPONENTS, FALSE, TRUE, UNKNOWN};

/// `phase` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// decide, cloud, announce, verify or total.
    pub phase: &'static str,
}

/// `result` label of data-path probes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` (reached the confirmed member) or `failed`.
    pub result: &'static str,
}

/// Cloud call labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudLabels {
    /// Provider name.
    pub provider: &'static str,
    /// ensure_assigned, current_assignment or release.
    pub operation: &'static str,
}

/// Cloud error labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudErrorLabels {
    /// Provider name.
    pub provider: &'static str,
    /// Operation.
    pub operation: &'static str,
    /// Fixed error category.
    pub category: &'static str,
}

/// Error category label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    /// Fixed error category.
    pub category: &'static str,
}

/// Condition labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    /// Condition type.
    pub condition: &'static str,
    /// True, False or Unknown.
    pub status: &'static str,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ]
    .into_iter()
}

/// Labels of per-VIP gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VipLabels {
    /// `namespace/name` of the PostgresVip.
    pub vip: String,
}

/// Labels of drill results.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DrillLabels {
    /// `namespace/name` of the drilled PostgresVip.
    pub vip: String,
    /// `passed`, `failed` or `refused`.
    pub result: &'static str,
}

/// (type, status) of one VIP's conditions.
type ConditionPairs = Vec<(String, String)>;

/// All controller metrics.
#[derive(Clone)]
pub struct Metrics {
    failover: Family<PhaseLabels, Histogram>,
    cloud_latency: Family<CloudLabels, Histogram>,
    cloud_errors: Family<CloudErrorLabels, Counter>,
    reconciles: Counter,
    reconcile_errors: Family<CategoryLabels, Counter>,
    reconcile_duration: Histogram,
    data_path: Family<ResultLabels, Histogram>,
    vips: Family<ConditionLabels, Gauge>,
    leader: Gauge,
    failover_ready: Family<VipLabels, Gauge>,
    drills: Family<DrillLabels, Counter>,
    drill_outage: Family<VipLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    per_vip: Arc<Mutex<HashMap<String, ConditionPairs>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            failover: Family::new_with_constructor(|| Histogram::new(seconds_buckets())),
            cloud_latency: Family::new_with_constructor(|| Histogram::new(seconds_buckets())),
            cloud_errors: Family::default(),
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Histogram::new(seconds_buckets()),
            data_path: Family::new_with_constructor(|| Histogram::new(seconds_buckets())),
            vips: Family::default(),
            leader: Gauge::default(),
            failover_ready: Family::default(),
            drills: Family::default(),
            drill_outage: Family::default(),
            per_vip: Arc::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry` (created with prefix `pgvip`).
    pub fn register(self, registry: &mut Registry) -> Self {
        registry.register(
            "failover_duration_seconds",
            "Failover duration by phase (decide, cloud, announce, verify, total)",
            self.failover.clone(),
        );
        registry.register(
            "cloud_call_duration_seconds",
            "Latency of cloud provider calls",
            self.cloud_latency.clone(),
        );
        registry.register(
            "cloud_call_errors",
            "Failed cloud provider calls by error category",
            self.cloud_errors.clone(),
        );
        registry.register("reconciles", "Reconciles run", self.reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            self.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "data_path_probe_seconds",
            "Latency of the requests through each VIP to its confirmed member, by result",
            self.data_path.clone(),
        );
        registry.register(
            "vips",
            "PostgresVips by condition and status",
            self.vips.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader-election Lease",
            self.leader.clone(),
        );
        registry.register(
            "failover_ready",
            "Per PostgresVip: 1 when every candidate node can take the address, 0 when one cannot, -1 when the check could not finish",
            self.failover_ready.clone(),
        );
        registry.register(
            "drills",
            "Failover drills by drilled PostgresVip and result (passed, failed, refused)",
            self.drills.clone(),
        );
        registry.register(
            "drill_outage_seconds",
            "Per PostgresVip: the write outage its last completed drill measured through the VIP",
            self.drill_outage.clone(),
        );
        self
    }

    /// Drops every per-VIP figure (the term ended: another replica reports them now).
    pub fn forget_vips(&self) {
        let keys: Vec<String> = self
            .per_vip
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for k in keys {
            self.vip_conditions(&k, None);
        }
        self.failover_ready.clear();
        self.drill_outage.clear();
    }

    /// Records the failover-readiness verdict of `vip` (`None`: the VIP is gone).
    pub fn failover_ready(&self, vip: &str, status: Option<&str>) {
        let labels = VipLabels {
            vip: vip.to_string(),
        };
        match status {
            Some(s) => {
                let v = match s {
                    TRUE => 1,
                    FALSE => 0,
                    _ => -1,
                };
                self.failover_ready.get_or_create(&labels).set(v);
            }
            None => {
                self.failover_ready.remove(&labels);
            }
        }
    }

    /// Records a completed failover.
    pub fn failover(&self, r: &pgvip_api::FailoverRecord) {
        let obs = |phase, ms: u64| {
            self.failover
                .get_or_create(&PhaseLabels { phase })
                .observe(ms as f64 / 1000.0)
        };
        for (phase, ms) in r.phases.named() {
            obs(phase, ms);
        }
        obs("total", r.duration_millis);
    }

    /// Records one drill's result, and its measured outage when it ran.
    pub fn drill(&self, vip: &str, result: &'static str, outage: Option<Duration>) {
        self.drills
            .get_or_create(&DrillLabels {
                vip: vip.to_string(),
                result,
            })
            .inc();
        if let Some(o) = outage {
            self.drill_outage
                .get_or_create(&VipLabels {
                    vip: vip.to_string(),
                })
                .set(o.as_secs_f64());
        }
    }

    /// Records one cloud call.
    pub fn cloud_call(
        &self,
        provider: &'static str,
        operation: &'static str,
        took: Duration,
        error: Option<&'static str>,
    ) {
        self.cloud_latency
            .get_or_create(&CloudLabels {
                provider,
                operation,
            })
            .observe(took.as_secs_f64());
        if let Some(category) = error {
            self.cloud_errors
                .get_or_create(&CloudErrorLabels {
                    provider,
                    operation,
                    category,
                })
                .inc();
        }
    }

    /// Records one reconcile and its duration.
    pub fn reconcile(&self, took: Duration) {
        self.reconciles.inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Records one data-path probe through a VIP.
    pub fn data_path_probe(&self, took: Duration, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.data_path
            .get_or_create(&ResultLabels { result })
            .observe(took.as_secs_f64());
    }

    /// Records a failed reconcile.
    pub fn reconcile_error(&self, category: &'static str) {
        self.reconcile_errors
            .get_or_create(&CategoryLabels { category })
            .inc();
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Records the conditions of VIP `key` (`None` when it is gone) and recounts the gauge.
    pub fn vip_conditions(&self, key: &str, conds: Option<&[pgvip_api::Condition]>) {
        let mut per = self.per_vip.lock().unwrap_or_else(|p| p.into_inner());
        match conds {
            Some(c) => {
                per.insert(
                    key.to_string(),
                    c.iter()
                        .map(|c| (c.type_.clone(), c.status.clone()))
                        .collect(),
                );
            }
            None => {
                per.remove(key);
            }
        }
        let types = [
            pgvip_api::condition::READY,
            pgvip_api::condition::FAILOVER_READY,
        ]
        .into_iter()
        .chain(COMPONENTS);
        for t in types {
            for s in [TRUE, FALSE, UNKNOWN] {
                let n = per
                    .values()
                    .filter(|v| v.iter().any(|(ct, cs)| ct == t && cs == s))
                    .count();
                self.vips
                    .get_or_create(&ConditionLabels {
                        condition: t,
                        status: s,
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }
}

/// Encodes `registry` in the Prometheus text format.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, registry)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_gauge_counts_by_condition() {
        let mut reg = Registry::with_prefix("pgvip");
        let m = Metrics::default().register(&mut reg);
        let c = |t: &str, s: &str| pgvip_api::Condition {
            type_: t.into(),
            status: s.into(),
            reason: "r".into(),
            message: String::new(),
            last_transition_time: "t".into(),
            observed_generation: None,
        };
        m.vip_conditions("a", Some(&[c("Ready", "True")]));
        m.vip_conditions("b", Some(&[c("Ready", "False")]));
        m.vip_conditions("c", Some(&[c("Ready", "True")]));
        m.vip_conditions("c", None);
        m.cloud_call(
            "fake",
            "ensure_assigned",
            Duration::from_millis(20),
            Some("throttled"),
        );
        let text = encode(&reg).unwrap();
        assert!(
            text.contains(r#"pgvip_vips{condition="Ready",status="True"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"pgvip_vips{condition="Ready",status="False"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"pgvip_cloud_call_errors_total{provider="fake",operation="ensure_assigned",category="throttled"} 1"#), "{text}");

        m.failover_ready("db/a", Some("False"));
        let text = encode(&reg).unwrap();
        assert!(
            text.contains(r#"pgvip_failover_ready{vip="db/a"} 0"#),
            "{text}"
        );
        // A replica that loses the Lease stops reporting per-VIP figures.
        m.forget_vips();
        let text = encode(&reg).unwrap();
        assert!(
            text.contains(r#"pgvip_vips{condition="Ready",status="True"} 0"#),
            "{text}"
        );
        assert!(!text.contains(r#"pgvip_failover_ready{"#), "{text}");
    }
}
