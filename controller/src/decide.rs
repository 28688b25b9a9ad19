//! Who gets the address: a pure function from what the controller observed to a [`Decision`].
//!
//! Data flow: the reconciler copies the cluster's state out of the reflector stores into
//! [`Inputs`] (lock record and its age on the monotonic clock, dynamic config, member pods, nodes),
//! asks [`probe_targets`] which member endpoints to call, calls them at the edge, adds the
//! answers, and calls [`decide`]. Every "no" is fail closed: no confirmed member means no node
//! may hold the address. Table tests live in `decide/tests.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use pgvip_api::{LabelSource, PostgresVipSpec, VipRole};

use crate::conditions::reason;
use crate::patroni::{DynamicConfig, LeaderRecord, MemberStatus};

/// A member pod as the decision sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodView {
    /// Pod name (the Patroni member name).
    pub name: String,
    /// `spec.nodeName`, once bound.
    pub node: Option<String>,
    /// `status.podIP`, once assigned.
    pub ip: Option<IpAddr>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
}

/// A node as the decision sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// `spec.providerID` (the instance OCID on OKE).
    pub provider_id: Option<String>,
}

/// The answer of one member's health endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The endpoint answered with this HTTP status and (when it was Patroni JSON) this body.
    Answered {
        /// HTTP status code.
        status: u16,
        /// Parsed Patroni body, `None` when the body is not Patroni JSON.
        body: Option<MemberStatus>,
    },
    /// No HTTP answer (timeout, refused, TLS failure); the text says which.
    Failed(String),
}

/// The leader lock as observed: its record and how long ago it last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockView {
    /// The lock record.
    pub record: LeaderRecord,
    /// Time since the record last changed, on the controller's monotonic clock.
    pub age: Duration,
}

/// Everything [`decide`] looks at.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// The PostgresVip spec.
    pub spec: &'a PostgresVipSpec,
    /// The leader lock; `None` when the lock object does not exist (Patroni source only).
    pub lock: Option<LockView>,
    /// The cluster's dynamic config (Patroni source only).
    pub config: DynamicConfig,
    /// The cluster's member pods.
    pub pods: Vec<PodView>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeView>,
    /// Health-endpoint answers by pod name, for the targets [`probe_targets`] named.
    pub probes: BTreeMap<String, ProbeOutcome>,
    /// `status.leader.pod`: the member the address follows now.
    pub current_pod: Option<String>,
    /// The cloud provider needs `spec.providerID` on the holder's node.
    pub require_provider_id: bool,
}

/// The member that gets the address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Pod name.
    pub pod: String,
    /// Node name.
    pub node: String,
    /// Pod IP.
    pub pod_ip: IpAddr,
    /// The node's `spec.providerID`.
    pub provider_id: Option<String>,
}

/// The outcome of a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// This member is confirmed; the address belongs on its node.
    Confirmed(Member),
    /// Keep whatever holds the address now; change nothing (paused cluster).
    Hold {
        /// Named reason from [`reason`].
        reason: &'static str,
        /// What is going on and what to do, for a person.
        message: String,
    },
    /// No member is confirmed: no node may hold the address.
    Unconfirmed {
        /// Named reason from [`reason`].
        reason: &'static str,
        /// What is going on and what to do, for a person.
        message: String,
    },
}

fn no(reason: &'static str, message: impl Into<String>) -> Decision {
    Decision::Unconfirmed {
        reason,
        message: message.into(),
    }
}

/// One health endpoint to call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// Pod name; the key of the answer in [`Inputs::probes`].
    pub pod: String,
    /// Pod IP.
    pub ip: IpAddr,
    /// Path such as `/primary`.
    pub path: String,
    /// The lock holder (gets the full timeout; other members get the short peer timeout).
    pub is_lock_holder: bool,
}

/// The health path a VIP's members are asked.
pub fn health_path(spec: &PostgresVipSpec) -> String {
    match (&spec.labels, spec.role) {
        (Some(l), _) => l.health.path.clone(),
        (None, VipRole::Primary) => "/primary".to_string(),
        (None, VipRole::Replica) => "/replica".to_string(),
    }
}

/// Which members to probe: every live member with an IP (so that a second primary is seen),
/// except that a label-source primary VIP only probes pods labelled primary.
pub fn probe_targets(
    spec: &PostgresVipSpec,
    lock_leader: Option<&str>,
    pods: &[PodView],
) -> Vec<ProbeTarget> {
    let path = health_path(spec);
    pods.iter()
        .filter(|p| !p.deleting)
        .filter(|p| match (&spec.labels, spec.role) {
            (Some(l), VipRole::Primary) => is_labelled_primary(l, p),
            (Some(l), VipRole::Replica) => is_labelled_replica(l, p),
            (None, _) => true,
        })
        .filter_map(|p| {
            p.ip.map(|ip| ProbeTarget {
                pod: p.name.clone(),
                ip,
                path: path.clone(),
                is_lock_holder: lock_leader == Some(p.name.as_str()),
            })
        })
        .collect()
}

fn is_labelled_primary(l: &LabelSource, p: &PodView) -> bool {
    p.labels.get(&l.role_label) == Some(&l.primary_value)
}

fn is_labelled_replica(l: &LabelSource, p: &PodView) -> bool {
    match (&l.replica_value, p.labels.get(&l.role_label)) {
        (Some(want), Some(v)) => v == want,
        (None, Some(v)) => v != &l.primary_value,
        (_, None) => false,
    }
}

/// Decides who gets the address. Pure: same inputs, same answer.
pub fn decide(inp: &Inputs<'_>) -> Decision {
    match (&inp.spec.labels, &inp.spec.patroni, inp.spec.role) {
        (Some(l), _, VipRole::Primary) => decide_label_primary(inp, l),
        (Some(l), _, VipRole::Replica) => decide_replica(inp, Some(l), None),
        (None, Some(p), VipRole::Primary) => decide_patroni_primary(inp, &p.scope),
        (None, Some(p), VipRole::Replica) => decide_replica(inp, None, Some(&p.scope)),
        (None, None, _) => no(
            reason::INVALID_SPEC,
            "spec sets neither patroni nor labels; set exactly one leader source",
        ),
    }
}

fn hold_if_paused(inp: &Inputs<'_>) -> Option<Decision> {
    match (&inp.current_pod, inp.config.pause) {
        (Some(pod), true) => Some(Decision::Hold {
            reason: reason::CLUSTER_PAUSED,
            message: format!(
                "Patroni cluster is paused (maintenance mode); the address stays with {pod} and \
                 will not move until `patronictl resume`"
            ),
        }),
        _ => None,
    }
}

fn decide_patroni_primary(inp: &Inputs<'_>, scope: &str) -> Decision {
    if inp.config.standby_cluster {
        return no(
            reason::STANDBY_CLUSTER,
            format!(
                "cluster {scope} is a standby cluster (standby_cluster is set in {scope}-config); \
                 its leader is read-only and never gets a write VIP. Use role: replica, or \
                 promote the cluster"
            ),
        );
    }
    if let Some(hold) = hold_if_paused(inp) {
        return hold;
    }
    let Some(lock) = &inp.lock else {
        return no(
            reason::NO_LEADER_LOCK,
            format!("no leader lock object for scope {scope}; check spec.patroni.scope and useEndpoints"),
        );
    };
    let Some(leader) = lock.record.leader() else {
        return no(
            reason::NO_LEADER_LOCK,
            format!(
                "the leader lock of {scope} names no leader: the cluster has no primary right now"
            ),
        );
    };
    let ttl = lock
        .record
        .ttl_secs(inp.config.ttl.unwrap_or(crate::patroni::DEFAULT_TTL_SECS));
    if lock.age > Duration::from_secs(ttl) {
        return no(
            reason::LEADER_LOCK_STALE,
            format!(
                "leader lock held by {leader} has not been renewed for {}s (ttl {ttl}s, last \
                 renewTime {}); Patroni on {leader} is down or cut off from the API server",
                lock.age.as_secs(),
                lock.record.renew_time().unwrap_or("unknown"),
            ),
        );
    }
    let member = match member_on_node(inp, leader) {
        Ok(m) => m,
        Err(d) => return d,
    };
    if let Err(d) = confirm_primary_answer(inp, leader, scope) {
        return d;
    }
    let others: Vec<&str> = inp
        .probes
        .iter()
        .filter(|(pod, _)| pod.as_str() != leader)
        .filter(|(_, o)| claims_primary(o))
        .map(|(pod, _)| pod.as_str())
        .collect();
    if !others.is_empty() {
        return no(
            reason::MULTIPLE_PRIMARIES,
            format!(
                "{leader} holds the lock but {} also answer{} GET /primary with 200; waiting for \
                 the old primary to demote before giving the address to anyone",
                others.join(", "),
                if others.len() == 1 { "s" } else { "" },
            ),
        );
    }
    Decision::Confirmed(member)
}

fn claims_primary(o: &ProbeOutcome) -> bool {
    match o {
        ProbeOutcome::Answered { status: 200, body } => {
            body.as_ref().is_none_or(MemberStatus::is_primary_role)
        }
        _ => false,
    }
}

/// The pod must exist, not be terminating, be bound, have an IP; its node must exist (with a
/// providerID when the cloud needs one).
fn member_on_node(inp: &Inputs<'_>, pod_name: &str) -> Result<Member, Decision> {
    let Some(pod) = inp.pods.iter().find(|p| p.name == pod_name) else {
        return Err(no(
            reason::LEADER_POD_MISSING,
            format!("member {pod_name} has no pod matching the cluster's pod selector"),
        ));
    };
    if pod.deleting {
        return Err(no(
            reason::LEADER_POD_TERMINATING,
            format!("pod {pod_name} is terminating"),
        ));
    }
    let Some(node) = &pod.node else {
        return Err(no(
            reason::LEADER_POD_UNSCHEDULED,
            format!("pod {pod_name} is not bound to a node yet"),
        ));
    };
    let Some(ip) = pod.ip else {
        return Err(no(
            reason::LEADER_POD_NO_IP,
            format!("pod {pod_name} on {node} has no pod IP yet"),
        ));
    };
    let Some(n) = inp.nodes.get(node) else {
        return Err(no(
            reason::NODE_NOT_FOUND,
            format!("node {node} of pod {pod_name} does not exist"),
        ));
    };
    if inp.require_provider_id && n.provider_id.as_deref().is_none_or(str::is_empty) {
        return Err(no(
            reason::NODE_WITHOUT_PROVIDER_ID,
            format!(
                "node {node} has no spec.providerID, so its cloud instance is unknown; check the \
                 cloud controller manager on that node"
            ),
        ));
    }
    Ok(Member {
        pod: pod_name.to_string(),
        node: node.clone(),
        pod_ip: ip,
        provider_id: n.provider_id.clone(),
    })
}

fn confirm_primary_answer(inp: &Inputs<'_>, leader: &str, scope: &str) -> Result<(), Decision> {
    let body = match inp.probes.get(leader) {
        None => {
            return Err(no(
                reason::REST_UNREACHABLE,
                format!("the REST API of {leader} was not asked (no pod IP)"),
            ))
        }
        Some(ProbeOutcome::Failed(why)) => {
            return Err(no(
                reason::REST_UNREACHABLE,
                format!("GET /primary on {leader} failed: {why}"),
            ))
        }
        Some(ProbeOutcome::Answered { status, .. }) if *status != 200 => {
            return Err(no(
                reason::REST_REJECTED,
                format!("GET /primary on {leader} answered {status}: it holds the lock but is not running as primary"),
            ))
        }
        Some(ProbeOutcome::Answered { body: None, .. }) => {
            return Err(no(
                reason::REST_DISAGREES,
                format!("GET /primary on {leader} answered 200 without a Patroni JSON body; is restApi.port the Patroni REST API?"),
            ))
        }
        Some(ProbeOutcome::Answered { body: Some(b), .. }) => b,
    };
    let disagree = |what: String| {
        Err(no(
            reason::REST_DISAGREES,
            format!("GET /primary on {leader}: {what}"),
        ))
    };
    // Patroni 3.0.x omits `patroni.name` (later versions add it); the answer then comes from
    // the leader pod's own IP, which already names the member. A name that is present must match.
    if body.name.as_deref().is_some_and(|n| n != leader) {
        return disagree(format!(
            "patroni.name is {:?}, expected {leader:?}",
            body.name.as_deref().unwrap_or("")
        ));
    }
    if body.scope.as_deref() != Some(scope) {
        return disagree(format!(
            "patroni.scope is {:?}, expected {scope:?}",
            body.scope.as_deref().unwrap_or("")
        ));
    }
    // The right member answering 200 holds the lock: that is Patroni's own "route writes
    // here". It answers so as soon as it took the lock, while its body still says `replica`
    // until the promotion is done; the move starts now, so the cloud call (seconds on real
    // OCI) overlaps the promotion. A holder whose promotion fails releases the lock, and the
    // address goes with it. Only a standby leader is never a write VIP's member.
    if body.role.as_deref() == Some("standby_leader") {
        return disagree(
            "role is \"standby_leader\": a standby cluster's leader is read-only".to_string(),
        );
    }
    Ok(())
}

fn decide_label_primary(inp: &Inputs<'_>, l: &LabelSource) -> Decision {
    let marked: Vec<&PodView> = inp
        .pods
        .iter()
        .filter(|p| !p.deleting && is_labelled_primary(l, p))
        .collect();
    let pod = match marked.as_slice() {
        [] => {
            return no(
                reason::NO_LABELLED_PRIMARY,
                format!("no live pod carries {}={}", l.role_label, l.primary_value),
            )
        }
        [one] => *one,
        many => {
            let names: Vec<&str> = many.iter().map(|p| p.name.as_str()).collect();
            return no(
                reason::MULTIPLE_PRIMARIES,
                format!(
                    "pods {} all carry {}={}; waiting until only one does",
                    names.join(", "),
                    l.role_label,
                    l.primary_value
                ),
            );
        }
    };
    let member = match member_on_node(inp, &pod.name) {
        Ok(m) => m,
        Err(d) => return d,
    };
    match inp.probes.get(&pod.name) {
        Some(ProbeOutcome::Answered { status: 200, .. }) => Decision::Confirmed(member),
        Some(ProbeOutcome::Answered { status, .. }) => no(
            reason::REST_REJECTED,
            format!(
                "health check {} on {} answered {status}",
                l.health.path, pod.name
            ),
        ),
        Some(ProbeOutcome::Failed(why)) => no(
            reason::REST_UNREACHABLE,
            format!(
                "health check {} on {} failed: {why}",
                l.health.path, pod.name
            ),
        ),
        None => no(
            reason::REST_UNREACHABLE,
            format!("health check on {} was not run (no pod IP)", pod.name),
        ),
    }
}

fn healthy_replica(o: Option<&ProbeOutcome>, pod: &str, scope: Option<&str>) -> bool {
    let Some(ProbeOutcome::Answered { status: 200, body }) = o else {
        return false;
    };
    match (scope, body) {
        // Label source: a 200 from the health path is the whole check.
        (None, _) => true,
        (Some(_), None) => false,
        (Some(scope), Some(b)) => {
            b.is_replica_role()
                && matches!(b.state.as_deref(), Some("running" | "streaming"))
                && b.name.as_deref() == Some(pod)
                && b.scope.as_deref() == Some(scope)
        }
    }
}

fn decide_replica(inp: &Inputs<'_>, labels: Option<&LabelSource>, scope: Option<&str>) -> Decision {
    if let Some(hold) = hold_if_paused(inp) {
        return hold;
    }
    let lock_leader = inp.lock.as_ref().and_then(|l| l.record.leader());
    let mut healthy: Vec<Member> = inp
        .pods
        .iter()
        .filter(|p| Some(p.name.as_str()) != lock_leader)
        .filter(|p| labels.is_none_or(|l| is_labelled_replica(l, p)))
        .filter(|p| healthy_replica(inp.probes.get(&p.name), &p.name, scope))
        .filter_map(|p| member_on_node(inp, &p.name).ok())
        .collect();
    healthy.sort_by(|a, b| a.pod.cmp(&b.pod));
    if let Some(cur) = &inp.current_pod {
        if let Some(m) = healthy.iter().find(|m| &m.pod == cur) {
            return Decision::Confirmed(m.clone());
        }
    }
    match healthy.into_iter().next() {
        Some(m) => Decision::Confirmed(m),
        None => no(
            reason::NO_HEALTHY_REPLICA,
            format!(
                "no member answers {} with a healthy replica (200, role replica, state running) \
                 on a usable node",
                health_path(inp.spec)
            ),
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests;
