//! What a reconcile works with: tunables, process-wide state, per-controller stores, and the
//! two side-effect helpers every step uses (status writes that skip no-ops, Event publishing).
//!
//! Data flow: `run` builds one [`Shared`] per leadership term and one [`Context`] per watched
//! namespace; reconcile steps write through [`Writer`] and publish through [`publish`].

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Resource;
use pgvip_api::{PostgresVip, PostgresVipStatus};
use tracing::warn;

use crate::backoff::Backoffs;
use crate::cloud::CloudProvider;
use crate::failover::Failovers;
use crate::lease::Leadership;
use crate::lock::LockClock;
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::readiness::Schedule;
use crate::status::{self, WriteCache};
use crate::watch::Stores;
use crate::{Error, Result};

/// Tunables of the flow.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long to wait for the agent's report.
    pub announce_timeout: Duration,
    /// Verify the data path through the VIP.
    pub verify_data_path: bool,
    /// Re-check every VIP at least this often.
    pub resync: Duration,
    /// Re-verify the data path of a Ready VIP this often.
    pub data_path_interval: Duration,
    /// Namespace of the node-agents' heartbeat Leases.
    pub agent_namespace: String,
}

/// State shared by every controller (namespace) of this process.
pub struct Shared {
    /// Kubernetes client.
    pub client: kube::Client,
    /// The cloud.
    pub provider: Arc<dyn CloudProvider>,
    /// REST client for members and VIPs.
    pub prober: Prober,
    /// Metrics.
    pub metrics: Metrics,
    /// Who publishes Events (controller name and replica identity).
    pub reporter: Reporter,
    /// Leader election state; checked before every write.
    pub leadership: Leadership,
    /// Tunables.
    pub settings: Settings,
    /// Monotonic lock observations.
    pub locks: LockClock,
    /// Failovers in progress.
    pub failovers: Failovers,
    /// Per-object backoff.
    pub backoffs: Backoffs,
    /// Last written statuses.
    pub writes: WriteCache,
    /// Failover-readiness checks: when each is due, and their verdicts.
    pub readiness: Schedule,
}

/// What one controller's reconciles see.
pub struct Context {
    /// Process-wide state.
    pub shared: Arc<Shared>,
    /// This controller's stores.
    pub stores: Stores,
    /// Asks this controller to reconcile a PostgresVip (background checks use it).
    pub trigger:
        tokio::sync::mpsc::UnboundedSender<kube::runtime::reflector::ObjectRef<PostgresVip>>,
}

/// Now as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Publishes one Event about `vip`; a failure is logged, never fatal.
///
/// Every call creates its own Event. The controller publishes on transitions only, and kube's
/// `Recorder` folds Events of one reason into the first one's series and keeps that first
/// note: three failovers within minutes would read as the first one three times. A fresh
/// recorder per Event has an empty series cache, so each failover keeps its own message.
pub async fn publish(
    sh: &Shared,
    vip: &PostgresVip,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    publish_on(sh, vip, type_, reason, action, note).await
}

/// [`publish`] without waiting for the API server: for the Events of a failover, which must
/// not sit on its path (an Event is a write of its own, 5–20 ms).
pub fn publish_detached(
    sh: &Arc<Shared>,
    vip: &PostgresVip,
    type_: EventType,
    reason: &'static str,
    action: &'static str,
    note: String,
) {
    let (sh, vip) = (Arc::clone(sh), vip.clone());
    tokio::spawn(async move { publish(&sh, &vip, type_, reason, action, note).await });
}

/// [`publish`] for any object of pgvip's (a PostgresVip or a drill).
pub async fn publish_on<K: Resource<DynamicType = ()>>(
    sh: &Shared,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    let recorder = Recorder::new(sh.client.clone(), sh.reporter.clone());
    if let Err(e) = recorder.publish(&ev, &obj.object_ref(&())).await {
        warn!(error = %e, reason, "publishing an Event failed");
    }
}

/// The write step: applies `next` when it differs from `cur`, then makes it current.
pub struct Writer<'a> {
    /// PostgresVip API of the namespace.
    pub api: &'a Api<PostgresVip>,
    /// Shared state (leadership, write cache, metrics).
    pub sh: &'a Shared,
    /// Object name.
    pub name: String,
    /// `namespace/name`.
    pub key: String,
}

impl Writer<'_> {
    /// Applies `next` if it changes anything, then makes it `cur`.
    pub async fn write(
        &mut self,
        cur: &mut PostgresVipStatus,
        next: PostgresVipStatus,
    ) -> Result<()> {
        if status::differs(Some(cur), &next) {
            if !self.sh.leadership.is_leader() {
                return Err(Error::NotLeader);
            }
            status::apply(self.api, &self.name, &next).await?;
            self.sh
                .metrics
                .vip_conditions(&self.key, Some(&next.conditions));
        }
        // Recorded even when nothing changed: the cache is this term's view of the status.
        self.sh.writes.record(&self.key, &next);
        *cur = PostgresVipStatus {
            nodes: std::mem::take(&mut cur.nodes),
            ..next
        };
        Ok(())
    }
}
