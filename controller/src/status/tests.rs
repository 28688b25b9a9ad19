//! Status transitions and patch bodies.

use pgvip_api::{condition, NodeReport, PostgresVipStatus};

use super::*;
use crate::cloud::CloudAssignment;
use crate::conditions::{self, reason};
use crate::decide::{Decision, Member};

fn member(node: &str) -> Decision {
    Decision::Confirmed(Member {
        pod: format!("pg-{node}"),
        node: node.into(),
        pod_ip: "10.0.10.7".parse().unwrap(),
        provider_id: Some(format!("ocid1.instance..{node}")),
    })
}

fn report(node: &str, configured: bool, announced_for: Option<&str>) -> NodeReport {
    NodeReport {
        node: node.into(),
        address_configured: configured,
        announced_for: announced_for.map(str::to_string),
        updated_at: "2025-01-01T00:00:00Z".into(),
        ..NodeReport::default()
    }
}

fn facts(now: &str) -> Facts<'_> {
    Facts {
        silent_agents: &NO_SILENT_AGENTS,
        now,
        generation: Some(3),
        no_cloud: false,
        cloud_error: None,
        announce_timed_out: false,
        data_path: DataPath::NotChecked,
    }
}

fn cond<'a>(st: &'a PostgresVipStatus, t: &str) -> &'a pgvip_api::Condition {
    conditions::get(&st.conditions, t).unwrap_or_else(|| panic!("no {t}"))
}

fn assignment(vnic: &str, id: &str, created: bool) -> CloudAssignment {
    CloudAssignment {
        vnic_id: Some(vnic.into()),
        private_ip_id: Some(id.into()),
        created,
        changed: true,
        opc_request_ids: vec![],
    }
}

#[test]
fn patch_body_never_contains_nodes() {
    let st = PostgresVipStatus {
        desired_node: Some("n1".into()),
        nodes: vec![report("n1", true, Some("t"))],
        ..PostgresVipStatus::default()
    };
    let body = patch_body(&st).unwrap();
    assert_eq!(body["apiVersion"], "pgvip.dev/v1alpha1");
    assert_eq!(body["kind"], "PostgresVip");
    assert_eq!(body["status"]["desiredNode"], "n1");
    assert!(body["status"].get("nodes").is_none(), "{body}");
    let text = serde_json::to_string(&body).unwrap();
    assert!(!text.contains("\"nodes\""), "{text}");
}

#[test]
fn fail_closed_body_omits_desired_node_and_leader() {
    let prev = with_decision(
        &PostgresVipStatus::default(),
        &member("n1"),
        false,
        Some(1),
        "t0",
    );
    let lost = Decision::Unconfirmed {
        reason: reason::LEADER_LOCK_STALE,
        message: "stale".into(),
    };
    let st = with_decision(&prev, &lost, false, Some(1), "t1");
    let body = patch_body(&st).unwrap();
    assert!(
        body["status"].get("desiredNode").is_none(),
        "SSA drops the field when omitted: {body}"
    );
    assert!(body["status"].get("leader").is_none());
    assert_eq!(cond(&st, condition::LEADER_CONFIRMED).status, "False");
    assert_eq!(
        cond(&st, condition::LEADER_CONFIRMED).last_transition_time,
        "t1"
    );
}

#[test]
fn decision_sets_leader_and_desired_node_together() {
    let st = with_decision(
        &PostgresVipStatus::default(),
        &member("n2"),
        false,
        Some(4),
        "t0",
    );
    assert_eq!(st.desired_node.as_deref(), Some("n2"));
    let l = st.leader.as_ref().unwrap();
    assert_eq!(
        (l.pod.as_str(), l.node.as_str(), l.pod_ip.as_str()),
        ("pg-n2", "n2", "10.0.10.7")
    );
    assert_eq!(st.observed_generation, Some(4));
    let c = cond(&st, condition::LEADER_CONFIRMED);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", reason::LEADER_CONFIRMED)
    );
}

#[test]
fn hold_keeps_everything_but_the_reason() {
    let prev = with_decision(
        &PostgresVipStatus::default(),
        &member("n1"),
        false,
        Some(1),
        "t0",
    );
    let hold = Decision::Hold {
        reason: reason::CLUSTER_PAUSED,
        message: "paused".into(),
    };
    let st = with_decision(&prev, &hold, false, Some(1), "t5");
    assert_eq!(st.desired_node.as_deref(), Some("n1"));
    assert_eq!(st.leader, prev.leader);
    let c = cond(&st, condition::LEADER_CONFIRMED);
    assert_eq!(
        (
            c.status.as_str(),
            c.reason.as_str(),
            c.last_transition_time.as_str()
        ),
        ("True", reason::CLUSTER_PAUSED, "t0")
    );
}

#[test]
fn cloud_move_needed_until_assigned_to_desired() {
    let st = with_decision(
        &PostgresVipStatus::default(),
        &member("n1"),
        false,
        None,
        "t",
    );
    assert!(needs_cloud_move(&st));
    let st = with_assignment(
        &st,
        "n1",
        &assignment("vnic1", "pip1", true),
        "2025-01-01T00:00:00.123Z",
    );
    assert!(!needs_cloud_move(&st));
    let st = with_decision(&st, &member("n2"), false, None, "t");
    assert!(needs_cloud_move(&st));
    let none = with_decision(
        &st,
        &Decision::Unconfirmed {
            reason: "x",
            message: String::new(),
        },
        false,
        None,
        "t",
    );
    assert!(
        !needs_cloud_move(&none),
        "no desired node: the assignment stays where it is"
    );
    assert_eq!(none.assigned_node.as_deref(), Some("n1"));
}

#[test]
fn created_by_pgvip_survives_moves_of_the_same_private_ip() {
    let st = with_assignment(
        &PostgresVipStatus::default(),
        "n1",
        &assignment("v1", "pip1", true),
        "a1",
    );
    assert!(st.cloud.as_ref().unwrap().created_by_pgvip);
    let st = with_assignment(&st, "n2", &assignment("v2", "pip1", false), "a2");
    let c = st.cloud.as_ref().unwrap();
    assert!(c.created_by_pgvip);
    assert_eq!(c.assigned_at.as_deref(), Some("a2"));
    let st = with_assignment(&st, "n3", &assignment("v3", "pip9", false), "a3");
    assert!(
        !st.cloud.as_ref().unwrap().created_by_pgvip,
        "a different, pre-existing private IP is not ours"
    );
}

fn assigned(node: &str, at: &str) -> PostgresVipStatus {
    let st = with_decision(
        &PostgresVipStatus::default(),
        &member(node),
        false,
        Some(3),
        "t0",
    );
    with_assignment(&st, node, &assignment("vnic", "pip", true), at)
}

#[test]
fn announce_requires_matching_assigned_at_and_configured_address() {
    let st = assigned("n1", "A1");
    assert!(announced(&st, &[report("n1", true, Some("A1"))]));
    assert!(
        !announced(&st, &[report("n1", true, Some("A0"))]),
        "old announcement"
    );
    assert!(
        !announced(&st, &[report("n1", false, Some("A1"))]),
        "address removed since"
    );
    assert!(
        !announced(&st, &[report("n2", true, Some("A1"))]),
        "another node"
    );
}

#[test]
fn conditions_walk_through_a_failover() {
    // Decision published, cloud pending.
    let mut st = with_decision(
        &PostgresVipStatus::default(),
        &member("n1"),
        false,
        Some(3),
        "t0",
    );
    derive_conditions(&mut st, &[], &facts("t0"));
    assert_eq!(
        cond(&st, condition::CLOUD_ASSIGNED).reason,
        reason::MOVE_PENDING
    );
    assert_eq!(
        cond(&st, condition::ADDRESS_CONFIGURED).reason,
        reason::WAITING_FOR_CLOUD
    );
    assert_eq!(cond(&st, condition::READY).status, "False");

    // Cloud failure.
    let mut failed = st.clone();
    let f = Facts {
        cloud_error: Some(("permission", "add a policy".into())),
        ..facts("t1")
    };
    derive_conditions(&mut failed, &[], &f);
    let c = cond(&failed, condition::CLOUD_ASSIGNED);
    assert_eq!(c.reason, reason::CLOUD_MOVE_FAILED);
    assert!(c.message.contains("permission") && c.message.contains("add a policy"));
    assert_eq!(
        cond(&failed, condition::ADDRESS_CONFIGURED).reason,
        reason::ADDRESS_WITHHELD
    );
    // The failure stays until a move succeeds: a pass without a cloud call keeps it, so the
    // agents go on withholding the address between retries.
    let mut again = failed.clone();
    derive_conditions(&mut again, &[], &facts("t1b"));
    assert_eq!(
        cond(&again, condition::CLOUD_ASSIGNED).reason,
        reason::CLOUD_MOVE_FAILED
    );
    assert_eq!(
        cond(&again, condition::ADDRESS_CONFIGURED).reason,
        reason::ADDRESS_WITHHELD
    );

    // Assigned, waiting for the agent, then timing out.
    let mut st = with_assignment(&st, "n1", &assignment("vnic1", "pip", true), "A1");
    derive_conditions(&mut st, &[], &facts("t2"));
    assert_eq!(cond(&st, condition::CLOUD_ASSIGNED).status, "True");
    assert_eq!(
        cond(&st, condition::ADDRESS_CONFIGURED).reason,
        reason::WAITING_FOR_AGENT
    );
    let mut late = st.clone();
    derive_conditions(
        &mut late,
        &[],
        &Facts {
            announce_timed_out: true,
            ..facts("t3")
        },
    );
    assert_eq!(
        cond(&late, condition::ADDRESS_CONFIGURED).reason,
        reason::AGENT_TIMEOUT
    );
    let mut err = st.clone();
    let mut r = report("n1", false, None);
    r.last_error = Some("interface ens5 not found".into());
    derive_conditions(&mut err, &[r], &facts("t3"));
    assert_eq!(
        cond(&err, condition::ADDRESS_CONFIGURED).reason,
        reason::AGENT_ERROR
    );

    // Agent reports, data path verified: Ready.
    let nodes = [report("n1", true, Some("A1"))];
    derive_conditions(
        &mut st,
        &nodes,
        &Facts {
            data_path: DataPath::Verified,
            ..facts("t4")
        },
    );
    for t in [
        condition::CLOUD_ASSIGNED,
        condition::ADDRESS_CONFIGURED,
        condition::DATA_PATH_VERIFIED,
        condition::READY,
    ] {
        assert_eq!(cond(&st, t).status, "True", "{t}");
    }
    let ready_since = cond(&st, condition::READY).last_transition_time.clone();
    assert_eq!(ready_since, "t4");

    // A later pass that does not re-check keeps the verification and its transition time.
    derive_conditions(&mut st, &nodes, &facts("t9"));
    assert_eq!(cond(&st, condition::DATA_PATH_VERIFIED).status, "True");
    assert_eq!(
        cond(&st, condition::READY).last_transition_time,
        ready_since
    );

    // Verification fails: DataPathVerified and Ready go False.
    derive_conditions(
        &mut st,
        &nodes,
        &Facts {
            data_path: DataPath::Failed("reached pg-n0".into()),
            ..facts("t10")
        },
    );
    assert_eq!(
        cond(&st, condition::DATA_PATH_VERIFIED).reason,
        reason::VERIFICATION_FAILED
    );
    assert_eq!(cond(&st, condition::READY).status, "False");
}

#[test]
fn l2_only_mode_reports_no_cloud() {
    let st = with_decision(
        &PostgresVipStatus::default(),
        &member("n1"),
        false,
        None,
        "t",
    );
    let mut st = with_assignment(&st, "n1", &CloudAssignment::default(), "A1");
    derive_conditions(
        &mut st,
        &[],
        &Facts {
            no_cloud: true,
            ..facts("t")
        },
    );
    let c = cond(&st, condition::CLOUD_ASSIGNED);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", reason::NO_CLOUD)
    );
}

#[test]
fn no_desired_node_fails_closed_everywhere() {
    let prev = assigned("n1", "A1");
    let mut st = with_decision(
        &prev,
        &Decision::Unconfirmed {
            reason: reason::MULTIPLE_PRIMARIES,
            message: "two".into(),
        },
        false,
        None,
        "t1",
    );
    derive_conditions(&mut st, &[report("n1", true, Some("A1"))], &facts("t1"));
    assert_eq!(
        cond(&st, condition::CLOUD_ASSIGNED).reason,
        reason::NO_DESIRED_NODE
    );
    assert!(cond(&st, condition::CLOUD_ASSIGNED)
        .message
        .contains("stays on n1"));
    assert_eq!(cond(&st, condition::ADDRESS_CONFIGURED).status, "False");
    assert_eq!(
        cond(&st, condition::READY).reason,
        reason::MULTIPLE_PRIMARIES
    );
}

#[test]
fn differs_ignores_agent_entries() {
    let a = assigned("n1", "A1");
    let mut b = a.clone();
    b.nodes.push(report("n1", true, Some("A1")));
    assert!(!differs(Some(&a), &b));
    assert!(differs(None, &a));
}

#[test]
fn write_cache_keeps_our_fields_and_takes_agent_entries() {
    let c = WriteCache::default();
    let mut old = assigned("n1", "A1");
    old.nodes.push(report("n1", true, Some("A1")));
    assert_eq!(
        c.base("ns/v", &old),
        old,
        "nothing written yet: the snapshot"
    );
    let written = assigned("n2", "A2");
    c.record("ns/v", &written);
    // A snapshot newer than our write by resourceVersion (an agent reported in between) but
    // still without our write: our fields win, the agent's entries are kept.
    let base = c.base("ns/v", &old);
    assert_eq!(
        base.assigned_node.as_deref(),
        Some("n2"),
        "stale snapshot: start from our write"
    );
    assert_eq!(
        base.cloud, written.cloud,
        "no second assignedAt, no lost createdByPgvip"
    );
    assert_eq!(
        base.nodes, old.nodes,
        "agent entries still come from the snapshot"
    );
    c.forget("ns/v");
    assert_eq!(
        c.base("ns/v", &old).assigned_node.as_deref(),
        Some("n1"),
        "forgotten on deletion"
    );
}

#[test]
fn a_new_term_confirms_the_cloud_before_trusting_the_status() {
    let c = WriteCache::default();
    assert!(
        !c.confirmed("ns/v", Some("n2")),
        "nothing written in this term"
    );
    assert!(
        c.confirmed("ns/v", None),
        "no desired node: nothing to confirm"
    );
    c.record("ns/v", &assigned("n2", "A2"));
    assert!(
        !c.confirmed("ns/v", Some("n2")),
        "an inherited assignment is not a confirmation"
    );
    c.confirm("ns/v", "n2");
    assert!(c.confirmed("ns/v", Some("n2")));
    assert!(!c.confirmed("ns/v", Some("n3")), "desired node changed");
}

#[test]
fn address_configured_states_what_the_agents_report_is_on_their_nodes() {
    let pending = with_decision(
        &PostgresVipStatus::default(),
        &member("n1"),
        false,
        Some(3),
        "t0",
    );
    let done = assigned("n1", "A1");
    let mut failed = pending.clone();
    derive_conditions(
        &mut failed,
        &[],
        &Facts {
            cloud_error: Some(("invalid_parameter", "not in the subnet".into())),
            ..facts("t1")
        },
    );
    let none = with_decision(
        &done,
        &crate::decide::Decision::Unconfirmed {
            reason: reason::NO_LEADER_LOCK,
            message: "x".into(),
        },
        false,
        Some(3),
        "t2",
    );
    let here = report("n1", true, Some("A1"));
    let here_unannounced = report("n1", true, None);
    let there = report("n2", true, Some("A0"));
    // (status, reports, status, reason, message contains)
    let cases: Vec<(&PostgresVipStatus, Vec<NodeReport>, &str, &str, &str)> = vec![
        (
            &done,
            vec![here.clone()],
            "True",
            reason::ANNOUNCED,
            "configured and announced",
        ),
        (
            &done,
            vec![here.clone(), there.clone()],
            "False",
            reason::CONFIGURED_ELSEWHERE,
            "n2",
        ),
        (
            &done,
            vec![],
            "False",
            reason::WAITING_FOR_AGENT,
            "not configured on n1",
        ),
        (
            &done,
            vec![here_unannounced.clone()],
            "False",
            reason::WAITING_FOR_AGENT,
            "is configured on n1",
        ),
        (
            &pending,
            vec![here_unannounced.clone()],
            "False",
            reason::WAITING_FOR_CLOUD,
            "is configured on n1",
        ),
        (
            &pending,
            vec![],
            "False",
            reason::WAITING_FOR_CLOUD,
            "not configured on n1",
        ),
        (
            &failed,
            vec![],
            "False",
            reason::ADDRESS_WITHHELD,
            "configured on no node",
        ),
        (
            &failed,
            vec![here_unannounced.clone()],
            "False",
            reason::ADDRESS_WITHHELD,
            "still configured on n1",
        ),
        (
            &none,
            vec![],
            "False",
            reason::NO_DESIRED_NODE,
            "no agent reports it",
        ),
        (
            &none,
            vec![here.clone()],
            "False",
            reason::CONFIGURED_ELSEWHERE,
            "n1",
        ),
    ];
    for (i, (st, nodes, want_status, want_reason, want_msg)) in cases.into_iter().enumerate() {
        let mut st = st.clone();
        derive_conditions(&mut st, &nodes, &facts("t3"));
        let c = cond(&st, condition::ADDRESS_CONFIGURED);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            (want_status, want_reason),
            "case {i}: {}",
            c.message
        );
        assert!(c.message.contains(want_msg), "case {i}: {}", c.message);
    }
}

#[test]
fn a_demoted_previous_holder_drains_during_the_handover() {
    use crate::decide::{PodView, ProbeOutcome};
    use std::collections::BTreeMap;
    use std::time::Duration;
    let on_n1 = assigned("n1", "A1"); // assigned to n1
    let (to_n2, stay) = (member("n2"), member("n1"));
    let no_leader = Decision::Unconfirmed {
        reason: reason::NO_LEADER_LOCK,
        message: "x".into(),
    };
    let hold = Decision::Hold {
        reason: reason::CLUSTER_PAUSED,
        message: "x".into(),
    };
    let pod = |name: &str, node: &str| PodView {
        name: name.into(),
        node: Some(node.into()),
        ..PodView::default()
    };
    let pods = [pod("pg-n1", "n1"), pod("pg-n2", "n2")];
    let answer = |s: u16| ProbeOutcome::Answered {
        status: s,
        body: None,
    };
    let probes = |old: Option<ProbeOutcome>| -> BTreeMap<String, ProbeOutcome> {
        let mut m: BTreeMap<String, ProbeOutcome> = [("pg-n2".to_string(), answer(200))].into();
        if let Some(o) = old {
            m.insert("pg-n1".into(), o);
        }
        m
    };
    let fresh = Some(Duration::from_millis(40));
    let moved = with_assignment(
        &with_decision(&on_n1, &to_n2, false, Some(3), "t1"),
        "n2",
        &assignment("v2", "pip", false),
        "A2",
    );
    // (decision, replica VIP, previous, old member's answer, lock changed ago, drain)
    type Case<'a> = (
        &'a Decision,
        bool,
        &'a PostgresVipStatus,
        Option<ProbeOutcome>,
        Option<Duration>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (&to_n2, false, &on_n1, Some(answer(503)), fresh, Some("n1")), // proven demoted
        (
            &no_leader,
            false,
            &on_n1,
            Some(answer(503)),
            fresh,
            Some("n1"),
        ), // lock released, none taken yet
        (&to_n2, false, &on_n1, Some(answer(200)), fresh, None),       // still claims primary
        (
            &to_n2,
            false,
            &on_n1,
            Some(ProbeOutcome::Failed("refused".into())),
            fresh,
            None,
        ), // may be a cut-off primary
        (&to_n2, false, &on_n1, None, fresh, None),                    // not asked
        (&to_n2, true, &on_n1, Some(answer(503)), fresh, None),        // replica VIPs never drain
        (&stay, false, &on_n1, Some(answer(503)), fresh, None),        // no move
        (&hold, false, &on_n1, Some(answer(503)), fresh, None),        // paused
        (
            &no_leader,
            false,
            &on_n1,
            Some(answer(503)),
            Some(Duration::from_secs(16)),
            None,
        ), // not a fresh handover
        (&no_leader, false, &on_n1, Some(answer(503)), None, None),
        (&to_n2, false, &moved, Some(answer(503)), fresh, None), // the move is done
    ];
    for (i, (d, replica, prev, old, ago, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            drain_node(prev, d, replica, &pods, &probes(old), ago).as_deref(),
            want,
            "case {i}"
        );
    }
    assert_eq!(moved.drain_node, None, "an assignment ends the drain");
    let mut draining = on_n1.clone();
    draining.drain_node = Some("n1".into());
    let lost = with_decision(&draining, &no_leader, false, Some(3), "t2");
    assert_eq!(
        lost.drain_node, None,
        "only drain_node sets it, pass by pass"
    );
}

#[test]
fn a_silent_agent_does_not_hold_address_configured_back() {
    let done = assigned("n1", "A1");
    let nodes = [
        report("n1", true, Some("A1")),
        report("n2", true, Some("A0")),
    ];
    let silent: std::collections::BTreeSet<String> = ["n2".to_string()].into();
    let mut st = done.clone();
    derive_conditions(
        &mut st,
        &nodes,
        &Facts {
            silent_agents: &silent,
            ..facts("t1")
        },
    );
    let c = cond(&st, condition::ADDRESS_CONFIGURED);
    assert_eq!(c.status, "True", "{}", c.message);
    assert!(c.message.contains("n2 is silent"), "{}", c.message);
    let mut live = done.clone();
    derive_conditions(&mut live, &nodes, &facts("t1"));
    assert_eq!(
        cond(&live, condition::ADDRESS_CONFIGURED).reason,
        reason::CONFIGURED_ELSEWHERE
    );
}
