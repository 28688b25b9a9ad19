//! The agent's view of one PostgresVip: only the fields it acts on, extracted from the watched
//! object by a pure function, and the per-node report state it writes back.
//!
//! Data flow: `watch` turns each `PostgresVip` into a [`VipView`]; the planner reads views;
//! the agent turns a [`ReportState`] into the `NodeReport` that `report` applies.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use pgvip_api::{condition, NodeReport, PostgresVip, Scheme, VipRole};

/// Namespace and name of a PostgresVip.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VipKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for VipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the agent needs from one PostgresVip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipView {
    /// Which VIP.
    pub key: VipKey,
    /// `spec.address`, parsed; `Err` keeps the raw text for the error report.
    pub address: Result<IpAddr, String>,
    /// `status.desiredNode`.
    pub desired_node: Option<String>,
    /// `status.assignedNode`.
    pub assigned_node: Option<String>,
    /// `status.cloud.assignedAt`.
    pub assigned_at: Option<String>,
    /// `spec.announce.garpCount`, clamped to 1..=20.
    pub garp_count: u32,
    /// `spec.announce.garpIntervalMillis`, clamped to 10..=10000 ms.
    pub garp_interval: Duration,
    /// `spec.announce.interface`.
    pub interface: Option<String>,
    /// This node's current `status.nodes[]` entry, if any.
    pub reported: Option<ReportState>,
    /// The message of a failed cloud move (`CloudAssigned=False`, reason `CloudMoveFailed`).
    pub cloud_failure: Option<String>,
    /// `status.drainNode`: the demoted previous holder that keeps the address during the move.
    pub drain_node: Option<String>,
    /// `GET /primary` of the leader's Patroni REST API when the leader runs on this node and
    /// the agent can check it on its own (a primary VIP, plain HTTP): what decides, while the
    /// API server is unreachable, whether this node keeps the address (see `local`).
    pub local_primary_url: Option<String>,
}

impl VipView {
    /// Why `node` must not hold the address although it is the desired node: the cloud move
    /// to it failed and has not succeeded since. A failed re-confirmation of an assignment
    /// already on `node` withholds nothing (the cloud still routes the address here).
    pub fn withheld_on(&self, node: &str) -> Option<&str> {
        let pending = self.desired_node.as_deref() == Some(node)
            && self.assigned_node.as_deref() != Some(node);
        self.cloud_failure.as_deref().filter(|_| pending)
    }

    /// True when `node`, no longer desired, keeps the address while the cloud still assigns it
    /// here: the controller proved the member on it demoted (`drainNode`), so applications
    /// get a fast refusal instead of a silent drop until the move is done. A failed move ends
    /// it (fail closed).
    pub fn drains_on(&self, node: &str) -> bool {
        self.drain_node.as_deref() == Some(node)
            && self.assigned_node.as_deref() == Some(node)
            && self.desired_node.as_deref() != Some(node)
            && self.cloud_failure.is_none()
    }
}

impl VipView {
    /// Extracts the view of `vip` as seen by the agent on `node`; `None` without a name.
    pub fn from_resource(vip: &PostgresVip, node: &str) -> Option<Self> {
        let name = vip.metadata.name.clone()?;
        let namespace = vip.metadata.namespace.clone().unwrap_or_default();
        let status = vip.status.as_ref();
        let announce = &vip.spec.announce;
        Some(Self {
            key: VipKey { namespace, name },
            address: vip
                .spec
                .address
                .trim()
                .parse()
                .map_err(|_| vip.spec.address.clone()),
            desired_node: status.and_then(|s| s.desired_node.clone()),
            assigned_node: status.and_then(|s| s.assigned_node.clone()),
            assigned_at: status
                .and_then(|s| s.cloud.as_ref())
                .and_then(|c| c.assigned_at.clone()),
            garp_count: announce.garp_count.clamp(1, 20),
            garp_interval: Duration::from_millis(
                announce.garp_interval_millis.clamp(10, 10_000).into(),
            ),
            interface: announce.interface.clone().filter(|i| !i.is_empty()),
            reported: status
                .and_then(|s| s.nodes.iter().find(|n| n.node == node))
                .map(ReportState::from_report),
            drain_node: status.and_then(|s| s.drain_node.clone()),
            local_primary_url: local_primary_url(vip, node),
            cloud_failure: status
                .and_then(|s| {
                    s.conditions
                        .iter()
                        .find(|c| c.type_ == condition::CLOUD_ASSIGNED)
                })
                .filter(|c| c.status == "False" && c.reason == condition::CLOUD_MOVE_FAILED)
                .map(|c| c.message.clone()),
        })
    }
}

/// The leader's `GET /primary` URL when its pod runs on `node` and the agent can ask it: a
/// Patroni primary VIP over plain HTTP. HTTPS needs the CA the agent does not read (the
/// controller does), so such a VIP falls back to the hold time.
fn local_primary_url(vip: &PostgresVip, node: &str) -> Option<String> {
    let rest = &vip.spec.patroni.as_ref()?.rest_api;
    let leader = vip.status.as_ref()?.leader.as_ref()?;
    if vip.spec.role != VipRole::Primary || rest.scheme != Scheme::Http || leader.node != node {
        return None;
    }
    let ip: IpAddr = leader.pod_ip.parse().ok()?;
    Some(format!(
        "http://{}/primary",
        std::net::SocketAddr::new(ip, rest.port)
    ))
}

/// The content of a `NodeReport` without its node name and write time: what the agent
/// compares to decide whether to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportState {
    /// The address is configured on this node.
    pub address_configured: bool,
    /// Interface the address is (or would be) on.
    pub interface: Option<String>,
    /// The `cloud.assignedAt` last announced for.
    pub announced_for: Option<String>,
    /// When that announcement started (RFC 3339).
    pub announced_at: Option<String>,
    /// Last error, cleared on success.
    pub last_error: Option<String>,
}

impl ReportState {
    /// Reads the state back from a report.
    pub fn from_report(r: &NodeReport) -> Self {
        Self {
            address_configured: r.address_configured,
            interface: r.interface.clone(),
            announced_for: r.announced_for.clone(),
            announced_at: r.announced_at.clone(),
            last_error: r.last_error.clone(),
        }
    }

    /// The report for `node`, stamped `updated_at`.
    pub fn to_report(&self, node: &str, updated_at: String) -> NodeReport {
        NodeReport {
            node: node.to_string(),
            address_configured: self.address_configured,
            interface: self.interface.clone(),
            announced_for: self.announced_for.clone(),
            announced_at: self.announced_at.clone(),
            last_error: self.last_error.clone(),
            updated_at,
        }
    }

    /// True for a node that neither holds the address, nor announced it, nor hit an error.
    pub fn is_blank(&self) -> bool {
        !self.address_configured && self.announced_for.is_none() && self.last_error.is_none()
    }
}

/// Whether to write the node's report now. `written` is what this process last wrote for the
/// VIP (`None` before its first write); `existing` is the entry found in the object; `acted`
/// says this pass added or removed the VIP's address on the node.
/// Writes happen when the state changed or the address was added/removed, and once per VIP
/// after start-up, but a node that never had anything to do with a VIP adds no entry for it.
pub fn report_needed(
    written: Option<&ReportState>,
    existing: Option<&ReportState>,
    new: &ReportState,
    acted: bool,
) -> bool {
    if acted {
        return true;
    }
    match written {
        Some(w) => w != new,
        None => existing.is_some() || !new.is_blank(),
    }
}

/// Current time in the status format (RFC 3339, UTC, millisecond precision).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgvip_api::{CloudStatus, PostgresVipStatus};

    fn vip_yaml() -> PostgresVip {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pgvip.dev/v1alpha1",
            "kind": "PostgresVip",
            "metadata": {"name": "orders-rw", "namespace": "db"},
            "spec": {
                "address": "10.0.1.100",
                "patroni": {"scope": "orders"},
                "provider": {"oci": {"subnetId": "ocid1.subnet.oc1.phx.aaaa"}},
                "announce": {"garpCount": 50, "garpIntervalMillis": 1, "interface": ""}
            }
        }))
        .unwrap()
    }

    #[test]
    fn view_extracts_and_clamps() {
        let mut vip = vip_yaml();
        vip.status = Some(PostgresVipStatus {
            desired_node: Some("w1".into()),
            assigned_node: Some("w2".into()),
            cloud: Some(CloudStatus {
                assigned_at: Some("2025-01-01T00:00:00.000Z".into()),
                ..Default::default()
            }),
            nodes: vec![ReportState {
                address_configured: true,
                ..Default::default()
            }
            .to_report("w1", "t".into())],
            ..Default::default()
        });
        let v = VipView::from_resource(&vip, "w1").unwrap();
        assert_eq!(v.key.to_string(), "db/orders-rw");
        assert_eq!(v.address, Ok("10.0.1.100".parse().unwrap()));
        assert_eq!(v.desired_node.as_deref(), Some("w1"));
        assert_eq!(v.assigned_node.as_deref(), Some("w2"));
        assert_eq!(v.assigned_at.as_deref(), Some("2025-01-01T00:00:00.000Z"));
        assert_eq!(v.garp_count, 20);
        assert_eq!(v.garp_interval, Duration::from_millis(10));
        assert_eq!(v.interface, None);
        assert!(v.reported.unwrap().address_configured);
        let other = VipView::from_resource(&vip, "w3").unwrap();
        assert_eq!(other.reported, None);
    }

    #[test]
    fn the_local_check_asks_a_plain_http_leader_on_this_node_only() {
        let with = |patch: serde_json::Value, leader_node: &str| {
            let mut v = serde_json::to_value(vip_yaml()).unwrap();
            json_patch(&mut v["spec"], patch);
            v["status"] = serde_json::json!({"leader": {"pod": "pg-0", "node": leader_node, "podIP": "10.0.1.11"}});
            let vip: PostgresVip = serde_json::from_value(v).unwrap();
            VipView::from_resource(&vip, "w1")
                .unwrap()
                .local_primary_url
        };
        let url = Some("http://10.0.1.11:8008/primary".to_string());
        let cases = [
            (serde_json::json!({}), "w1", url),
            (serde_json::json!({}), "w2", None),
            (
                serde_json::json!({"patroni": {"scope": "orders", "restApi": {"port": 8443}}}),
                "w1",
                Some("http://10.0.1.11:8443/primary".to_string()),
            ),
            (
                serde_json::json!({"patroni": {"scope": "orders", "restApi": {"scheme": "https"}}}),
                "w1",
                None,
            ),
            (serde_json::json!({"role": "replica"}), "w1", None),
            (
                serde_json::json!({"patroni": null, "labels": {"matchLabels": {"a": "b"}, "roleLabel": "role", "primaryValue": "master", "health": {"port": 8008, "path": "/primary"}}}),
                "w1",
                None,
            ),
        ];
        for (patch, leader_node, want) in cases {
            assert_eq!(
                with(patch.clone(), leader_node),
                want,
                "{patch} on {leader_node}"
            );
        }
        let mut ipv6 = serde_json::to_value(vip_yaml()).unwrap();
        ipv6["status"] =
            serde_json::json!({"leader": {"pod": "pg-0", "node": "w1", "podIP": "fd00::11"}});
        let vip: PostgresVip = serde_json::from_value(ipv6).unwrap();
        assert_eq!(
            VipView::from_resource(&vip, "w1")
                .unwrap()
                .local_primary_url
                .as_deref(),
            Some("http://[fd00::11]:8008/primary")
        );
    }

    /// Merges `patch` into `target` (objects key by key; null removes).
    fn json_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
        if let (Some(t), serde_json::Value::Object(p)) = (target.as_object_mut(), patch) {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    t.insert(k, v);
                }
            }
        }
    }

    #[test]
    fn a_failed_move_withholds_the_address_from_its_target_only() {
        let failed = |desired: &str, assigned: Option<&str>, reason: &str, status: &str| {
            let mut vip = vip_yaml();
            vip.status = Some(PostgresVipStatus {
                desired_node: Some(desired.into()),
                assigned_node: assigned.map(str::to_string),
                conditions: vec![pgvip_api::Condition {
                    type_: condition::CLOUD_ASSIGNED.into(),
                    status: status.into(),
                    reason: reason.into(),
                    message: "moving the address to w2 failed (invalid_parameter): nope".into(),
                    last_transition_time: "t".into(),
                    observed_generation: None,
                }],
                ..Default::default()
            });
            VipView::from_resource(&vip, "w2").unwrap()
        };
        // (view, node asking, withheld?)
        let cases = [
            (
                failed("w2", Some("w1"), "CloudMoveFailed", "False"),
                "w2",
                true,
            ),
            (failed("w2", None, "CloudMoveFailed", "False"), "w2", true),
            (
                failed("w2", Some("w2"), "CloudMoveFailed", "False"),
                "w2",
                false,
            ), // re-confirmation
            (
                failed("w2", Some("w1"), "MovePending", "False"),
                "w2",
                false,
            ),
            (
                failed("w2", Some("w1"), "CloudMoveFailed", "False"),
                "w1",
                false,
            ), // not desired
        ];
        for (i, (v, node, want)) in cases.into_iter().enumerate() {
            assert_eq!(v.withheld_on(node).is_some(), want, "case {i}");
        }
    }

    #[test]
    fn view_keeps_a_bad_address_as_text() {
        let mut vip = vip_yaml();
        vip.spec.address = "10.0.1.300".into();
        let v = VipView::from_resource(&vip, "w1").unwrap();
        assert_eq!(v.address, Err("10.0.1.300".into()));
        assert_eq!(v.desired_node, None);
    }

    #[test]
    fn report_decision_table() {
        let blank = ReportState::default();
        let held = ReportState {
            address_configured: true,
            interface: Some("eth0".into()),
            ..Default::default()
        };
        let failed = ReportState {
            last_error: Some("boom".into()),
            ..Default::default()
        };
        // (written by this process, existing entry, new state, acted, write?)
        let cases = [
            (None, None, &blank, false, false), // never involved: no entry
            (None, None, &blank, true, true),   // removed a stale copy at start-up
            (None, Some(&blank), &blank, false, true), // start-up refresh of an existing entry
            (None, None, &held, false, true),
            (None, None, &failed, false, true),
            (Some(&held), None, &held, false, false), // unchanged
            (Some(&held), None, &held, true, true),   // re-added after drift
            (Some(&held), None, &blank, false, true), // removed
            (Some(&blank), None, &failed, false, true), // error set
            (Some(&failed), None, &blank, false, true), // error cleared
        ];
        for (i, (written, existing, new, acted, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                report_needed(written, existing, new, acted),
                want,
                "case {i}"
            );
        }
    }
}
