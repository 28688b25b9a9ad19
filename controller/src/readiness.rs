//! Failover readiness: proves, while the primary is healthy, that every node that could take
//! the VIP can take it, and says what to fix when one cannot (`FailoverReady`, separate from
//! `Ready`, which describes the current primary).
//!
//! Data flow: the reconciler asks [`Schedule::begin`] whether a check is due (spec or member
//! set changed, or the interval passed); if so [`check::run`] gathers the facts in the
//! background (cloud reads and a no-op update, agent heartbeats, REST probes), [`judge`] (pure)
//! turns them into a [`Verdict`], and the reconciler, triggered again, copies the verdict into
//! the `FailoverReady` condition. A failover never waits for a check.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgvip_api::agent::{pick_interface, AgentInterface};
use pgvip_api::{condition, PostgresVipStatus};

use crate::cloud::CloudError;
use crate::conditions::{self, FALSE, TRUE, UNKNOWN};

pub mod check;

/// Reasons of the `FailoverReady` condition.
pub mod reason {
    /// Every candidate node can take the address.
    pub const ALL_CANDIDATES_READY: &str = "AllCandidatesReady";
    /// The cloud rejected the credentials (401).
    pub const CLOUD_CREDENTIALS_INVALID: &str = "CloudCredentialsInvalid";
    /// The principal lacks a permission a move needs.
    pub const CLOUD_PERMISSION_MISSING: &str = "CloudPermissionMissing";
    /// A candidate's node has no `spec.providerID`.
    pub const NODE_WITHOUT_PROVIDER_ID: &str = "NodeWithoutProviderID";
    /// A candidate's node object does not exist.
    pub const NODE_NOT_FOUND: &str = "NodeNotFound";
    /// A candidate's instance has no ATTACHED VNIC in the VIP's subnet.
    pub const NO_VNIC_IN_SUBNET: &str = "NoVnicInSubnet";
    /// No fresh heartbeat from the node-agent on a candidate's node.
    pub const AGENT_NOT_RUNNING: &str = "AgentNotRunning";
    /// The agent on a candidate's node has no interface for the address.
    pub const INTERFACE_MISSING: &str = "InterfaceMissing";
    /// A candidate's Patroni REST API does not answer the controller.
    pub const REST_UNREACHABLE: &str = "RestApiUnreachable";
    /// The cloud check failed for a reason that may pass (throttling, timeouts, 5xx).
    pub const CHECK_FAILED: &str = "CheckFailed";
    /// No member pod is bound to a node yet.
    pub const NO_CANDIDATES: &str = "NoCandidates";
}

/// A member that could take the VIP, as the check sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Candidate {
    /// Pod (member) name.
    pub pod: String,
    /// Node it runs on.
    pub node: String,
    /// Its IP (REST probe target).
    pub ip: Option<IpAddr>,
}

/// What the agent heartbeat on a node says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentFacts {
    /// No heartbeat Lease for the node.
    Missing,
    /// The Lease was last renewed this many seconds ago, beyond its duration.
    Stale(u64),
    /// Renewed in time, with the interfaces it reported.
    Alive(Vec<AgentInterface>),
}

/// Everything learned about one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFacts {
    /// The candidate.
    pub candidate: Candidate,
    /// The node object exists.
    pub node_exists: bool,
    /// `spec.providerID` of the node.
    pub provider_id: Option<String>,
    /// The cloud's VNIC lookup (`None` when not asked: L2-only or no providerID).
    pub vnic: Option<Result<String, CloudError>>,
    /// The agent heartbeat.
    pub agent: AgentFacts,
    /// REST probe: `Err(text)` when nothing answered at `url`.
    pub rest: Result<(), String>,
    /// The probed URL.
    pub rest_url: String,
}

/// Everything the verdict is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// The VIP.
    pub address: IpAddr,
    /// `spec.announce.interface`, if set.
    pub interface: Option<String>,
    /// The VIP's subnet (OCI).
    pub subnet_id: String,
    /// Namespace of the agents' heartbeat Leases (for messages).
    pub agent_namespace: String,
    /// No cloud in the path (L2-only).
    pub l2_only: bool,
    /// The no-op update on the private IP (`None` when it does not exist yet).
    pub permission: Option<Result<(), CloudError>>,
    /// Per candidate.
    pub nodes: Vec<NodeFacts>,
}

/// The `FailoverReady` condition to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// One of [`reason`].
    pub reason: &'static str,
    /// What is wrong, on which node, and what to do.
    pub message: String,
}

/// One problem found, ranked by how fundamental it is (lower first).
struct Problem {
    rank: u8,
    reason: &'static str,
    transient: bool,
    text: String,
}

fn cloud_problem(e: &CloudError, what: &str) -> Problem {
    let (rank, reason) = match e.category {
        "auth" => (0, reason::CLOUD_CREDENTIALS_INVALID),
        "permission" => (1, reason::CLOUD_PERMISSION_MISSING),
        // OCI's VNIC, EC2's ENI: the same problem, one reason.
        "no_vnic_in_subnet" | "no_eni_in_subnet" => (4, reason::NO_VNIC_IN_SUBNET),
        "no_provider_id" | "bad_provider_id" => (3, reason::NODE_WITHOUT_PROVIDER_ID),
        _ if e.transient => (9, reason::CHECK_FAILED),
        _ => (8, reason::CHECK_FAILED),
    };
    let rid = e
        .opc_request_id
        .as_deref()
        .filter(|r| !e.message.contains(r))
        .map(|r| format!(" (opc-request-id {r})"))
        .unwrap_or_default();
    Problem {
        rank,
        reason,
        transient: e.transient,
        text: format!("{what}: {}{rid}", e.message),
    }
}

fn node_problems(f: &Facts, n: &NodeFacts, out: &mut Vec<Problem>) {
    let c = &n.candidate;
    let who = format!("node {} (member {})", c.node, c.pod);
    let mut push = |rank, reason, text: String| {
        out.push(Problem {
            rank,
            reason,
            transient: false,
            text,
        })
    };
    let mut cloud_push = Vec::new();
    if !n.node_exists {
        push(
            2,
            reason::NODE_NOT_FOUND,
            format!("{who}: the Node object does not exist"),
        );
        return;
    }
    if !f.l2_only && n.provider_id.as_deref().is_none_or(str::is_empty) {
        push(3, reason::NODE_WITHOUT_PROVIDER_ID, format!("{who}: no spec.providerID, so the cloud cannot move the address there; OKE sets it to the instance OCID (check the node's cloud-controller registration)"));
    }
    if let Some(Err(e)) = &n.vnic {
        let mut p = cloud_problem(e, &who);
        // EC2's message says what to do already; OCI's names no fix.
        if e.category == "no_vnic_in_subnet" {
            p.text.push_str(&format!("; attach a secondary VNIC in subnet {} to this instance, or keep Patroni members that may be promoted off this node", f.subnet_id));
        }
        cloud_push.push(p);
    }
    let lease = format!(
        "Lease {}/{}",
        f.agent_namespace,
        pgvip_api::agent::heartbeat_lease_name(&c.node)
    );
    match &n.agent {
        AgentFacts::Missing => push(5, reason::AGENT_NOT_RUNNING, format!("{who}: no pgvip node-agent heartbeat ({lease} missing); check that the node-agent DaemonSet runs on this node (tolerations, nodeSelector)")),
        AgentFacts::Stale(age) => push(5, reason::AGENT_NOT_RUNNING, format!("{who}: the pgvip node-agent stopped renewing {lease} {age}s ago; check its pod on this node")),
        AgentFacts::Alive(ifaces) => {
            if let Err(why) = pick_interface(ifaces, f.address, f.interface.as_deref()) {
                push(6, reason::INTERFACE_MISSING, format!("{who}: the node-agent could not configure {}: {why}; fix spec.announce.interface or the node's network", f.address));
            }
        }
    }
    if let Err(e) = &n.rest {
        push(7, reason::REST_UNREACHABLE, format!("{who}: GET {} failed ({e}); the controller could not confirm this member if it were promoted: check NetworkPolicies, spec.patroni.restApi (port, scheme, caSecretRef)", n.rest_url));
    }
    out.append(&mut cloud_push);
}

/// Pure: the verdict for `f`. The most fundamental problem names the reason; the message
/// lists every problem, so one look tells the operator all there is to fix.
pub fn judge(f: &Facts) -> Verdict {
    if f.nodes.is_empty() {
        return Verdict {
            status: UNKNOWN,
            reason: reason::NO_CANDIDATES,
            message: "no member pod is bound to a node yet; nothing to check".into(),
        };
    }
    let mut problems = Vec::new();
    if let Some(Err(e)) = &f.permission {
        problems.push(cloud_problem(e, "moving the private IP"));
    }
    for n in &f.nodes {
        node_problems(f, n, &mut problems);
    }
    problems.sort_by_key(|p| p.rank);
    let Some(first) = problems.first() else {
        let nodes: Vec<&str> = f.nodes.iter().map(|n| n.candidate.node.as_str()).collect();
        let cloud = match (f.l2_only, &f.permission) {
            (true, _) => "L2-only mode, no cloud check",
            (false, Some(Ok(()))) => "the cloud credentials may move the private IP",
            (false, _) => "the move permission is proven by the first move (the private IP does not exist yet, or the cloud has no dry run of the move)",
        };
        return Verdict {
            status: TRUE,
            reason: reason::ALL_CANDIDATES_READY,
            message: format!(
                "{} candidate node(s) can take {}: {}; {cloud}",
                nodes.len(),
                f.address,
                nodes.join(", ")
            ),
        };
    };
    let all_transient = problems.iter().all(|p| p.transient);
    let texts: Vec<&str> = problems.iter().map(|p| p.text.as_str()).collect();
    Verdict {
        status: if all_transient { UNKNOWN } else { FALSE },
        reason: first.reason,
        message: texts.join("; "),
    }
}

/// Sets the `FailoverReady` condition from `v`, keeping its transition time when unchanged.
pub fn set_condition(st: &mut PostgresVipStatus, v: &Verdict, generation: Option<i64>, now: &str) {
    conditions::set(
        &mut st.conditions,
        condition::FAILOVER_READY,
        v.status,
        v.reason,
        &v.message,
        generation,
        now,
    );
}

/// Pure: a fingerprint of what a check depends on (spec generation and the candidates), so a
/// change triggers a check at once.
pub fn fingerprint(generation: Option<i64>, candidates: &[Candidate]) -> u64 {
    let mut sorted = candidates.to_vec();
    sorted.sort();
    let mut h = DefaultHasher::new();
    generation.hash(&mut h);
    sorted.hash(&mut h);
    h.finish()
}

/// Pure: whether a check is due, and otherwise how long until it is.
pub fn due(
    last: Option<(u64, Instant)>,
    running: bool,
    fp: u64,
    now: Instant,
    interval: Duration,
) -> Result<(), Duration> {
    match last {
        _ if running => Err(interval),
        None => Ok(()),
        Some((f, _)) if f != fp => Ok(()),
        Some((_, at)) => {
            let age = now.saturating_duration_since(at);
            if age >= interval {
                Ok(())
            } else {
                Err(interval - age)
            }
        }
    }
}

/// Cloud answers shared by the checks of all VIPs for a while (node VNIC lookups per
/// (providerID, subnet), the permission proof per subnet), so a fleet of VIPs on the same nodes
/// costs the cloud API per node and per subnet, not per VIP.
#[derive(Debug, Default)]
pub struct CloudCache {
    entries: Mutex<HashMap<String, CachedAnswer>>,
}

/// When a cloud answer was obtained, and the answer.
type CachedAnswer = (Instant, Result<String, CloudError>);

impl CloudCache {
    /// The cached answer for `key` if younger than `ttl`.
    pub fn get(
        &self,
        key: &str,
        ttl: Duration,
        now: Instant,
    ) -> Option<Result<String, CloudError>> {
        let m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < ttl)
            .map(|(_, r)| r.clone())
    }

    /// Stores an answer; transient failures are not kept (the next check asks again).
    pub fn put(&self, key: &str, r: &Result<String, CloudError>, now: Instant) {
        if r.as_ref().is_err_and(|e| e.transient) {
            return;
        }
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(key.to_string(), (now, r.clone()));
    }
}

#[derive(Debug, Default)]
struct Entry {
    last: Option<(u64, Instant)>,
    running: bool,
    verdict: Option<Verdict>,
}

/// Per-VIP check bookkeeping for one leadership term.
#[derive(Debug)]
pub struct Schedule {
    interval: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Cloud answers shared across VIPs for half an interval.
    pub cloud: CloudCache,
    /// Checks running at once: few, so the first fills the shared cloud answers for the rest
    /// and moves keep most of the cloud API budget.
    pub permits: tokio::sync::Semaphore,
}

impl Schedule {
    /// A schedule re-checking every `interval` (zero turns the checks off).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            entries: Mutex::default(),
            cloud: CloudCache::default(),
            permits: tokio::sync::Semaphore::new(2),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims a check of `key` when one is due (marking it running); otherwise the time until
    /// the next one (`None` when checks are off).
    pub fn begin(&self, key: &str, fp: u64, now: Instant) -> Result<(), Option<Duration>> {
        if self.interval.is_zero() {
            return Err(None);
        }
        let mut m = self.map();
        let e = m.entry(key.to_string()).or_default();
        match due(e.last, e.running, fp, now, self.interval) {
            Ok(()) => {
                e.running = true;
                e.last = Some((fp, now));
                Ok(())
            }
            Err(d) => Err(Some(d)),
        }
    }

    /// How long shared cloud answers stay valid: half the interval, so a problem fixed in the
    /// cloud shows within one interval.
    pub fn cloud_ttl(&self) -> Duration {
        self.interval / 2
    }

    /// Records a finished check; returns the previous verdict.
    pub fn finish(&self, key: &str, v: Verdict) -> Option<Verdict> {
        let mut m = self.map();
        let e = m.entry(key.to_string()).or_default();
        e.running = false;
        e.verdict.replace(v)
    }

    /// The latest verdict for `key`.
    pub fn verdict(&self, key: &str) -> Option<Verdict> {
        self.map().get(key).and_then(|e| e.verdict.clone())
    }

    /// Forgets `key` (deleted VIP).
    pub fn forget(&self, key: &str) {
        self.map().remove(key);
    }
}

#[cfg(test)]
mod tests;
