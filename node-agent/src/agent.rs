//! The agent's event loop: the only place that holds state across events. It keeps the
//! latest view of every watched PostgresVip, and for each input snapshots netlink state, runs
//! the pure planner, executes the actions, and queues a report when the VIP's state changed.
//! A resync timer repairs drift; the hold deadline (see `hold`) fails closed.
//!
//! Data flow: [`Input`]s (from `watch` and `reserved`) → [`Agent::run`] → `netlink` / `announce` →
//! [`ReportRequest`]s (to `report`). No Kubernetes client here, so tests drive it directly.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgvip_api::NodeReport;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::announce::Announcer;
use crate::error::Error;
use crate::fence::Fencer;
use crate::hold::{fail_closed_at, ApiContact, Verdict};
use crate::local::{self, LocalAnswer, LocalState, OutOfContact};
use crate::metrics::Metrics;
use crate::model::{ReportState, VipKey, VipView};
use crate::netlink::Netlink;
use crate::netstate::{IfAddr, NetState};
use crate::plan::orphans;

mod execute;

/// What the watch side tells the agent.
#[derive(Debug)]
pub enum Input {
    /// A VIP was added or changed.
    Applied {
        /// Its view (boxed: far larger than the other inputs).
        vip: Box<VipView>,
        /// When the event arrived (latency metrics start here).
        received: Instant,
    },
    /// A VIP was deleted.
    Deleted {
        /// Which.
        key: VipKey,
        /// When the event arrived.
        received: Instant,
    },
    /// A (re)list of one watch scope completed: this is the full set of VIPs in it.
    Relisted {
        /// The namespace, or `None` for all namespaces.
        scope: Option<String>,
        /// Every VIP in the scope.
        vips: Vec<VipView>,
        /// When the list completed.
        received: Instant,
    },
    /// The addresses Nodes and this node's pods use changed: the full new set (canonical),
    /// each with who uses it.
    Reserved(BTreeMap<IpAddr, String>),
    /// The API server answered a probe at this moment.
    ProbeOk(Instant),
    /// A watch stream reported an error (it retries with backoff by itself).
    WatchError,
    /// What the leader's Patroni on this node said about a held VIP (see `local`).
    Local(LocalAnswer),
}

/// A node report to write to one VIP's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRequest {
    /// Which VIP.
    pub key: VipKey,
    /// This node's entry.
    pub report: NodeReport,
}

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// This node's name.
    pub node: String,
    /// How long to keep addresses while the API server is unreachable.
    pub hold: Duration,
    /// Period of the drift-repairing resync.
    pub resync: Duration,
    /// Watch scopes (`None` = all namespaces); orphan cleanup waits until each has listed.
    pub scopes: Vec<Option<String>>,
    /// Remove every owned address on shutdown (default: keep them for the next start).
    pub release_on_exit: bool,
}

/// What the agent remembers about one VIP between events.
#[derive(Debug, Default)]
struct Memory {
    /// The address planned for last time (to clean up after a spec change or deletion).
    address: Option<IpAddr>,
    /// `(announcedFor, announcedAt)`.
    announced: Option<(String, String)>,
    /// The report state this process last queued.
    written: Option<ReportState>,
    /// The running announcement task.
    announcing: Option<JoinHandle<()>>,
    /// `announced` was initialised from the object's own report.
    seeded: bool,
    /// `announcing` is the burst of a cloud move to this node still under way.
    moving: bool,
    /// When the address was withdrawn because the local member stopped being the primary while
    /// the API server was unreachable: not held again until contact newer than this.
    withdrawn_at: Option<Instant>,
}

impl Memory {
    fn stop_announcing(&mut self) {
        self.moving = false;
        if let Some(task) = self.announcing.take() {
            task.abort();
        }
    }
}

/// What executing one VIP's plan produced, for its report.
struct Outcome {
    key: VipKey,
    acted: bool,
    interface: Option<String>,
    error: Option<Error>,
}

/// The event loop and its state.
pub struct Agent {
    cfg: AgentConfig,
    net: Netlink,
    announcer: Announcer,
    reports: mpsc::UnboundedSender<ReportRequest>,
    metrics: Metrics,
    vips: BTreeMap<VipKey, VipView>,
    memory: BTreeMap<VipKey, Memory>,
    contact: ApiContact,
    reserved: BTreeMap<IpAddr, String>,
    fence: Fencer,
    unsynced: BTreeSet<Option<String>>,
    expired: bool,
    ready: Arc<AtomicBool>,
    /// What each held VIP's local member said so far.
    local: BTreeMap<VipKey, LocalState>,
    /// Where the VIPs to ask the local member about are published (see `local::run`).
    local_targets: Option<watch::Sender<BTreeMap<VipKey, String>>>,
}

impl Agent {
    /// A new agent; the hold time starts counting now.
    pub fn new(
        cfg: AgentConfig,
        net: Netlink,
        announcer: Announcer,
        reports: mpsc::UnboundedSender<ReportRequest>,
        metrics: Metrics,
    ) -> Self {
        Self {
            contact: ApiContact::new(cfg.hold, Instant::now()),
            unsynced: cfg.scopes.iter().cloned().collect(),
            cfg,
            net,
            announcer,
            reports,
            metrics,
            vips: BTreeMap::new(),
            memory: BTreeMap::new(),
            reserved: BTreeMap::new(),
            fence: Fencer::new(),
            expired: false,
            ready: Arc::new(AtomicBool::new(false)),
            local: BTreeMap::new(),
            local_targets: None,
        }
    }

    /// Publishes the VIPs whose local member to ask on `targets` (for `local::run`); without
    /// it every VIP falls back to the hold time.
    pub fn with_local_targets(mut self, targets: watch::Sender<BTreeMap<VipKey, String>>) -> Self {
        self.local_targets = Some(targets);
        self
    }

    /// Flag that turns true once every scope has listed and the hold has not expired.
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Runs until `inputs` closes or `shutdown` completes.
    pub async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut resync = tokio::time::interval(self.cfg.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        self.log_start().await;
        loop {
            let now = Instant::now();
            let deadline = fail_closed_at(self.contact.verdict(now), self.expired, now);
            tokio::select! {
                _ = &mut shutdown => break,
                input = inputs.recv() => match input {
                    Some(input) => self.handle(input).await,
                    None => break,
                },
                _ = resync.tick() => self.resync().await,
                _ = sleep_until(deadline) => self.fail_closed().await,
            }
            self.ready
                .store(self.unsynced.is_empty() && !self.expired, Ordering::Relaxed);
        }
        self.shutdown().await;
    }

    async fn log_start(&self) {
        match self.net.addresses().await {
            Ok(addrs) => {
                let owned: Vec<String> = addrs
                    .iter()
                    .filter(|a| a.is_owned())
                    .map(|a| a.address.to_string())
                    .collect();
                self.metrics.addresses_held.set(owned.len() as i64);
                info!(node = %self.cfg.node, ?owned, hold = ?self.cfg.hold, "node-agent started; holding owned addresses until the first list");
            }
            Err(error) => self.count(&error, "cannot list addresses at start"),
        }
    }

    /// Applies one input.
    pub async fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Applied { vip, received } => {
                self.contact.on_watch_event(now);
                let key = vip.key.clone();
                self.vips.insert(key.clone(), *vip);
                if !self.recover().await {
                    self.reconcile(vec![key], received, false).await;
                }
            }
            Input::Deleted { key, received } => {
                self.contact.on_watch_event(now);
                self.vips.remove(&key);
                if !self.recover().await {
                    self.reconcile(vec![key], received, false).await;
                }
            }
            Input::Relisted {
                scope,
                vips,
                received,
            } => {
                self.contact.on_watch_event(now);
                self.vips
                    .retain(|k, _| scope.as_ref().is_some_and(|ns| ns != &k.namespace));
                for v in vips {
                    self.vips.insert(v.key.clone(), v);
                }
                if self.unsynced.remove(&scope) && self.unsynced.is_empty() {
                    info!(vips = self.vips.len(), "initial list complete; reconciling");
                }
                self.expired = false;
                self.reconcile_all(received).await;
            }
            Input::Reserved(reserved) => {
                if reserved != self.reserved {
                    self.reserved = reserved;
                    if !self.expired {
                        self.reconcile_all(now).await;
                    }
                }
            }
            Input::ProbeOk(at) => {
                self.contact.on_probe_ok(at);
                self.recover().await;
            }
            Input::WatchError => self.contact.on_watch_error(),
            Input::Local(answer) => self.on_local_answer(answer).await,
        }
        self.end_withdrawals().await;
    }

    /// Takes in a local member's answer; withdraws the VIP when the member is no longer the
    /// primary and the API server is out of reach (it just did not answer, or the hold expired).
    async fn on_local_answer(&mut self, answer: LocalAnswer) {
        if answer.api_reachable == Some(true) {
            self.contact.on_probe_ok(answer.at);
        }
        let key = answer.key.clone();
        let state = self.local.entry(key.clone()).or_default();
        state.update(&answer);
        let demoted = state.demoted(answer.at);
        let out_of_contact = answer.api_reachable == Some(false) || self.expired;
        let release = demoted && out_of_contact && !self.withdrawn(&key);
        if !release {
            self.recover().await;
            return;
        }
        warn!(vip = %key, node = %self.cfg.node, "the local member is no longer the primary and the API server is unreachable; removing the address (fail closed)");
        self.metrics.fail_closed.inc();
        self.memory.entry(key.clone()).or_default().withdrawn_at = Some(Instant::now());
        self.reconcile(vec![key], Instant::now(), false).await;
    }

    /// True while `key` stays withdrawn (no API contact since it was).
    fn withdrawn(&self, key: &VipKey) -> bool {
        self.memory
            .get(key)
            .and_then(|m| m.withdrawn_at)
            .is_some_and(|at| self.contact.last() <= at)
    }

    /// Ends the withdrawals that API contact has overtaken, and reconciles those VIPs.
    async fn end_withdrawals(&mut self) {
        let last = self.contact.last();
        let mut ended = vec![];
        for (key, mem) in &mut self.memory {
            if mem.withdrawn_at.is_some_and(|at| last > at) {
                mem.withdrawn_at = None;
                ended.push(key.clone());
            }
        }
        if !ended.is_empty() && !self.expired {
            info!(vips = ?ended, "API server reachable again; re-applying withdrawn VIPs");
            self.reconcile(ended, Instant::now(), false).await;
        }
    }

    /// Addresses of VIPs whose local member vouches for them while out of contact.
    fn kept_out_of_contact(&self) -> BTreeSet<IpAddr> {
        let now = Instant::now();
        self.vips
            .values()
            .filter(|v| {
                local::out_of_contact(v.local_primary_url.is_some(), self.local.get(&v.key), now)
                    == OutOfContact::Keep
            })
            .filter_map(|v| v.address.as_ref().ok().copied())
            .collect()
    }

    /// Publishes the held VIPs to ask the local member about: those with a `local_primary_url`
    /// whose address is among `owned`. Forgets answers about the others.
    fn publish_local_targets(&mut self, owned: &BTreeSet<IpAddr>) {
        let targets: BTreeMap<VipKey, String> = self
            .vips
            .values()
            .filter(|v| v.address.as_ref().is_ok_and(|a| owned.contains(a)))
            .filter_map(|v| Some((v.key.clone(), v.local_primary_url.clone()?)))
            .collect();
        self.local.retain(|k, _| targets.contains_key(k));
        if let Some(tx) = &self.local_targets {
            tx.send_if_modified(|t| {
                let changed = *t != targets;
                *t = targets;
                changed
            });
        }
    }

    /// Leaves the expired state when contact is back; re-applies everything. True if it did.
    async fn recover(&mut self) -> bool {
        if !self.expired || self.contact.verdict(Instant::now()) == Verdict::Expired {
            return false;
        }
        info!("API server reachable again; re-applying the last known state");
        self.expired = false;
        self.reconcile_all(Instant::now()).await;
        true
    }

    async fn resync(&mut self) {
        if self.expired {
            let kept = self.kept_out_of_contact();
            self.remove_owned(kept).await;
        } else {
            self.reconcile_all(Instant::now()).await;
        }
    }

    async fn reconcile_all(&mut self, received: Instant) {
        let keys: BTreeSet<VipKey> = self
            .vips
            .keys()
            .chain(self.memory.keys())
            .cloned()
            .collect();
        self.reconcile(keys.into_iter().collect(), received, true)
            .await;
    }

    /// Plans and executes `keys` over one netlink snapshot, sweeps orphans when asked (and all
    /// scopes have listed), then reports from a fresh dump if anything changed.
    async fn reconcile(&mut self, keys: Vec<VipKey>, received: Instant, sweep: bool) {
        let net = match self.net.snapshot().await {
            Ok(net) => net,
            Err(error) => return self.count(&error, "cannot read netlink state"),
        };
        let mut outcomes = Vec::with_capacity(keys.len());
        for key in keys {
            outcomes.push(self.execute(key, &net, received).await);
        }
        self.fence.expire(Instant::now());
        self.sync_fence();
        let mut acted = outcomes.iter().any(|o| o.acted);
        if sweep && self.unsynced.is_empty() {
            acted |= self.sweep_orphans(&net).await;
        }
        let after = if acted {
            match self.net.addresses().await {
                Ok(addrs) => addrs,
                Err(error) => return self.count(&error, "cannot read addresses after changes"),
            }
        } else {
            net.addrs
        };
        let owned: BTreeSet<IpAddr> = after
            .iter()
            .filter(|a| a.is_owned())
            .map(|a| a.address)
            .collect();
        self.metrics.addresses_held.set(owned.len() as i64);
        self.publish_local_targets(&owned);
        for outcome in outcomes {
            self.report(outcome, &after);
        }
    }

    /// Removes owned addresses no known VIP has. True if it removed any.
    async fn sweep_orphans(&mut self, net: &NetState) -> bool {
        let known: BTreeSet<IpAddr> = self
            .vips
            .values()
            .filter_map(|v| v.address.as_ref().ok().copied())
            .collect();
        let stale: Vec<IfAddr> = orphans(net, &known).into_iter().cloned().collect();
        if stale.is_empty() {
            return false;
        }
        info!(addresses = ?stale.iter().map(|a| a.address).collect::<Vec<_>>(), "removing owned addresses of no known VIP");
        for error in self.net.delete_all_owned(&stale).await {
            self.count(&error, "cannot remove a stale address");
        }
        true
    }

    /// The hold expired: remove every owned address and stop announcing, except what the local
    /// member vouches for (see `local`).
    async fn fail_closed(&mut self) {
        let kept = self.kept_out_of_contact();
        warn!(hold = ?self.contact.hold(), kept = ?kept, "API server unreachable for longer than the hold time; removing every pgvip address its local primary does not vouch for (fail closed)");
        self.expired = true;
        self.metrics.fail_closed.inc();
        self.remove_owned(kept).await;
    }

    /// Removes every owned address but those in `kept` (what the local member vouches for
    /// while out of contact; nothing on shutdown with `--release-on-exit`) and stops
    /// announcing.
    async fn remove_owned(&mut self, kept: BTreeSet<IpAddr>) {
        for mem in self.memory.values_mut() {
            mem.stop_announcing();
        }
        let addrs = match self.net.addresses().await {
            Ok(addrs) => addrs,
            Err(error) => return self.count(&error, "cannot list addresses to remove"),
        };
        let owned: Vec<IfAddr> = addrs
            .into_iter()
            .filter(|a| a.is_owned() && !kept.contains(&a.address))
            .collect();
        let errors = self.net.delete_all_owned(&owned).await;
        let failed = errors.len();
        for error in errors {
            self.count(&error, "cannot remove an address");
        }
        self.metrics
            .addresses_held
            .set((failed + kept.len()) as i64);
        self.publish_local_targets(&kept);
        if !owned.is_empty() {
            info!(
                removed = owned.len() - failed,
                failed, "removed owned addresses"
            );
        }
    }

    async fn shutdown(&mut self) {
        for mem in self.memory.values_mut() {
            mem.stop_announcing();
        }
        self.fence.lift_all();
        self.sync_fence();
        if self.cfg.release_on_exit {
            info!("shutting down; --release-on-exit set: removing every pgvip address");
            self.remove_owned(BTreeSet::new()).await;
        } else {
            info!("shutting down; addresses stay configured, the next start reconciles them");
        }
    }

    fn sync_fence(&mut self) {
        sync_fence(&mut self.fence, &self.metrics, &self.cfg.node);
    }

    fn count(&self, error: &Error, what: &str) {
        self.metrics.error(error.category());
        warn!(%error, category = error.category(), node = %self.cfg.node, "{what}");
    }
}

/// Brings the kernel's fence in line with the wanted set; a failure is counted and logged
/// once (the agent keeps working without it). A free function over the fields it needs, so
/// `execute` can call it while it holds a VIP borrowed from the agent.
fn sync_fence(fence: &mut Fencer, metrics: &Metrics, node: &str) {
    if let Err(error) = fence.sync() {
        metrics.error(error.category());
        warn!(%error, category = error.category(), node = %node, "cannot set the fence; continuing without it");
    }
    metrics.fenced.set(fence.fenced() as i64);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
