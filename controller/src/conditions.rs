//! Condition reasons as named constants, and the pure helpers that set a condition while
//! keeping its `lastTransitionTime` unless its status changes.
//!
//! Data flow: [`crate::status`] computes each condition's (status, reason, message) and calls
//! [`set`]; the result goes into the status applied with server-side apply.

use pgvip_api::{condition, Condition};

/// `True`.
pub const TRUE: &str = "True";
/// `False`.
pub const FALSE: &str = "False";
/// `Unknown`.
pub const UNKNOWN: &str = "Unknown";

/// CamelCase reasons of every condition pgvip sets.
pub mod reason {
    // LeaderConfirmed
    /// A fresh lock names a member whose REST API confirms it runs as primary.
    pub const LEADER_CONFIRMED: &str = "LeaderConfirmed";
    /// A healthy replica was chosen (role: replica).
    pub const REPLICA_CONFIRMED: &str = "ReplicaConfirmed";
    /// The leader lock object is missing or names nobody.
    pub const NO_LEADER_LOCK: &str = "NoLeaderLock";
    /// The lock has not been renewed within its ttl.
    pub const LEADER_LOCK_STALE: &str = "LeaderLockStale";
    /// The lock names a member without a pod.
    pub const LEADER_POD_MISSING: &str = "LeaderPodMissing";
    /// The member's pod is being deleted.
    pub const LEADER_POD_TERMINATING: &str = "LeaderPodTerminating";
    /// The member's pod is not bound to a node.
    pub const LEADER_POD_UNSCHEDULED: &str = "LeaderPodNotScheduled";
    /// The member's pod has no IP.
    pub const LEADER_POD_NO_IP: &str = "LeaderPodWithoutIP";
    /// The member's node does not exist.
    pub const NODE_NOT_FOUND: &str = "NodeNotFound";
    /// The member's node has no `spec.providerID`.
    pub const NODE_WITHOUT_PROVIDER_ID: &str = "NodeWithoutProviderID";
    /// The member's REST API did not answer.
    pub const REST_UNREACHABLE: &str = "RestApiUnreachable";
    /// The member's REST API answered non-200.
    pub const REST_REJECTED: &str = "RestApiRejected";
    /// The member's REST API answered 200 but names another member, scope, role or state.
    pub const REST_DISAGREES: &str = "RestApiDisagrees";
    /// More than one member claims to be primary.
    pub const MULTIPLE_PRIMARIES: &str = "MultiplePrimaries";
    /// The Patroni cluster is paused; the address is kept as is.
    pub const CLUSTER_PAUSED: &str = "ClusterPaused";
    /// The cluster is a standby cluster; a write VIP is never assigned.
    pub const STANDBY_CLUSTER: &str = "StandbyCluster";
    /// No replica is healthy (role: replica).
    pub const NO_HEALTHY_REPLICA: &str = "NoHealthyReplica";
    /// No pod carries the primary role label (label source).
    pub const NO_LABELLED_PRIMARY: &str = "NoLabelledPrimary";
    /// The spec cannot be acted on.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// An older PostgresVip owns the same address in the same subnet; this one does nothing.
    pub const ADDRESS_CONFLICT: &str = "AddressConflict";
    /// A Node or a pod already uses the address; it is never configured or moved.
    pub const ADDRESS_IN_USE: &str = "AddressInUse";

    // CloudAssigned
    /// The cloud assigns the address to the desired node's VNIC.
    pub const ASSIGNED: &str = "Assigned";
    /// L2-only mode: no cloud call is needed.
    pub const NO_CLOUD: &str = "NoCloudProvider";
    /// The move to the desired node has not happened yet.
    pub const MOVE_PENDING: &str = "MovePending";
    /// The cloud move failed; the message names the cause.
    pub const CLOUD_MOVE_FAILED: &str = pgvip_api::condition::CLOUD_MOVE_FAILED;
    /// No node is desired, so nothing is moved (the assignment stays where it was).
    pub const NO_DESIRED_NODE: &str = "NoDesiredNode";

    // AddressConfigured
    /// The desired node's agent configured and announced the address.
    pub const ANNOUNCED: &str = "Announced";
    /// Waiting for the desired node's agent to report.
    pub const WAITING_FOR_AGENT: &str = "WaitingForAgent";
    /// The agent did not report in time.
    pub const AGENT_TIMEOUT: &str = "AgentTimeout";
    /// The agent reported an error.
    pub const AGENT_ERROR: &str = "AgentError";
    /// The cloud move to the desired node failed: no node holds the address until one succeeds.
    pub const ADDRESS_WITHHELD: &str = "AddressWithheld";
    /// A node other than the desired one still reports the address configured.
    pub const CONFIGURED_ELSEWHERE: &str = "ConfiguredElsewhere";
    /// The desired node waits for the cloud assignment before announcing.
    pub const WAITING_FOR_CLOUD: &str = "WaitingForCloudAssignment";

    // DataPathVerified
    /// A request through the VIP reached the expected member.
    pub const VERIFIED: &str = "Verified";
    /// The request through the VIP failed or reached another member.
    pub const VERIFICATION_FAILED: &str = "VerificationFailed";
    /// Verification is switched off by `--verify-data-path=false`.
    pub const VERIFICATION_DISABLED: &str = "VerificationDisabled";
    /// Not verified yet because an earlier step is not done.
    pub const NOT_YET: &str = "WaitingForEarlierSteps";

    // Ready
    /// Everything is in place.
    pub const READY: &str = "Ready";
    /// The PostgresVip is being deleted.
    pub const DELETING: &str = "Deleting";
}

/// Sets condition `type_` in `conds`. `lastTransitionTime` becomes `now` only when the
/// condition is new or its status changed; reason and message always follow.
pub fn set(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) {
    let message = truncate(message, 1024);
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.to_string();
                c.status = status.to_string();
            }
            c.reason = reason.to_string();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conds.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            last_transition_time: now.to_string(),
            observed_generation: generation,
        }),
    }
}

/// Condition `type_`, if present.
pub fn get<'a>(conds: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == type_)
}

/// True when condition `type_` is present with status `True`.
pub fn is_true(conds: &[Condition], type_: &str) -> bool {
    get(conds, type_).is_some_and(|c| c.status == TRUE)
}

/// The condition types the controller owns, in the order `Ready` summarises them.
pub const COMPONENTS: [&str; 4] = [
    condition::LEADER_CONFIRMED,
    condition::CLOUD_ASSIGNED,
    condition::ADDRESS_CONFIGURED,
    condition::DATA_PATH_VERIFIED,
];

/// Sets `Ready` from the four component conditions: True when all are True, else False with the
/// reason and message of the first one that is not.
pub fn summarise_ready(conds: &mut Vec<Condition>, generation: Option<i64>, now: &str) {
    let first_bad = COMPONENTS.iter().find_map(|t| match get(conds, t) {
        Some(c) if c.status == TRUE => None,
        Some(c) => Some((c.reason.clone(), format!("{}: {}", c.type_, c.message))),
        None => Some((UNKNOWN.to_string(), format!("{t} not evaluated yet"))),
    });
    match first_bad {
        None => set(
            conds,
            condition::READY,
            TRUE,
            reason::READY,
            "the address is on the confirmed member's node and the data path is verified",
            generation,
            now,
        ),
        Some((r, m)) => set(conds, condition::READY, FALSE, &r, &m, generation, now),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let mut c = Vec::new();
        set(&mut c, "LeaderConfirmed", TRUE, "A", "m1", Some(1), "t1");
        set(&mut c, "LeaderConfirmed", TRUE, "B", "m2", Some(2), "t2");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, "t1");
        assert_eq!(c[0].reason, "B");
        assert_eq!(c[0].message, "m2");
        assert_eq!(c[0].observed_generation, Some(2));
        set(&mut c, "LeaderConfirmed", FALSE, "C", "m3", Some(2), "t3");
        assert_eq!(c[0].last_transition_time, "t3");
        assert_eq!(c[0].status, FALSE);
    }

    #[test]
    fn ready_summarises_first_failing_component() {
        let mut c = Vec::new();
        for t in COMPONENTS {
            set(&mut c, t, TRUE, "ok", "ok", None, "t0");
        }
        summarise_ready(&mut c, None, "t1");
        assert!(is_true(&c, condition::READY));
        set(
            &mut c,
            condition::ADDRESS_CONFIGURED,
            FALSE,
            reason::AGENT_TIMEOUT,
            "no report",
            None,
            "t2",
        );
        set(
            &mut c,
            condition::DATA_PATH_VERIFIED,
            FALSE,
            reason::NOT_YET,
            "x",
            None,
            "t2",
        );
        summarise_ready(&mut c, None, "t2");
        let r = get(&c, condition::READY).unwrap();
        assert_eq!(r.status, FALSE);
        assert_eq!(r.reason, reason::AGENT_TIMEOUT);
        assert_eq!(r.last_transition_time, "t2");
        assert!(r.message.starts_with("AddressConfigured: "));
    }

    #[test]
    fn long_messages_are_cut_on_char_boundary() {
        let mut c = Vec::new();
        let long = "é".repeat(1000);
        set(&mut c, "X", TRUE, "r", &long, None, "t");
        assert!(c[0].message.len() <= 1024);
    }
}
