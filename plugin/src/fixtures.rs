//! Test fixtures: PostgresVips built in code, in the states the renderers must handle.
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use pgvip_api::{
    CloudStatus, Condition, FailoverPhases, FailoverRecord, LabelSource, LeaderStatus, NodeReport,
    PatroniSource, PostgresVip, PostgresVipSpec, PostgresVipStatus, ProviderSpec, RestApiSpec,
    VipRole,
};

/// The fixed "now" of the tests.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// A condition that changed at 11:00.
pub fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: "2026-03-01T11:00:00Z".into(),
        observed_generation: Some(2),
    }
}

/// A Patroni spec on OCI.
pub fn spec(address: &str, scope: &str) -> PostgresVipSpec {
    PostgresVipSpec {
        address: address.into(),
        role: VipRole::Primary,
        patroni: Some(PatroniSource {
            scope: scope.into(),
            use_endpoints: false,
            pod_selector: None,
            rest_api: RestApiSpec::default(),
        }),
        labels: None,
        provider: ProviderSpec {
            oci: Some(pgvip_api::OciProvider {
                subnet_id: "ocid1.subnet.oc1.phx.main".into(),
            }),
            ..Default::default()
        },
        announce: Default::default(),
        data_path: None,
    }
}

/// A Ready VIP that failed over 5 minutes 30 seconds ago.
pub fn ready_vip() -> PostgresVip {
    let mut v = PostgresVip::new("orders-rw", spec("10.0.10.200", "orders"));
    v.metadata.namespace = Some("db".into());
    v.metadata.generation = Some(2);
    v.status = Some(PostgresVipStatus {
        observed_generation: Some(2),
        conditions: vec![
            cond(
                "Ready",
                "True",
                "Ready",
                "the address is on the confirmed member's node",
            ),
            cond(
                "LeaderConfirmed",
                "True",
                "LeaderConfirmed",
                "pg-1 confirmed",
            ),
            cond("CloudAssigned", "True", "Assigned", "on worker-2's VNIC"),
            cond(
                "AddressConfigured",
                "True",
                "Announced",
                "announced on worker-2",
            ),
            cond("DataPathVerified", "True", "Verified", "reached pg-1"),
            cond(
                "FailoverReady",
                "True",
                "AllCandidatesReady",
                "3 candidate node(s)",
            ),
        ],
        leader: Some(LeaderStatus {
            pod: "pg-1".into(),
            node: "worker-2".into(),
            pod_ip: "10.0.10.12".into(),
        }),
        desired_node: Some("worker-2".into()),
        drain_node: None,
        assigned_node: Some("worker-2".into()),
        cloud: Some(CloudStatus {
            vnic_id: Some("ocid1.vnic.oc1.phx.node2".into()),
            private_ip_id: Some("ocid1.privateip.oc1.phx.vip".into()),
            created_by_pgvip: true,
            assigned_at: Some("2026-03-01T11:54:30.120Z".into()),
        }),
        last_failover: Some(FailoverRecord {
            from: Some("worker-1".into()),
            to: "worker-2".into(),
            at: "2026-03-01T11:54:30Z".into(),
            duration_millis: 1234,
            phases: FailoverPhases {
                decide_millis: 300,
                promotion_millis: 120,
                cloud_millis: 700,
                announce_millis: 34,
                report_millis: 12,
                verify_millis: 200,
            },
        }),
        nodes: vec![NodeReport {
            node: "worker-2".into(),
            address_configured: true,
            interface: Some("ens3".into()),
            announced_for: Some("2026-03-01T11:54:30.120Z".into()),
            announced_at: Some("2026-03-01T11:54:30.200Z".into()),
            last_error: None,
            updated_at: "2026-03-01T11:59:00Z".into(),
        }],
    });
    v
}

/// A VIP following a cluster that does not exist: no leader, nothing assigned.
pub fn unconfirmed_vip() -> PostgresVip {
    let mut v = PostgresVip::new("ghost", spec("10.0.10.201", "no-such-cluster"));
    v.metadata.namespace = Some("db".into());
    v.metadata.generation = Some(1);
    v.status = Some(PostgresVipStatus {
        observed_generation: Some(1),
        conditions: vec![
            cond(
                "LeaderConfirmed",
                "False",
                "NoLeaderLock",
                "no ConfigMap no-such-cluster-leader in namespace db",
            ),
            cond(
                "CloudAssigned",
                "False",
                "NoDesiredNode",
                "no member is confirmed",
            ),
            cond(
                "AddressConfigured",
                "False",
                "NoDesiredNode",
                "no node may hold the address",
            ),
            cond(
                "DataPathVerified",
                "False",
                "WaitingForEarlierSteps",
                "not configured yet",
            ),
            cond(
                "Ready",
                "False",
                "NoLeaderLock",
                "LeaderConfirmed: no ConfigMap no-such-cluster-leader in namespace db",
            ),
            cond(
                "FailoverReady",
                "Unknown",
                "NoCandidates",
                "no member pod is bound to a node yet; nothing to check",
            ),
        ],
        ..Default::default()
    });
    v
}

/// A label-source VIP the controller has not seen yet (no status), in another namespace.
pub fn new_label_vip() -> PostgresVip {
    let mut s = spec("10.0.20.5", "x");
    s.patroni = None;
    s.labels = Some(LabelSource {
        match_labels: BTreeMap::from([
            ("application".to_string(), "spilo".to_string()),
            ("cluster-name".to_string(), "billing".to_string()),
        ]),
        role_label: "spilo-role".into(),
        primary_value: "master".into(),
        replica_value: None,
        health: pgvip_api::HealthCheck {
            port: 8008,
            path: "/primary".into(),
            scheme: Default::default(),
            ca_secret_ref: None,
        },
    });
    let mut v = PostgresVip::new("billing-rw", s);
    v.metadata.namespace = Some("billing".into());
    v.metadata.generation = Some(1);
    v
}
