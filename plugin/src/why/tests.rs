//! Table tests of `why` against the real embedded guide.
use crate::fixtures::*;

use super::*;

fn doc_fix(cond: &str, reason: &str) -> String {
    Doc::embedded()
        .reason(cond, reason)
        .and_then(|e| e.row.fix())
        .unwrap_or_else(|| panic!("{cond}/{reason} has no fix"))
}

#[test]
fn all_true_says_so() {
    let d = diagnose(&ready_vip(), Doc::embedded());
    assert!(d.all_true);
    assert_eq!(
        d.text,
        "db/orders-rw: all 6 conditions are True (Ready, LeaderConfirmed, CloudAssigned, AddressConfigured, DataPathVerified, FailoverReady)\n"
    );
}

#[test]
fn unconfirmed_leader_gets_the_guides_fix() {
    let d = diagnose(&unconfirmed_vip(), Doc::embedded());
    assert!(!d.all_true);
    let t = &d.text;
    assert!(
        t.starts_with("db/ghost: 6 of 6 conditions not True\n"),
        "{t}"
    );
    // Ready points at its component instead of repeating the fix.
    assert!(t.contains("Ready: False (NoLeaderLock)\n  message: LeaderConfirmed: no ConfigMap no-such-cluster-leader in namespace db\n  fix: see LeaderConfirmed below"), "{t}");
    let leader = format!(
        "LeaderConfirmed: False (NoLeaderLock)\n  message: no ConfigMap no-such-cluster-leader in namespace db\n  fix: {}\n  see: docs/troubleshooting.md#condition-leaderconfirmed\n",
        doc_fix("LeaderConfirmed", "NoLeaderLock")
    );
    assert!(t.contains(&leader), "{t}");
    assert!(t.contains(&format!(
        "FailoverReady: Unknown (NoCandidates)\n  message: no member pod is bound to a node yet; nothing to check\n  fix: {}\n",
        doc_fix("FailoverReady", "NoCandidates")
    )), "{t}");
    // NoDesiredNode is listed under CloudAssigned and AddressConfigured, each with its fix.
    assert!(t.contains(&format!(
        "CloudAssigned: False (NoDesiredNode)\n  message: no member is confirmed\n  fix: {}\n",
        doc_fix("CloudAssigned", "NoDesiredNode")
    )));
    assert!(t.contains(&format!(
        "AddressConfigured: False (NoDesiredNode)\n  message: no node may hold the address\n  fix: {}\n",
        doc_fix("AddressConfigured", "NoDesiredNode")
    )));
    // Order: Ready, components in the guide's order, FailoverReady.
    let pos = |s: &str| t.find(&format!("\n{s}: ")).unwrap();
    assert!(pos("Ready") < pos("LeaderConfirmed"));
    assert!(pos("LeaderConfirmed") < pos("CloudAssigned"));
    assert!(pos("DataPathVerified") < pos("FailoverReady"));
}

#[test]
fn table_of_cases() {
    struct Case {
        name: &'static str,
        conds: Vec<Condition>,
        all_true: bool,
        contains: Vec<String>,
    }
    let ok = |t: &str| cond(t, "True", "Fine", "ok");
    let cases = vec![
        Case {
            name: "no status at all",
            conds: vec![],
            all_true: false,
            contains: vec![
                "2 of 2 conditions not True".into(),
                "Ready: not reported\n  the controller has not written this PostgresVip's status: is it running, and does it watch namespace db".into(),
                "FailoverReady: not reported".into(),
            ],
        },
        Case {
            name: "Ready alone: the failover check has not run",
            conds: vec![ok("Ready")],
            all_true: false,
            contains: vec!["FailoverReady: not reported\n  the failover-readiness check has not run yet, or is switched off (--readiness-interval-seconds=0)".into()],
        },
        Case {
            name: "Ready but a replica node lacks a VNIC",
            conds: vec![ok("Ready"), cond("FailoverReady", "False", "NoVnicInSubnet", "node worker-3 (member pg-2): no ATTACHED VNIC")],
            all_true: false,
            contains: vec![
                "1 of 2 conditions not True".into(),
                format!("FailoverReady: False (NoVnicInSubnet)\n  message: node worker-3 (member pg-2): no ATTACHED VNIC\n  fix: {}\n  see: docs/troubleshooting.md#condition-failoverready\n", doc_fix("FailoverReady", "NoVnicInSubnet")),
            ],
        },
        Case {
            name: "a cloud move failure gets its category's fix",
            conds: vec![
                cond("Ready", "False", "CloudMoveFailed", "CloudAssigned: moving the address to worker-2 failed (permission): 404 NotAuthorizedOrNotFound"),
                cond("CloudAssigned", "False", "CloudMoveFailed", "moving the address to worker-2 failed (permission): 404 NotAuthorizedOrNotFound"),
                ok("FailoverReady"),
            ],
            all_true: false,
            contains: vec![
                format!("  fix: {}\n", doc_fix("CloudAssigned", "CloudMoveFailed")),
                "  fix for category `permission` (OCI error categories): Add the statement (iam.md (docs/iam.md));".into(),
            ],
        },
        Case {
            name: "an agent error gets the agent-error row",
            conds: vec![
                cond("AddressConfigured", "False", "AgentError", "worker-2: no interface has a connected subnet containing 10.0.10.201; set spec.announce.interface"),
                ok("Ready"),
                ok("FailoverReady"),
            ],
            all_true: false,
            contains: vec!["  fix for error `no interface has a connected subnet containing <address>; set spec.announce.interface`: The node has no interface".into()],
        },
        Case {
            name: "a Ready reason whose component is True again",
            conds: vec![cond("Ready", "False", "AgentTimeout", "AddressConfigured: no report"), ok("AddressConfigured"), ok("FailoverReady")],
            all_true: false,
            contains: vec![format!("Ready: False (AgentTimeout)\n  message: AddressConfigured: no report\n  fix: {}\n  see: docs/troubleshooting.md#condition-addressconfigured\n", doc_fix("AddressConfigured", "AgentTimeout"))],
        },
        Case {
            name: "an undocumented reason says so",
            conds: vec![cond("Ready", "False", "SomethingNew", "LeaderConfirmed: odd"), cond("Custom", "False", "Weird", "custom message"), ok("FailoverReady")],
            all_true: false,
            contains: vec![
                "Ready: False (SomethingNew)\n  message: LeaderConfirmed: odd\n  fix: docs/troubleshooting.md has no section for reason SomethingNew; the message above is what the controller says\n".into(),
                "Custom: False (Weird)\n  message: custom message\n  fix: docs/troubleshooting.md has no section for reason Weird".into(),
            ],
        },
        Case {
            name: "other condition types count too",
            conds: vec![ok("Ready"), ok("FailoverReady"), ok("Custom")],
            all_true: true,
            contains: vec!["all 3 conditions are True (Ready, FailoverReady, Custom)".into()],
        },
    ];
    for c in cases {
        let mut v = unconfirmed_vip();
        v.status = Some(pgvip_api::PostgresVipStatus {
            conditions: c.conds,
            ..Default::default()
        });
        let d = diagnose(&v, Doc::embedded());
        assert_eq!(d.all_true, c.all_true, "{}: {}", c.name, d.text);
        for want in &c.contains {
            assert!(
                d.text.contains(want.as_str()),
                "{}: missing {want:?} in\n{}",
                c.name,
                d.text
            );
        }
    }
}

#[test]
fn stale_status_is_noted() {
    let mut v = ready_vip();
    v.metadata.generation = Some(3);
    let d = diagnose(&v, Doc::embedded());
    assert!(d.all_true);
    assert!(d
        .text
        .contains("note: the status describes generation 2, the spec is at 3"));
}
