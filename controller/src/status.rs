//! The controller's part of `PostgresVip.status`: pure transitions and the server-side-apply
//! body, plus the one function that sends it.
//!
//! Data flow: the reconciler starts from the object's current status, applies a [`Decision`]
//! ([`with_decision`]), a cloud assignment ([`with_assignment`]) and the observed facts
//! ([`derive_conditions`]), and sends the result with [`apply`] only when it differs from what
//! is stored. The body never contains `nodes`: those entries belong to the node-agents.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kube::api::{Api, Patch, PatchParams};
use pgvip_api::{
    condition, CloudStatus, LeaderStatus, PostgresVip, PostgresVipStatus, CONTROLLER_MANAGER,
};

use crate::cloud::CloudAssignment;
use crate::conditions::{self, reason, FALSE, TRUE, UNKNOWN};
use crate::decide::{Decision, PodView, ProbeOutcome};

/// The controller-owned view of a status: everything except `nodes`.
pub fn controller_view(status: &PostgresVipStatus) -> PostgresVipStatus {
    PostgresVipStatus {
        nodes: Vec::new(),
        ..status.clone()
    }
}

/// True when applying `next` would change what the controller owns in `current`.
pub fn differs(current: Option<&PostgresVipStatus>, next: &PostgresVipStatus) -> bool {
    let cur = current.map(controller_view).unwrap_or_default();
    cur != controller_view(next)
}

/// The server-side-apply body for `/status`. Fields the controller leaves out are released
/// (an absent `desiredNode` is removed); `nodes` is never included.
pub fn patch_body(status: &PostgresVipStatus) -> Result<serde_json::Value, serde_json::Error> {
    let mut st = serde_json::to_value(controller_view(status))?;
    if let Some(obj) = st.as_object_mut() {
        obj.remove("nodes");
    }
    Ok(serde_json::json!({
        "apiVersion": "pgvip.dev/v1alpha1",
        "kind": "PostgresVip",
        "status": st,
    }))
}

/// Applies the controller's status with server-side apply under [`CONTROLLER_MANAGER`].
pub async fn apply(
    api: &Api<PostgresVip>,
    name: &str,
    status: &PostgresVipStatus,
) -> crate::Result<()> {
    let body = patch_body(status)?;
    let pp = PatchParams::apply(CONTROLLER_MANAGER).force();
    api.patch_status(name, &pp, &Patch::Apply(&body)).await?;
    Ok(())
}

/// The last status this controller wrote per VIP, for the current leadership term (the cache
/// lives in the term's shared state, so a new term starts empty).
///
/// Only the elected controller writes the controller-owned status fields, so within a term its
/// own last write is the truth for them. A reconcile's store snapshot can be older than that
/// write even when its `resourceVersion` is new to us: an agent's report (another field
/// manager) lands between our write and the watch delivering it. Starting from the snapshot
/// would then redo the cloud move and issue a second `assignedAt` (and forget that pgvip
/// created the private IP). So the controller's fields always come from the last write; agent
/// entries (`nodes`) always come from the snapshot.
#[derive(Debug, Default)]
pub struct WriteCache {
    inner: Mutex<HashMap<String, PostgresVipStatus>>,
    confirmed_on: Mutex<HashMap<String, String>>,
}

impl WriteCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, PostgresVipStatus>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The status to start from: the controller's last write in this term, with the agents'
    /// entries from `snapshot`; the snapshot itself when nothing was written yet.
    pub fn base(&self, key: &str, snapshot: &PostgresVipStatus) -> PostgresVipStatus {
        match self.map().get(key) {
            Some(w) => PostgresVipStatus {
                nodes: snapshot.nodes.clone(),
                ..w.clone()
            },
            None => snapshot.clone(),
        }
    }

    /// Records that `status` was written for `key`.
    pub fn record(&self, key: &str, status: &PostgresVipStatus) {
        self.map().insert(key.to_string(), controller_view(status));
    }

    /// Records that the cloud confirmed, in this term, that `key`'s address is on `node`.
    pub fn confirm(&self, key: &str, node: &str) {
        self.confirmed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), node.to_string());
    }

    /// Whether the cloud confirmed in this term that `key`'s address is on `node` (always
    /// true without a desired node). Status fields inherited from an earlier term or another
    /// controller do not count: they may be stale or written by an L2-only controller.
    pub fn confirmed(&self, key: &str, node: Option<&str>) -> bool {
        let Some(node) = node else { return true };
        self.confirmed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .is_some_and(|n| n == node)
    }

    /// Forgets `key` (deleted VIP).
    pub fn forget(&self, key: &str) {
        self.map().remove(key);
        self.confirmed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The status after a decision: a confirmed member sets `leader` and `desiredNode` together; no
/// confirmed member clears both (fail closed); a hold keeps them.
pub fn with_decision(
    prev: &PostgresVipStatus,
    decision: &Decision,
    replica: bool,
    generation: Option<i64>,
    now: &str,
) -> PostgresVipStatus {
    let mut st = controller_view(prev);
    st.observed_generation = generation;
    // Only the reconciler's `drain_node` sets it again, for a pass that confirms a move.
    st.drain_node = None;
    match decision {
        Decision::Confirmed(m) => {
            st.leader = Some(LeaderStatus {
                pod: m.pod.clone(),
                node: m.node.clone(),
                pod_ip: m.pod_ip.to_string(),
            });
            st.desired_node = Some(m.node.clone());
            let (r, what) = if replica {
                (reason::REPLICA_CONFIRMED, "healthy replica")
            } else {
                (reason::LEADER_CONFIRMED, "confirmed primary")
            };
            let msg = format!("{} on node {} is the {what}", m.pod, m.node);
            conditions::set(
                &mut st.conditions,
                condition::LEADER_CONFIRMED,
                TRUE,
                r,
                &msg,
                generation,
                now,
            );
        }
        Decision::Hold { reason, message } => {
            let keep = conditions::get(&st.conditions, condition::LEADER_CONFIRMED)
                .map(|c| c.status.clone())
                .unwrap_or_else(|| UNKNOWN.to_string());
            conditions::set(
                &mut st.conditions,
                condition::LEADER_CONFIRMED,
                &keep,
                reason,
                message,
                generation,
                now,
            );
        }
        Decision::Unconfirmed { reason, message } => {
            st.leader = None;
            st.desired_node = None;
            conditions::set(
                &mut st.conditions,
                condition::LEADER_CONFIRMED,
                FALSE,
                reason,
                message,
                generation,
                now,
            );
        }
    }
    st
}

/// How long after the lock changed hands a demoted previous holder may keep the address.
pub const DRAIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(15);

/// The node that keeps the address during a handover (`status.drainNode`): the node the cloud
/// assigns it to now, while no confirmed member is there, within [`DRAIN_WINDOW`] of the lock
/// changing hands, and only when every member pod on it answered its health endpoint with an
/// error status in this pass (Patroni's "not primary"). That covers the moment of a switchover
/// when the old primary has released the lock and nobody holds it yet, and the cloud move that
/// follows. A member that did not answer might still be a running primary cut off from the API
/// server, so its node removes the address at once, as does every node of a replica VIP.
pub fn drain_node(
    prev: &PostgresVipStatus,
    decision: &Decision,
    replica: bool,
    pods: &[PodView],
    probes: &std::collections::BTreeMap<String, ProbeOutcome>,
    lock_changed_ago: Option<std::time::Duration>,
) -> Option<String> {
    let from = prev.assigned_node.as_deref().filter(|_| !replica)?;
    match decision {
        Decision::Confirmed(m) if m.node == from => return None,
        Decision::Hold { .. } => return None,
        _ => {}
    }
    if lock_changed_ago.is_none_or(|d| d > DRAIN_WINDOW) {
        return None;
    }
    let mut on_from = pods
        .iter()
        .filter(|p| p.node.as_deref() == Some(from))
        .peekable();
    on_from.peek()?;
    on_from
        .all(|p| {
            matches!(
                probes.get(&p.name),
                Some(ProbeOutcome::Answered { status, .. }) if *status >= 400
            )
        })
        .then(|| from.to_string())
}

/// True when the address must be (re)assigned in the cloud to `desiredNode`.
pub fn needs_cloud_move(st: &PostgresVipStatus) -> bool {
    match &st.desired_node {
        None => false,
        Some(d) => {
            st.assigned_node.as_ref() != Some(d)
                || st
                    .cloud
                    .as_ref()
                    .and_then(|c| c.assigned_at.as_ref())
                    .is_none()
        }
    }
}

/// The status after the cloud confirmed `node` holds the address; `assigned_at` is a fresh
/// RFC 3339 millisecond timestamp, so the agent announces once for this move.
pub fn with_assignment(
    prev: &PostgresVipStatus,
    node: &str,
    a: &CloudAssignment,
    assigned_at: &str,
) -> PostgresVipStatus {
    let mut st = controller_view(prev);
    st.drain_node = None;
    let prev_cloud = st.cloud.clone().unwrap_or_default();
    let same_object = a.private_ip_id.is_some() && prev_cloud.private_ip_id == a.private_ip_id;
    st.assigned_node = Some(node.to_string());
    st.cloud = Some(CloudStatus {
        vnic_id: a.vnic_id.clone(),
        private_ip_id: a.private_ip_id.clone(),
        created_by_pgvip: a.created || (same_object && prev_cloud.created_by_pgvip),
        assigned_at: Some(assigned_at.to_string()),
    });
    st
}

/// Outcome of the data-path check in this reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataPath {
    /// Not checked in this pass; keep what is recorded.
    NotChecked,
    /// Verification switched off by configuration.
    Disabled,
    /// A request through the VIP reached the expected member.
    Verified,
    /// It did not; the text says why.
    Failed(String),
}

/// Facts observed in this reconcile that the conditions are derived from.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// Now, RFC 3339.
    pub now: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// L2-only mode (`--cloud-provider none`).
    pub no_cloud: bool,
    /// The cloud move failed in this pass: (category, message).
    pub cloud_error: Option<(&'a str, String)>,
    /// The agent has not reported within the announce timeout.
    pub announce_timed_out: bool,
    /// Data-path check result.
    pub data_path: DataPath,
    /// Nodes whose agent's heartbeat has lapsed: their reports are what they said last, not
    /// what is on the node now, so they never hold `AddressConfigured` back (a lost node
    /// cannot report that it dropped the address; the cloud no longer routes to it).
    pub silent_agents: &'a BTreeSet<String>,
}

/// No silent agents.
pub static NO_SILENT_AGENTS: BTreeSet<String> = BTreeSet::new();

/// True when the desired node's agent reports the address configured and announced for the
/// current assignment.
pub fn announced(st: &PostgresVipStatus, nodes: &[pgvip_api::NodeReport]) -> bool {
    let (Some(d), Some(at)) = (
        &st.desired_node,
        st.cloud.as_ref().and_then(|c| c.assigned_at.as_ref()),
    ) else {
        return false;
    };
    st.assigned_node.as_ref() == Some(d)
        && nodes
            .iter()
            .any(|n| &n.node == d && n.address_configured && n.announced_for.as_ref() == Some(at))
}

/// AddressConfigured as (status, reason, message), from what the agents report is on their
/// nodes, not from what is intended: True only when the desired node holds and announced the
/// address for the current assignment and no other node reports holding it.
fn address_condition(
    st: &PostgresVipStatus,
    nodes: &[pgvip_api::NodeReport],
    silent: &BTreeSet<String>,
    cloud_ok: bool,
    withheld: bool,
    timed_out: bool,
) -> (&'static str, &'static str, String) {
    let (elsewhere, unheard): (Vec<&str>, Vec<&str>) = nodes
        .iter()
        .filter(|n| n.address_configured && Some(&n.node) != st.desired_node.as_ref())
        .map(|n| n.node.as_str())
        .partition(|n| !silent.contains(*n));
    let Some(d) = &st.desired_node else {
        return if elsewhere.is_empty() {
            (
                FALSE,
                reason::NO_DESIRED_NODE,
                "no node may hold the address, and no agent reports it".to_string(),
            )
        } else {
            (
                FALSE,
                reason::CONFIGURED_ELSEWHERE,
                format!(
                    "no node may hold the address, but the agent on {} still reports it configured",
                    elsewhere.join(", ")
                ),
            )
        };
    };
    let report = nodes.iter().find(|n| &n.node == d);
    let here = report.is_some_and(|r| r.address_configured);
    if !elsewhere.is_empty() {
        return (FALSE, reason::CONFIGURED_ELSEWHERE, format!("the address should be on {d} only, but the agent on {} still reports it configured", elsewhere.join(", ")));
    }
    if withheld {
        let what = if here {
            "is still configured on"
        } else {
            "is configured on no node; withheld from"
        };
        return (FALSE, reason::ADDRESS_WITHHELD, format!("the cloud move to {d} failed, so the address {what} {d} until a move succeeds (see CloudAssigned)"));
    }
    if announced(st, nodes) {
        let mut m = format!("the node-agent on {d} configured and announced the address");
        if !unheard.is_empty() {
            m.push_str(&format!(
                "; the agent on {} is silent, and its last report said it held the address \
                 (a cut-off agent removes it after its hold time)",
                unheard.join(", ")
            ));
        }
        return (TRUE, reason::ANNOUNCED, m);
    }
    if let Some(e) = report.and_then(|r| r.last_error.clone()) {
        return (
            FALSE,
            reason::AGENT_ERROR,
            format!("the node-agent on {d} reports: {e}"),
        );
    }
    let state = if here {
        "configured on"
    } else {
        "not configured on"
    };
    if !cloud_ok {
        return (
            FALSE,
            reason::WAITING_FOR_CLOUD,
            format!("the address is {state} {d}; it is announced once the cloud assigns it to {d}"),
        );
    }
    if timed_out {
        let at = st
            .cloud
            .as_ref()
            .and_then(|c| c.assigned_at.as_deref())
            .unwrap_or("?");
        return (FALSE, reason::AGENT_TIMEOUT, format!("the address is {state} {d}, and its node-agent has not reported it announced for assignment {at}; check the pgvip-node-agent pod on {d}"));
    }
    (
        FALSE,
        reason::WAITING_FOR_AGENT,
        format!(
            "the address is {state} {d}; waiting for its node-agent to configure and announce it"
        ),
    )
}

/// Recomputes CloudAssigned, AddressConfigured, DataPathVerified and Ready. `nodes` are the
/// agents' reports from the stored object.
pub fn derive_conditions(
    st: &mut PostgresVipStatus,
    nodes: &[pgvip_api::NodeReport],
    f: &Facts<'_>,
) {
    let (g, now) = (f.generation, f.now);
    let cloud_ok = st.desired_node.is_some() && !needs_cloud_move(st);
    let (cs, cr, cm) = match (&st.desired_node, &f.cloud_error) {
        (None, _) => (
            FALSE,
            reason::NO_DESIRED_NODE,
            match &st.assigned_node {
                Some(a) => format!("no confirmed member; the cloud assignment stays on {a} and no node configures the address"),
                None => "no confirmed member; nothing is assigned".to_string(),
            },
        ),
        (Some(d), Some((cat, msg))) => (FALSE, reason::CLOUD_MOVE_FAILED, format!("moving the address to {d} failed ({cat}): {msg}")),
        (Some(d), None) if cloud_ok && f.no_cloud => (TRUE, reason::NO_CLOUD, format!("L2-only mode: {d} takes the address without a cloud call")),
        (Some(d), None) if cloud_ok => (
            TRUE,
            reason::ASSIGNED,
            format!(
                "the cloud assigns the address to VNIC {} of node {d}",
                st.cloud.as_ref().and_then(|c| c.vnic_id.as_deref()).unwrap_or("?")
            ),
        ),
        // A failed move stays failed until a move succeeds: the agents withhold the address
        // meanwhile, and must not see it flap back to pending between retries.
        (Some(d), None) => match conditions::get(&st.conditions, condition::CLOUD_ASSIGNED)
            .filter(|c| c.reason == reason::CLOUD_MOVE_FAILED)
        {
            Some(c) => (FALSE, reason::CLOUD_MOVE_FAILED, c.message.clone()),
            None => (FALSE, reason::MOVE_PENDING, format!("the address is not yet assigned to {d} in the cloud")),
        },
    };
    let withheld = cr == reason::CLOUD_MOVE_FAILED && needs_cloud_move(st);
    conditions::set(
        &mut st.conditions,
        condition::CLOUD_ASSIGNED,
        cs,
        cr,
        &cm,
        g,
        now,
    );

    let (as_, ar, am) = address_condition(
        st,
        nodes,
        f.silent_agents,
        cloud_ok,
        withheld,
        f.announce_timed_out,
    );
    conditions::set(
        &mut st.conditions,
        condition::ADDRESS_CONFIGURED,
        as_,
        ar,
        &am,
        g,
        now,
    );

    let addr_ok = as_ == TRUE;
    let verified = |s: &PostgresVipStatus| {
        conditions::get(&s.conditions, condition::DATA_PATH_VERIFIED).cloned()
    };
    let (ds, dr, dm) = match (&f.data_path, addr_ok) {
        (_, false) => (
            FALSE,
            reason::NOT_YET.to_string(),
            "waiting for the address to be configured".to_string(),
        ),
        (DataPath::Disabled, true) => (
            TRUE,
            reason::VERIFICATION_DISABLED.to_string(),
            "data-path verification is disabled".to_string(),
        ),
        (DataPath::Verified, true) => (
            TRUE,
            reason::VERIFIED.to_string(),
            "a request through the VIP reached the expected member".to_string(),
        ),
        (DataPath::Failed(why), true) => {
            (FALSE, reason::VERIFICATION_FAILED.to_string(), why.clone())
        }
        (DataPath::NotChecked, true) => match verified(st) {
            Some(c) => (
                if c.status == TRUE { TRUE } else { FALSE },
                c.reason,
                c.message,
            ),
            None => (
                UNKNOWN,
                reason::NOT_YET.to_string(),
                "not verified yet".to_string(),
            ),
        },
    };
    conditions::set(
        &mut st.conditions,
        condition::DATA_PATH_VERIFIED,
        ds,
        &dr,
        &dm,
        g,
        now,
    );
    conditions::summarise_ready(&mut st.conditions, g, now);
}

#[cfg(test)]
mod tests;
