//! Table tests of the failover-readiness verdict and its schedule.

use super::*;

fn cand(pod: &str, node: &str) -> Candidate {
    Candidate {
        pod: pod.into(),
        node: node.into(),
        ip: Some("10.0.10.11".parse().unwrap()),
    }
}

fn ens3() -> AgentFacts {
    AgentFacts::Alive(vec![AgentInterface {
        name: "ens3".into(),
        networks: vec!["10.0.10.11/24".into()],
    }])
}

fn healthy(pod: &str, node: &str) -> NodeFacts {
    NodeFacts {
        candidate: cand(pod, node),
        node_exists: true,
        provider_id: Some(format!("ocid1.instance.oc1..{node}")),
        vnic: Some(Ok(format!("ocid1.vnic.oc1..{node}"))),
        agent: ens3(),
        rest: Ok(()),
        rest_url: format!("http://10.0.10.11:8008/primary#{pod}"),
    }
}

fn cloud_err(category: &'static str, transient: bool) -> CloudError {
    CloudError {
        category,
        message: format!("{category} message"),
        transient,
        opc_request_id: Some("req-1".into()),
    }
}

fn facts(nodes: Vec<NodeFacts>) -> Facts {
    Facts {
        address: "10.0.10.200".parse().unwrap(),
        interface: None,
        subnet_id: "ocid1.subnet.oc1..db".into(),
        agent_namespace: "pgvip".into(),
        l2_only: false,
        permission: Some(Ok(())),
        nodes,
    }
}

#[test]
fn verdict_table() {
    type Tweak = fn(&mut Facts);
    let cases: Vec<(&str, Tweak, &str, &str, &[&str])> = vec![
        (
            "all good",
            |_| {},
            TRUE,
            reason::ALL_CANDIDATES_READY,
            &["2 candidate node(s)", "worker-1, worker-2", "may move"],
        ),
        (
            "no private IP yet",
            |f| f.permission = None,
            TRUE,
            reason::ALL_CANDIDATES_READY,
            &["proven by the first move"],
        ),
        (
            "L2 only",
            |f| {
                f.l2_only = true;
                f.permission = None;
                for n in &mut f.nodes {
                    n.provider_id = None;
                    n.vnic = None;
                }
            },
            TRUE,
            reason::ALL_CANDIDATES_READY,
            &["L2-only"],
        ),
        (
            "credentials rejected",
            |f| f.permission = Some(Err(cloud_err("auth", false))),
            FALSE,
            reason::CLOUD_CREDENTIALS_INVALID,
            &["auth message", "req-1"],
        ),
        (
            "update permission missing",
            |f| f.permission = Some(Err(cloud_err("permission", false))),
            FALSE,
            reason::CLOUD_PERMISSION_MISSING,
            &["moving the private IP: permission message"],
        ),
        (
            "no VNIC in subnet",
            |f| f.nodes[1].vnic = Some(Err(cloud_err("no_vnic_in_subnet", false))),
            FALSE,
            reason::NO_VNIC_IN_SUBNET,
            &[
                "node worker-2 (member pg-1)",
                "attach a secondary VNIC in subnet ocid1.subnet.oc1..db",
            ],
        ),
        (
            "no ENI in subnet (AWS)",
            |f| f.nodes[1].vnic = Some(Err(cloud_err("no_eni_in_subnet", false))),
            FALSE,
            reason::NO_VNIC_IN_SUBNET,
            &["node worker-2 (member pg-1)"],
        ),
        (
            "no providerID",
            |f| {
                f.nodes[1].provider_id = None;
                f.nodes[1].vnic = None;
            },
            FALSE,
            reason::NODE_WITHOUT_PROVIDER_ID,
            &["worker-2", "spec.providerID"],
        ),
        (
            "node object gone",
            |f| f.nodes[1].node_exists = false,
            FALSE,
            reason::NODE_NOT_FOUND,
            &["worker-2"],
        ),
        (
            "agent missing",
            |f| f.nodes[1].agent = AgentFacts::Missing,
            FALSE,
            reason::AGENT_NOT_RUNNING,
            &["Lease pgvip/pgvip-agent-worker-2 missing", "DaemonSet"],
        ),
        (
            "agent stale",
            |f| f.nodes[0].agent = AgentFacts::Stale(95),
            FALSE,
            reason::AGENT_NOT_RUNNING,
            &["worker-1", "95s ago"],
        ),
        (
            "no interface for the VIP",
            |f| f.nodes[1].agent = AgentFacts::Alive(vec![]),
            FALSE,
            reason::INTERFACE_MISSING,
            &[
                "worker-2",
                "no interface has a network containing 10.0.10.200",
            ],
        ),
        (
            "named interface missing",
            |f| f.interface = Some("bond0".into()),
            FALSE,
            reason::INTERFACE_MISSING,
            &["bond0"],
        ),
        (
            "REST unreachable",
            |f| f.nodes[1].rest = Err("connection refused".into()),
            FALSE,
            reason::REST_UNREACHABLE,
            &["pg-1", "connection refused", "NetworkPolicies"],
        ),
        (
            "only throttled: unknown",
            |f| f.permission = Some(Err(cloud_err("throttled", true))),
            UNKNOWN,
            reason::CHECK_FAILED,
            &["throttled message"],
        ),
        (
            "throttled plus a real problem: false, the real reason",
            |f| {
                f.permission = Some(Err(cloud_err("throttled", true)));
                f.nodes[1].agent = AgentFacts::Missing;
            },
            FALSE,
            reason::AGENT_NOT_RUNNING,
            &["throttled message", "worker-2"],
        ),
        (
            "several problems: the most fundamental names the reason, all are listed",
            |f| {
                f.nodes[0].rest = Err("timeout".into());
                f.nodes[1].vnic = Some(Err(cloud_err("no_vnic_in_subnet", false)));
                f.permission = Some(Err(cloud_err("permission", false)));
            },
            FALSE,
            reason::CLOUD_PERMISSION_MISSING,
            &["permission message", "no_vnic_in_subnet message", "timeout"],
        ),
        (
            "no candidates",
            |f| f.nodes.clear(),
            UNKNOWN,
            reason::NO_CANDIDATES,
            &["no member pod"],
        ),
    ];
    for (name, tweak, status, why, texts) in cases {
        let mut f = facts(vec![
            healthy("pg-0", "worker-1"),
            healthy("pg-1", "worker-2"),
        ]);
        tweak(&mut f);
        let v = judge(&f);
        assert_eq!((v.status, v.reason), (status, why), "{name}: {}", v.message);
        for t in texts {
            assert!(v.message.contains(t), "{name}: {:?} lacks {t:?}", v.message);
        }
    }
}

#[test]
fn schedule_runs_on_change_or_interval_and_never_twice_at_once() {
    let t0 = Instant::now();
    let iv = Duration::from_secs(300);
    let s = |secs| t0 + Duration::from_secs(secs);
    // (last, running, fp, now, due?)
    let cases = [
        (None, false, 1, s(0), Ok(())),
        (
            Some((1, t0)),
            false,
            1,
            s(10),
            Err(Duration::from_secs(290)),
        ),
        (Some((1, t0)), false, 2, s(10), Ok(())),
        (Some((1, t0)), false, 1, s(300), Ok(())),
        (Some((1, t0)), true, 2, s(400), Err(iv)),
    ];
    for (last, running, fp, now, want) in cases {
        assert_eq!(
            due(last, running, fp, now, iv),
            want,
            "{last:?} {running} {fp}"
        );
    }
    let sched = Schedule::new(iv);
    assert_eq!(sched.begin("a", 1, t0), Ok(()));
    assert_eq!(
        sched.begin("a", 2, t0),
        Err(Some(iv)),
        "one check at a time"
    );
    let v = Verdict {
        status: TRUE,
        reason: reason::ALL_CANDIDATES_READY,
        message: String::new(),
    };
    assert_eq!(sched.finish("a", v.clone()), None);
    assert_eq!(sched.verdict("a"), Some(v));
    assert_eq!(sched.begin("a", 2, t0), Ok(()), "member set changed");
    assert_eq!(Schedule::new(Duration::ZERO).begin("a", 1, t0), Err(None));
}

#[test]
fn fingerprint_ignores_order_but_not_membership() {
    let a = [cand("pg-0", "w1"), cand("pg-1", "w2")];
    let b = [cand("pg-1", "w2"), cand("pg-0", "w1")];
    let c = [cand("pg-0", "w1"), cand("pg-1", "w3")];
    assert_eq!(fingerprint(Some(1), &a), fingerprint(Some(1), &b));
    assert_ne!(fingerprint(Some(1), &a), fingerprint(Some(1), &c));
    assert_ne!(fingerprint(Some(1), &a), fingerprint(Some(2), &a));
}
