//! `PostgresVip.status`: what pgvip observed and did. Two kinds of writers share it through
//! server-side apply without conflicts: the controller (field manager [`CONTROLLER_MANAGER`])
//! owns everything but `nodes`; each node-agent (field manager [`agent_manager`]) owns only its
//! own entry of the `nodes` list map, keyed by node name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Field manager the controller uses for status server-side apply.
pub const CONTROLLER_MANAGER: &str = "pgvip-controller";

/// Field manager of the node-agent on `node`; one per node so entries never conflict.
pub fn agent_manager(node: &str) -> String {
    format!("pgvip-node-agent/{node}")
}

/// Observed state of a PostgresVip.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresVipStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Ready, LeaderConfirmed, CloudAssigned, AddressConfigured, DataPathVerified, FailoverReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The confirmed member the address follows; absent while no member is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderStatus>,

    /// Node that should hold the address now. Agents act on it at once: the desired node adds
    /// the address, every other node removes it. Absent means no node may hold it (fail closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_node: Option<String>,

    /// During a handover only: the node the cloud still assigns the address to, whose members
    /// are proven demoted (they answered their health endpoint with an error status: Patroni's
    /// "not primary"). It keeps the address while the lock changes hands and the cloud moves
    /// it, so applications get a fast refusal from a read-only server instead of a silent
    /// drop. Its agent removes the address as soon as `assignedNode` leaves it, or when a move
    /// fails. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_node: Option<String>,

    /// Node whose VNIC the cloud control plane has confirmed holds the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_node: Option<String>,

    /// Cloud-side identifiers of the current assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudStatus>,

    /// The most recent completed failover, with measured phase durations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover: Option<FailoverRecord>,

    /// One entry per node-agent that holds or held the address, written by that agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["node"]))]
    pub nodes: Vec<NodeReport>,
}

/// A Kubernetes-convention condition (`kubectl wait --for=condition=Ready` works on it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable CamelCase reason.
    pub reason: String,
    /// What happened and what to do about it, for a person.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// The `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The member the address follows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderStatus {
    /// Pod name (the Patroni member name).
    pub pod: String,
    /// Node the pod runs on.
    pub node: String,
    /// The pod's IP.
    #[serde(rename = "podIP")]
    pub pod_ip: String,
}

/// Cloud identifiers of the assignment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudStatus {
    /// OCID of the VNIC that holds the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnic_id: Option<String>,
    /// OCID of the private IP object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip_id: Option<String>,
    /// True when pgvip created the private IP (it then deletes it with the PostgresVip).
    #[serde(default)]
    pub created_by_pgvip: bool,
    /// When the assignment to `assignedNode` was confirmed (RFC 3339, millisecond precision).
    /// Agents announce once per value, so a move back to a previous node announces again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<String>,
}

/// One measured failover.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecord {
    /// Node that held the address before (absent on first assignment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Node that holds it now.
    pub to: String,
    /// When the leader change was first seen (RFC 3339).
    pub at: String,
    /// Leader change seen → data path verified, in milliseconds.
    pub duration_millis: u64,
    /// Per-phase durations, milliseconds.
    #[serde(default)]
    pub phases: FailoverPhases,
}

/// Phase durations of a failover, in milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverPhases {
    /// Leader change seen → decision made (the REST confirmation); the move starts then, and
    /// the decision's status write runs alongside it.
    pub decide_millis: u64,
    /// Part of `decideMillis`: leader change seen → the new lock holder's last answer that it
    /// is not primary yet (Patroni writes the lock before it finishes promoting). 0 when its
    /// first answer confirmed it.
    #[serde(default)]
    pub promotion_millis: u64,
    /// The cloud move (the provider's API calls; 0 in L2 mode).
    pub cloud_millis: u64,
    /// Cloud move done → the new node's agent configured the address and sent the first
    /// announcement (its `announcedAt`, on the node's clock, clamped to what the controller
    /// saw): the assignment's status write, the agent's watch, netlink, the first frame. The
    /// last step on the application's path.
    pub announce_millis: u64,
    /// The announcement → the controller seeing the agent's report (status only; not on the
    /// application's path).
    #[serde(default)]
    pub report_millis: u64,
    /// Agent report seen → data path through the VIP verified.
    pub verify_millis: u64,
}

impl FailoverPhases {
    /// Every phase with its name (as the metric's `phase` label spells it), in order.
    pub fn named(&self) -> [(&'static str, u64); 6] {
        [
            ("decide", self.decide_millis),
            ("promotion", self.promotion_millis),
            ("cloud", self.cloud_millis),
            ("announce", self.announce_millis),
            ("report", self.report_millis),
            ("verify", self.verify_millis),
        ]
    }
}

/// What one node-agent reports about its node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// Node name (list-map key).
    pub node: String,
    /// Whether the address is configured on this node now.
    pub address_configured: bool,
    /// Interface the address is (or would be) configured on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The `status.cloud.assignedAt` this node last announced (GARP / unsolicited NA) for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced_for: Option<String>,
    /// When the first announcement for `announcedFor` was sent (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced_at: Option<String>,
    /// The last error this agent hit for this VIP, cleared on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the agent wrote this entry (RFC 3339); a stale entry means a silent agent.
    pub updated_at: String,
}
