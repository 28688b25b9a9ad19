//! Decision table: each row changes one thing from a healthy three-member cluster and names the
//! outcome it must produce.

use std::collections::BTreeMap;
use std::time::Duration;

use pgvip_api::{
    HealthCheck, LabelSource, OciProvider, PatroniSource, PostgresVipSpec, ProviderSpec,
    RestApiSpec, Scheme, VipRole,
};

use super::*;
use crate::conditions::reason;
use crate::patroni::{DynamicConfig, LeaderRecord, MemberStatus};

/// A Patroni-following spec with an OCI provider block (other tests reuse it).
pub(crate) fn patroni_spec(role: VipRole) -> PostgresVipSpec {
    PostgresVipSpec {
        address: "10.0.1.100".into(),
        role,
        patroni: Some(PatroniSource {
            scope: "orders".into(),
            use_endpoints: false,
            pod_selector: None,
            rest_api: RestApiSpec::default(),
        }),
        labels: None,
        provider: ProviderSpec {
            oci: Some(OciProvider {
                subnet_id: "ocid1.subnet.oc1.eu-frankfurt-1.aaa".into(),
            }),
            ..Default::default()
        },
        announce: Default::default(),
        data_path: None,
    }
}

fn label_spec(role: VipRole) -> PostgresVipSpec {
    PostgresVipSpec {
        patroni: None,
        labels: Some(LabelSource {
            match_labels: [("application".to_string(), "spilo".to_string())].into(),
            role_label: "spilo-role".into(),
            primary_value: "master".into(),
            replica_value: Some("replica".into()),
            health: HealthCheck {
                port: 8008,
                path: "/health".into(),
                scheme: Scheme::Http,
                ca_secret_ref: None,
            },
        }),
        ..patroni_spec(role)
    }
}

fn pod(i: u8) -> PodView {
    PodView {
        name: format!("orders-{i}"),
        node: Some(format!("node-{i}")),
        ip: Some(format!("10.0.10.{}", 10 + i).parse().unwrap()),
        deleting: false,
        labels: [("cluster-name".to_string(), "orders".to_string())].into(),
    }
}

fn body(name: &str, role: &str, state: &str) -> Option<MemberStatus> {
    Some(MemberStatus {
        name: Some(name.into()),
        scope: Some("orders".into()),
        role: Some(role.into()),
        state: Some(state.into()),
    })
}

fn answer(status: u16, b: Option<MemberStatus>) -> ProbeOutcome {
    ProbeOutcome::Answered { status, body: b }
}

fn lock(leader: &str, age_secs: u64) -> LockView {
    let mut a = BTreeMap::new();
    a.insert("leader".to_string(), leader.to_string());
    a.insert(
        "renewTime".to_string(),
        "2025-01-01T00:00:00+00:00".to_string(),
    );
    a.insert("ttl".to_string(), "30".to_string());
    LockView {
        record: LeaderRecord::from_annotations(&a),
        age: Duration::from_secs(age_secs),
    }
}

/// Healthy cluster: orders-1 leads (Patroni 4 wording), orders-0 and orders-2 replicate.
struct World {
    spec: PostgresVipSpec,
    lock: Option<LockView>,
    config: DynamicConfig,
    pods: Vec<PodView>,
    nodes: BTreeMap<String, NodeView>,
    probes: BTreeMap<String, ProbeOutcome>,
    current: Option<String>,
    require_provider_id: bool,
}

impl World {
    fn healthy(role: VipRole) -> Self {
        let path_primary = role == VipRole::Primary;
        let mut probes = BTreeMap::new();
        for i in 0..3u8 {
            let name = format!("orders-{i}");
            let o = match (i, path_primary) {
                (1, true) => answer(200, body(&name, "primary", "running")),
                (1, false) => answer(503, body(&name, "primary", "running")),
                (_, true) => answer(503, body(&name, "replica", "streaming")),
                (_, false) => answer(200, body(&name, "replica", "running")),
            };
            probes.insert(name, o);
        }
        Self {
            spec: patroni_spec(role),
            lock: Some(lock("orders-1", 3)),
            config: DynamicConfig::default(),
            pods: (0..3).map(pod).collect(),
            nodes: (0..3)
                .map(|i| {
                    (
                        format!("node-{i}"),
                        NodeView {
                            provider_id: Some(format!("ocid1.instance.oc1..n{i}")),
                        },
                    )
                })
                .collect(),
            probes,
            current: None,
            require_provider_id: true,
        }
    }

    fn decide(&self) -> Decision {
        decide(&Inputs {
            spec: &self.spec,
            lock: self.lock.clone(),
            config: self.config.clone(),
            pods: self.pods.clone(),
            nodes: self.nodes.clone(),
            probes: self.probes.clone(),
            current_pod: self.current.clone(),
            require_provider_id: self.require_provider_id,
        })
    }
}

fn confirmed_pod(d: &Decision) -> Option<&str> {
    match d {
        Decision::Confirmed(m) => Some(m.pod.as_str()),
        _ => None,
    }
}

fn reason_of(d: &Decision) -> &'static str {
    match d {
        Decision::Confirmed(_) => "Confirmed",
        Decision::Hold { reason, .. } | Decision::Unconfirmed { reason, .. } => reason,
    }
}

#[test]
fn primary_decision_table() {
    type Tweak = fn(&mut World);
    let rows: Vec<(&str, Tweak, &str)> = vec![
        ("healthy cluster", |_| {}, "Confirmed"),
        (
            "fresh lock at exactly ttl",
            |w| w.lock = Some(lock("orders-1", 30)),
            "Confirmed",
        ),
        (
            "stale lock (not renewed for ttl+1 s on our clock)",
            |w| w.lock = Some(lock("orders-1", 31)),
            reason::LEADER_LOCK_STALE,
        ),
        ("no lock object", |w| w.lock = None, reason::NO_LEADER_LOCK),
        (
            "lock names nobody",
            |w| w.lock = Some(lock("", 1)),
            reason::NO_LEADER_LOCK,
        ),
        (
            "leader pod missing",
            |w| w.pods.retain(|p| p.name != "orders-1"),
            reason::LEADER_POD_MISSING,
        ),
        (
            "leader pod terminating",
            |w| w.pods[1].deleting = true,
            reason::LEADER_POD_TERMINATING,
        ),
        (
            "leader pod not bound",
            |w| w.pods[1].node = None,
            reason::LEADER_POD_UNSCHEDULED,
        ),
        (
            "leader pod without IP",
            |w| w.pods[1].ip = None,
            reason::LEADER_POD_NO_IP,
        ),
        (
            "leader's node gone",
            |w| {
                w.nodes.remove("node-1");
            },
            reason::NODE_NOT_FOUND,
        ),
        (
            "leader's node without providerID",
            |w| w.nodes.get_mut("node-1").unwrap().provider_id = None,
            reason::NODE_WITHOUT_PROVIDER_ID,
        ),
        (
            "no providerID needed in L2-only mode",
            |w| {
                w.nodes.get_mut("node-1").unwrap().provider_id = None;
                w.require_provider_id = false;
            },
            "Confirmed",
        ),
        (
            "REST 503",
            |w| {
                w.probes.insert(
                    "orders-1".into(),
                    answer(503, body("orders-1", "primary", "running")),
                );
            },
            reason::REST_REJECTED,
        ),
        (
            "REST unreachable",
            |w| {
                w.probes
                    .insert("orders-1".into(), ProbeOutcome::Failed("timeout".into()));
            },
            reason::REST_UNREACHABLE,
        ),
        (
            "REST not asked",
            |w| {
                w.probes.remove("orders-1");
            },
            reason::REST_UNREACHABLE,
        ),
        (
            "REST wrong member name",
            |w| {
                w.probes.insert(
                    "orders-1".into(),
                    answer(200, body("orders-0", "primary", "running")),
                );
            },
            reason::REST_DISAGREES,
        ),
        (
            "REST without patroni.name (Patroni 3.0.2 omits it)",
            |w| {
                let mut b = body("orders-1", "primary", "running");
                b.as_mut().unwrap().name = None;
                w.probes.insert("orders-1".into(), answer(200, b));
            },
            "Confirmed",
        ),
        (
            "REST wrong scope",
            |w| {
                let mut b = body("orders-1", "primary", "running");
                b.as_mut().unwrap().scope = Some("users".into());
                w.probes.insert("orders-1".into(), answer(200, b));
            },
            reason::REST_DISAGREES,
        ),
        (
            // Patroni answers 200 once it holds the lock; the role follows the promotion.
            // The move starts now so that it overlaps the promotion.
            "REST 200 but still replica (promoting)",
            |w| {
                w.probes.insert(
                    "orders-1".into(),
                    answer(200, body("orders-1", "replica", "running")),
                );
            },
            "Confirmed",
        ),
        (
            "REST 200, state starting",
            |w| {
                w.probes.insert(
                    "orders-1".into(),
                    answer(200, body("orders-1", "primary", "starting")),
                );
            },
            "Confirmed",
        ),
        (
            "REST 200 from a standby leader",
            |w| {
                w.probes.insert(
                    "orders-1".into(),
                    answer(200, body("orders-1", "standby_leader", "running")),
                );
            },
            reason::REST_DISAGREES,
        ),
        (
            "REST 200 without JSON",
            |w| {
                w.probes.insert("orders-1".into(), answer(200, None));
            },
            reason::REST_DISAGREES,
        ),
        (
            "Patroni 3.x says master",
            |w| {
                w.probes.insert(
                    "orders-1".into(),
                    answer(200, body("orders-1", "master", "running")),
                );
            },
            "Confirmed",
        ),
        (
            "second pod claims primary",
            |w| {
                w.probes.insert(
                    "orders-0".into(),
                    answer(200, body("orders-0", "master", "running")),
                );
            },
            reason::MULTIPLE_PRIMARIES,
        ),
        (
            "unreachable peer does not block",
            |w| {
                w.probes
                    .insert("orders-0".into(), ProbeOutcome::Failed("timeout".into()));
            },
            "Confirmed",
        ),
        (
            "standby cluster never gets a write VIP",
            |w| w.config.standby_cluster = true,
            reason::STANDBY_CLUSTER,
        ),
        (
            "paused with a holder keeps it",
            |w| {
                w.config.pause = true;
                w.current = Some("orders-0".into());
            },
            reason::CLUSTER_PAUSED,
        ),
        (
            "paused without a holder assigns the confirmed leader",
            |w| w.config.pause = true,
            "Confirmed",
        ),
    ];
    for (name, tweak, want) in rows {
        let mut w = World::healthy(VipRole::Primary);
        tweak(&mut w);
        let d = w.decide();
        assert_eq!(reason_of(&d), want, "row {name:?}: got {d:?}");
        if want == "Confirmed" {
            assert_eq!(confirmed_pod(&d), Some("orders-1"), "row {name:?}");
        }
    }
}

#[test]
fn confirmed_member_carries_node_ip_and_provider_id() {
    let d = World::healthy(VipRole::Primary).decide();
    assert_eq!(
        d,
        Decision::Confirmed(Member {
            pod: "orders-1".into(),
            node: "node-1".into(),
            pod_ip: "10.0.10.11".parse().unwrap(),
            provider_id: Some("ocid1.instance.oc1..n1".into()),
        })
    );
}

#[test]
fn lock_ttl_from_config_when_lock_has_none() {
    let mut w = World::healthy(VipRole::Primary);
    let mut l = lock("orders-1", 12);
    l.record.fields.remove("ttl");
    w.lock = Some(l);
    w.config.ttl = Some(10);
    assert_eq!(reason_of(&w.decide()), reason::LEADER_LOCK_STALE);
    w.config.ttl = None; // Patroni default 30
    assert_eq!(reason_of(&w.decide()), "Confirmed");
}

#[test]
fn messages_name_what_to_check() {
    let mut w = World::healthy(VipRole::Primary);
    w.lock = Some(lock("orders-1", 45));
    match w.decide() {
        Decision::Unconfirmed { message, .. } => {
            assert!(
                message.contains("orders-1")
                    && message.contains("45s")
                    && message.contains("ttl 30s"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replica_vip_is_sticky_while_healthy() {
    let mut w = World::healthy(VipRole::Replica);
    assert_eq!(
        confirmed_pod(&w.decide()),
        Some("orders-0"),
        "first healthy replica by name"
    );
    w.current = Some("orders-2".into());
    assert_eq!(
        confirmed_pod(&w.decide()),
        Some("orders-2"),
        "stays on the current holder"
    );
    w.probes.insert(
        "orders-2".into(),
        answer(503, body("orders-2", "replica", "running")),
    );
    assert_eq!(
        confirmed_pod(&w.decide()),
        Some("orders-0"),
        "moves when the holder is unhealthy"
    );
}

#[test]
fn replica_vip_rejects_unhealthy_answers_and_the_leader() {
    let mut w = World::healthy(VipRole::Replica);
    w.probes.insert(
        "orders-0".into(),
        answer(200, body("orders-0", "replica", "starting")),
    );
    w.probes.insert(
        "orders-2".into(),
        answer(200, body("orders-9", "replica", "running")),
    );
    // The leader answering /replica 200 (it never should) is still not a replica candidate.
    w.probes.insert(
        "orders-1".into(),
        answer(200, body("orders-1", "replica", "running")),
    );
    assert_eq!(reason_of(&w.decide()), reason::NO_HEALTHY_REPLICA);
    w.probes.insert(
        "orders-2".into(),
        answer(200, body("orders-2", "replica", "streaming")),
    );
    assert_eq!(confirmed_pod(&w.decide()), Some("orders-2"));
}

#[test]
fn replica_vip_in_standby_cluster_is_allowed_and_paused_holds() {
    let mut w = World::healthy(VipRole::Replica);
    w.config.standby_cluster = true;
    assert_eq!(reason_of(&w.decide()), "Confirmed");
    w.config.pause = true;
    w.current = Some("orders-2".into());
    assert_eq!(reason_of(&w.decide()), reason::CLUSTER_PAUSED);
}

fn spilo_world(role: VipRole) -> World {
    let mut w = World::healthy(role);
    w.spec = label_spec(role);
    w.lock = None;
    for (i, p) in w.pods.iter_mut().enumerate() {
        p.labels = [
            ("application".to_string(), "spilo".to_string()),
            (
                "spilo-role".to_string(),
                if i == 1 { "master" } else { "replica" }.to_string(),
            ),
        ]
        .into();
    }
    w.probes = (0..3)
        .map(|i| (format!("orders-{i}"), answer(200, None)))
        .collect();
    w
}

#[test]
fn label_source_primary() {
    let w = spilo_world(VipRole::Primary);
    assert_eq!(confirmed_pod(&w.decide()), Some("orders-1"));

    let mut two = spilo_world(VipRole::Primary);
    two.pods[0]
        .labels
        .insert("spilo-role".into(), "master".into());
    assert_eq!(reason_of(&two.decide()), reason::MULTIPLE_PRIMARIES);

    let mut none = spilo_world(VipRole::Primary);
    none.pods[1]
        .labels
        .insert("spilo-role".into(), "replica".into());
    assert_eq!(reason_of(&none.decide()), reason::NO_LABELLED_PRIMARY);

    let mut sick = spilo_world(VipRole::Primary);
    sick.probes.insert("orders-1".into(), answer(503, None));
    assert_eq!(reason_of(&sick.decide()), reason::REST_REJECTED);

    let mut terminating = spilo_world(VipRole::Primary);
    terminating.pods[1].deleting = true;
    assert_eq!(
        reason_of(&terminating.decide()),
        reason::NO_LABELLED_PRIMARY
    );
}

#[test]
fn label_source_replica() {
    let mut w = spilo_world(VipRole::Replica);
    w.current = Some("orders-2".into());
    assert_eq!(confirmed_pod(&w.decide()), Some("orders-2"));
    w.probes
        .insert("orders-2".into(), ProbeOutcome::Failed("refused".into()));
    assert_eq!(confirmed_pod(&w.decide()), Some("orders-0"));
}

#[test]
fn probe_targets_follow_the_source() {
    let w = World::healthy(VipRole::Primary);
    let t = probe_targets(&w.spec, Some("orders-1"), &w.pods);
    assert_eq!(
        t.len(),
        3,
        "every member is asked, to catch a second primary"
    );
    assert!(t.iter().all(|t| t.path == "/primary"));
    assert_eq!(
        t.iter()
            .filter(|t| t.is_lock_holder)
            .map(|t| t.pod.as_str())
            .collect::<Vec<_>>(),
        vec!["orders-1"]
    );

    let mut w = World::healthy(VipRole::Replica);
    w.pods[0].ip = None;
    w.pods[2].deleting = true;
    let t = probe_targets(&w.spec, None, &w.pods);
    assert_eq!(
        t.iter().map(|t| t.pod.as_str()).collect::<Vec<_>>(),
        vec!["orders-1"]
    );
    assert_eq!(t[0].path, "/replica");

    let s = spilo_world(VipRole::Primary);
    let t = probe_targets(&s.spec, None, &s.pods);
    assert_eq!(
        t.iter()
            .map(|t| (t.pod.as_str(), t.path.as_str()))
            .collect::<Vec<_>>(),
        vec![("orders-1", "/health")]
    );
}
