//! `PostgresVipDrill`: one rehearsed failover of one PostgresVip, asked for declaratively.
//!
//! Data flow: a user (or a GitOps tool) creates a drill naming a PostgresVip and an objective;
//! the controller checks that the VIP could fail over now, asks Patroni for a switchover, times
//! what an application sees through the VIP with its own probe, and writes the result into
//! `status` once. A drill is one run: its spec is immutable, and drilling again means creating
//! a new object, so the history stays in the API (and in Git) as one object per drill.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::{Condition, FailoverPhases};

/// A failover drill: switch the cluster behind one PostgresVip over to another member and
/// measure the write outage an application sees through the VIP, against an objective.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "pgvip.dev",
    version = "v1alpha1",
    kind = "PostgresVipDrill",
    plural = "postgresvipdrills",
    singular = "postgresvipdrill",
    shortname = "pgvipdrill",
    namespaced,
    status = "PostgresVipDrillStatus",
    printcolumn = r#"{"name":"VIP","type":"string","jsonPath":".spec.vipName"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".status.from.member"}"#,
    printcolumn = r#"{"name":"To","type":"string","jsonPath":".status.to.member"}"#,
    printcolumn = r#"{"name":"Outage(ms)","type":"integer","jsonPath":".status.outage.millis"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self == oldSelf",
    "message": "a drill is one run and its spec cannot change; create a new PostgresVipDrill to drill again"
}]))]
pub struct PostgresVipDrillSpec {
    /// Name of the PostgresVip (same namespace) whose failover is drilled. It must follow the
    /// primary of a Patroni cluster.
    #[schemars(length(min = 1, max = 253))]
    pub vip_name: String,

    /// Patroni member to switch over to. Default: the healthy replica with the least lag that
    /// is not tagged `nofailover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub candidate: Option<String>,

    /// The objective: the drill passes when the write outage measured through the VIP is at
    /// most this many seconds (0.1 to 600).
    #[schemars(range(min = 0.1, max = 600.0))]
    pub max_outage_seconds: f64,

    /// How the drill measures what an application sees. Default: Patroni's `GET /primary`
    /// through the VIP (read-only; needs no database credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<DrillProbe>,

    /// Secret (same namespace) with keys `username` and `password` for Patroni's REST API
    /// basic authentication (`restapi.authentication`), needed when Patroni protects
    /// `POST /switchover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub patroni_auth_secret_name: Option<String>,

    /// Seconds to wait, after asking for the switchover, for writes through the VIP to resume
    /// on the new primary before the drill fails (10 to 600).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 10, max = 600))]
    pub timeout_seconds: u32,
}

fn default_timeout() -> u32 {
    60
}

/// The drill's application probe: a PostgreSQL client writing through the VIP.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillProbe {
    /// Secret (same namespace) with keys `username` and `password` (and optionally
    /// `database`, default `postgres`) of a role that may log in through the VIP. Each probe
    /// attempt runs `SELECT txid_current()`, which commits a transaction id and so succeeds
    /// only on a writable primary; it creates no table.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// PostgreSQL port on the VIP.
    #[serde(default = "default_pg_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

fn default_pg_port() -> u16 {
    5432
}

/// Where a drill stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DrillPhase {
    /// Not started yet.
    #[default]
    Pending,
    /// The switchover was asked for and the probe is measuring.
    Running,
    /// Done, and the measured outage met the objective.
    Succeeded,
    /// Done (or aborted after the switchover was asked for) without meeting the objective.
    Failed,
    /// Not started: the VIP could not fail over safely, or the drill's input is wrong.
    Refused,
}

impl DrillPhase {
    /// True once the drill will never act again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DrillPhase::Succeeded | DrillPhase::Failed | DrillPhase::Refused
        )
    }
}

/// One end of the drilled switchover.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillMember {
    /// Patroni member (pod) name.
    pub member: String,
    /// Node it runs on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// What the drill's probe saw.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillOutage {
    /// The longest stretch without a successful probe attempt, from the switchover request
    /// until writes resumed on the new primary, in milliseconds.
    pub millis: u64,
    /// `write` (PostgreSQL `SELECT txid_current()` through the VIP) or `rest` (Patroni
    /// `GET /primary` through the VIP).
    pub probe: String,
    /// Probe attempts during the measurement.
    pub attempts: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
}

/// Observed state of a drill.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresVipDrillStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Running, Succeeded, Failed or Refused.
    #[serde(default)]
    pub phase: DrillPhase,
    /// `Complete` (True once the drill is over, whatever the result) and `Succeeded` (True
    /// when the objective was met), so `kubectl wait --for=condition=Complete` works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The primary before the drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DrillMember>,
    /// The member the drill switched over to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DrillMember>,
    /// When the switchover was asked for (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the result was recorded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The measured application-visible outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<DrillOutage>,
    /// The objective the outage was judged against, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_millis: Option<u64>,
    /// pgvip's phases of the failover the drill caused (from the PostgresVip's `lastFailover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<FailoverPhases>,
    /// What happened, for a person: the result, or why the drill was refused or failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Condition types of a drill.
pub mod drill_condition {
    /// True once the drill is over (Succeeded, Failed or Refused).
    pub const COMPLETE: &str = "Complete";
    /// True when the drill ran and met its objective; False with the reason otherwise.
    pub const SUCCEEDED: &str = "Succeeded";
}
