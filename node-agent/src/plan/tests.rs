use super::*;
use crate::model::{ReportState, VipKey};
use crate::test_support::{addr, link, owned};

const NODE: &str = "w1";
const AT1: &str = "2025-05-01T10:00:00.000Z";
const AT2: &str = "2025-05-01T10:05:00.000Z";

/// eth0 (2) in 10.0.1.0/24 and fd00::/64, eth1 (3) in 10.0.2.0/24.
fn net(extra: &[IfAddr]) -> NetState {
    let mut addrs = vec![
        addr(2, "10.0.1.5", 24, None),
        addr(2, "fd00::5", 64, None),
        addr(3, "10.0.2.5", 24, None),
    ];
    addrs.extend_from_slice(extra);
    NetState {
        links: vec![link(1, "lo"), link(2, "eth0"), link(3, "eth1")],
        addrs,
    }
}

fn vip(address: &str, desired: Option<&str>, assigned: Option<&str>, at: Option<&str>) -> VipView {
    VipView {
        key: VipKey {
            namespace: "db".into(),
            name: "orders-rw".into(),
        },
        address: address.parse().map_err(|_| address.to_string()),
        desired_node: desired.map(Into::into),
        assigned_node: assigned.map(Into::into),
        assigned_at: at.map(Into::into),
        garp_count: 3,
        garp_interval: Duration::from_millis(500),
        interface: None,
        reported: None,
        cloud_failure: None,
        drain_node: None,
        local_primary_url: None,
    }
}

/// Compact rendering of a plan for table comparison.
fn render(p: &Plan) -> Vec<String> {
    let mut out: Vec<String> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::Remove(a) => format!("remove {} @{}", a.address, a.index),
            Action::Add { link, address } => format!("add {address} @{}", link.name),
            Action::AnnounceWhileMoving { link, address } => {
                format!("announce {address} @{} while moving", link.name)
            }
            Action::Announce {
                link,
                address,
                assigned_at,
                count,
                ..
            } => format!(
                "announce {address} @{} for {assigned_at} x{count}",
                link.name
            ),
        })
        .collect();
    if let Some(e) = &p.error {
        out.push(format!("error {}", e.category()));
    }
    out
}

fn run(
    v: Option<&VipView>,
    prev: Option<&str>,
    net: &NetState,
    keep: &[&str],
    last: Option<&str>,
) -> Vec<String> {
    let keep: BTreeSet<IpAddr> = keep.iter().map(|k| k.parse().unwrap()).collect();
    render(&plan(&PlanInput {
        node: NODE,
        vip: v,
        previous_address: prev.map(|p| p.parse().unwrap()),
        net,
        keep: &keep,
        last_announced: last,
        reserved: &BTreeMap::new(),
    }))
}

#[test]
fn decision_table() {
    let empty = net(&[]);
    let held = net(&[owned(2, "10.0.1.100")]);
    let held_elsewhere = net(&[owned(3, "10.0.1.100")]);
    let foreign = net(&[addr(2, "10.0.1.100", 32, None)]);
    let held_v6 = net(&[owned(2, "fd00::64")]);

    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "desired here, nothing present: add, announce while the move is under way",
            run(
                Some(&vip("10.0.1.100", Some(NODE), Some("w2"), Some(AT1))),
                None,
                &empty,
                &[],
                None,
            ),
            vec![
                "add 10.0.1.100 @eth0",
                "announce 10.0.1.100 @eth0 while moving",
            ],
        ),
        (
            "desired and assigned here: add and announce",
            run(
                Some(&vip("10.0.1.100", Some(NODE), Some(NODE), Some(AT1))),
                None,
                &empty,
                &[],
                None,
            ),
            vec![
                "add 10.0.1.100 @eth0",
                "announce 10.0.1.100 @eth0 for 2025-05-01T10:00:00.000Z x3",
            ],
        ),
        (
            "already held and announced for this assignment: nothing",
            run(
                Some(&vip("10.0.1.100", Some(NODE), Some(NODE), Some(AT1))),
                None,
                &held,
                &[],
                Some(AT1),
            ),
            vec![],
        ),
        (
            "a move back (new assignedAt) announces again",
            run(
                Some(&vip("10.0.1.100", Some(NODE), Some(NODE), Some(AT2))),
                None,
                &held,
                &[],
                Some(AT1),
            ),
            vec!["announce 10.0.1.100 @eth0 for 2025-05-01T10:05:00.000Z x3"],
        ),
        (
            "assigned here but no assignedAt yet: no announce",
            run(
                Some(&vip("10.0.1.100", Some(NODE), Some(NODE), None)),
                None,
                &held,
                &[],
                None,
            ),
            vec![],
        ),
        (
            "desired elsewhere: remove",
            run(
                Some(&vip("10.0.1.100", Some("w2"), Some(NODE), Some(AT1))),
                None,
                &held,
                &[],
                Some(AT1),
            ),
            vec!["remove 10.0.1.100 @2"],
        ),
        (
            "desired absent: remove (fail closed)",
            run(
                Some(&vip("10.0.1.100", None, Some(NODE), Some(AT1))),
                None,
                &held,
                &[],
                None,
            ),
            vec!["remove 10.0.1.100 @2"],
        ),
        (
            "desired elsewhere, nothing held: nothing",
            run(
                Some(&vip("10.0.1.100", Some("w2"), None, None)),
                None,
                &empty,
                &[],
                None,
            ),
            vec![],
        ),
        (
            "deleted VIP: remove its last address",
            run(None, Some("10.0.1.100"), &held, &[], None),
            vec!["remove 10.0.1.100 @2"],
        ),
        (
            "spec.address changed: remove the old one, add the new one",
            run(
                Some(&vip("10.0.1.101", Some(NODE), None, None)),
                Some("10.0.1.100"),
                &held,
                &[],
                None,
            ),
            vec![
                "remove 10.0.1.100 @2",
                "add 10.0.1.101 @eth0",
                "announce 10.0.1.101 @eth0 while moving",
            ],
        ),
        (
            "held on the wrong interface: move it",
            run(
                Some(&vip("10.0.1.100", Some(NODE), None, None)),
                None,
                &held_elsewhere,
                &[],
                None,
            ),
            vec![
                "remove 10.0.1.100 @3",
                "add 10.0.1.100 @eth0",
                "announce 10.0.1.100 @eth0 while moving",
            ],
        ),
        (
            "a foreign copy (no mark) is never removed",
            run(
                Some(&vip("10.0.1.100", Some("w2"), None, None)),
                None,
                &foreign,
                &[],
                None,
            ),
            vec![],
        ),
        (
            "a foreign copy does not count as ours: add (EEXIST is success)",
            run(
                Some(&vip("10.0.1.100", Some(NODE), None, None)),
                None,
                &foreign,
                &[],
                None,
            ),
            vec![
                "add 10.0.1.100 @eth0",
                "announce 10.0.1.100 @eth0 while moving",
            ],
        ),
        (
            "another VIP wants the same address here: keep it",
            run(
                Some(&vip("10.0.1.100", Some("w2"), None, None)),
                None,
                &held,
                &["10.0.1.100"],
                None,
            ),
            vec![],
        ),
        (
            "no connected subnet: error, no action",
            run(
                Some(&vip("10.9.9.9", Some(NODE), Some(NODE), Some(AT1))),
                None,
                &empty,
                &[],
                None,
            ),
            vec!["error no_interface"],
        ),
        (
            "invalid address: error, no action",
            run(
                Some(&vip("not-an-ip", Some(NODE), None, None)),
                None,
                &empty,
                &[],
                None,
            ),
            vec!["error invalid_address"],
        ),
        (
            "IPv6: add and announce",
            run(
                Some(&vip("fd00::64", Some(NODE), Some(NODE), Some(AT1))),
                None,
                &empty,
                &[],
                None,
            ),
            vec![
                "add fd00::64 @eth0",
                "announce fd00::64 @eth0 for 2025-05-01T10:00:00.000Z x3",
            ],
        ),
        (
            "IPv6: desired elsewhere, remove",
            run(
                Some(&vip("fd00::64", Some("w2"), None, None)),
                None,
                &held_v6,
                &[],
                None,
            ),
            vec!["remove fd00::64 @2"],
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn explicit_interface_wins_and_must_exist() {
    let mut v = vip("10.0.1.100", Some(NODE), None, None);
    v.interface = Some("eth1".into());
    assert_eq!(
        run(Some(&v), None, &net(&[]), &[], None),
        [
            "add 10.0.1.100 @eth1",
            "announce 10.0.1.100 @eth1 while moving"
        ]
    );
    v.interface = Some("bond0".into());
    assert_eq!(
        run(Some(&v), None, &net(&[owned(2, "10.0.1.100")]), &[], None),
        ["error interface_not_found"],
        "an unknown interface leaves the held address alone"
    );
}

#[test]
fn wanted_and_interface_fields() {
    let keep = BTreeSet::new();
    let n = net(&[]);
    let v = vip("10.0.1.100", Some(NODE), None, None);
    let p = plan(&PlanInput {
        node: NODE,
        vip: Some(&v),
        previous_address: None,
        net: &n,
        keep: &keep,
        last_announced: None,
        reserved: &BTreeMap::new(),
    });
    assert!(p.wanted);
    assert_eq!(p.interface.as_deref(), Some("eth0"));
    let v = vip("10.0.1.100", Some("w2"), None, None);
    let p = plan(&PlanInput {
        vip: Some(&v),
        ..PlanInput {
            node: NODE,
            vip: None,
            previous_address: None,
            net: &n,
            keep: &keep,
            last_announced: None,
            reserved: &BTreeMap::new(),
        }
    });
    assert!(!p.wanted);
    assert_eq!(p.interface, None);
}

#[test]
fn seeding_the_announced_value() {
    let mut v = vip("10.0.1.100", Some(NODE), Some(NODE), Some(AT1));
    assert_eq!(seed_announced(&v, true), None);
    v.reported = Some(ReportState {
        address_configured: true,
        announced_for: Some(AT1.into()),
        announced_at: Some("2025-05-01T10:00:00.020Z".into()),
        ..Default::default()
    });
    assert_eq!(
        seed_announced(&v, true),
        Some((AT1.to_string(), "2025-05-01T10:00:00.020Z".to_string()))
    );
    assert_eq!(
        seed_announced(&v, false),
        None,
        "address lost: announce again"
    );
}

#[test]
fn orphans_are_owned_addresses_of_no_known_vip() {
    let n = net(&[
        owned(2, "10.0.1.100"),
        owned(2, "10.0.1.101"),
        addr(2, "10.0.1.102", 32, None),
    ]);
    let known: BTreeSet<IpAddr> = ["10.0.1.100".parse().unwrap()].into();
    let got: Vec<String> = orphans(&n, &known)
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    assert_eq!(got, ["10.0.1.101"]);
}

#[test]
fn the_desired_node_holds_nothing_that_is_in_use_or_withheld() {
    let mine = owned(2, "10.0.1.100");
    let n = net(std::slice::from_ref(&mine));
    let keep = BTreeSet::new();
    let reserved: BTreeMap<IpAddr, String> = [
        (
            "10.0.1.100".parse().unwrap(),
            "node w3's InternalIP".to_string(),
        ),
        ("fd00::64".parse().unwrap(), "pod db/x's IP".to_string()),
    ]
    .into();
    let mut failed = vip("10.0.1.100", Some(NODE), Some("w2"), Some(AT1));
    failed.cloud_failure = Some("moving the address to w1 failed".into());
    let mut reconfirm = failed.clone();
    reconfirm.assigned_node = Some(NODE.into());
    let plain = vip("10.0.1.100", Some(NODE), Some(NODE), Some(AT1));
    let v6 = vip("fd00:0::64", Some(NODE), Some(NODE), Some(AT1));
    let none = BTreeMap::new();
    // (vip, reserved, expected rendering, wanted)
    type Case<'a> = (
        &'a VipView,
        &'a BTreeMap<IpAddr, String>,
        Vec<&'a str>,
        bool,
    );
    let cases: [Case; 5] = [
        (
            &plain,
            &reserved,
            vec!["remove 10.0.1.100 @2", "error address_in_use"],
            false,
        ),
        (&v6, &reserved, vec!["error address_in_use"], false), // canonical form matches
        (
            &failed,
            &none,
            vec!["remove 10.0.1.100 @2", "error withheld"],
            false,
        ),
        // A failed re-confirmation of an assignment already here keeps the address.
        (
            &reconfirm,
            &none,
            vec!["announce 10.0.1.100 @eth0 for 2025-05-01T10:00:00.000Z x3"],
            true,
        ),
        (
            &plain,
            &none,
            vec!["announce 10.0.1.100 @eth0 for 2025-05-01T10:00:00.000Z x3"],
            true,
        ),
    ];
    for (i, (v, r, want, wanted)) in cases.into_iter().enumerate() {
        let p = plan(&PlanInput {
            node: NODE,
            vip: Some(v),
            previous_address: None,
            net: &n,
            keep: &keep,
            last_announced: None,
            reserved: r,
        });
        assert_eq!(render(&p), want, "case {i}");
        assert_eq!(p.wanted, wanted, "case {i}");
    }
}

#[test]
fn a_demoted_previous_holder_keeps_the_address_until_the_move_is_done() {
    let held = net(&[owned(2, "10.0.1.100")]);
    let drain = |assigned: &str, failure: bool| {
        let mut v = vip("10.0.1.100", Some("w2"), Some(assigned), Some(AT1));
        v.drain_node = Some(NODE.into());
        v.cloud_failure = failure.then(|| "moving the address to w2 failed".to_string());
        v
    };
    let cases = [
        (
            "draining, cloud still here: keep, announce nothing",
            drain(NODE, false),
            vec![],
        ),
        (
            "the cloud moved it away: remove",
            drain("w2", false),
            vec!["remove 10.0.1.100 @2"],
        ),
        (
            "the move failed: remove (fail closed)",
            drain(NODE, true),
            vec!["remove 10.0.1.100 @2"],
        ),
    ];
    for (what, v, want) in cases {
        assert_eq!(run(Some(&v), None, &held, &[], None), want, "{what}");
    }
    // Nothing to keep is nothing to add either.
    assert!(run(Some(&drain(NODE, false)), None, &net(&[]), &[], None).is_empty());
}

#[test]
fn fence_follows_where_the_cloud_routes_and_who_holds() {
    let none = BTreeSet::new();
    let no_reserved = BTreeMap::new();
    let a: IpAddr = "10.0.1.100".parse().unwrap();
    let drain = |mut v: VipView| {
        v.drain_node = Some(NODE.into());
        v
    };
    let failed = |mut v: VipView| {
        v.cloud_failure = Some("refused".into());
        v
    };
    // (view, expected)
    let cases = [
        // No confirmed leader, the cloud still routes here: raise.
        (
            vip("10.0.1.100", None, Some(NODE), None),
            Some(FenceWant::Raise),
        ),
        // The leader moved, the cloud move is under way: raise.
        (
            vip("10.0.1.100", Some("w2"), Some(NODE), None),
            Some(FenceWant::Raise),
        ),
        // A failed move to w2 leaves the address routed here: still raise.
        (
            failed(vip("10.0.1.100", Some("w2"), Some(NODE), None)),
            Some(FenceWant::Raise),
        ),
        // Draining keeps the address here (its Postgres refuses writes): no fence.
        (
            drain(vip("10.0.1.100", Some("w2"), Some(NODE), None)),
            Some(FenceWant::Lift),
        ),
        // This node holds or will hold it: lift at once.
        (
            vip("10.0.1.100", Some(NODE), Some(NODE), Some(AT1)),
            Some(FenceWant::Lift),
        ),
        (
            vip("10.0.1.100", Some(NODE), Some("w2"), None),
            Some(FenceWant::Lift),
        ),
        // The cloud routes it elsewhere (or nowhere): let a fence lapse.
        (
            vip("10.0.1.100", Some("w2"), Some("w2"), None),
            Some(FenceWant::Lapse),
        ),
        (vip("10.0.1.100", None, None, None), Some(FenceWant::Lapse)),
        // Not an address: nothing to fence.
        (vip("not-an-ip", None, Some(NODE), None), None),
    ];
    for (v, want) in cases {
        let got = fence_for(Some(&v), NODE, &none, &no_reserved).map(|(_, w)| w);
        assert_eq!(got, want, "{v:?}");
    }
    assert_eq!(fence_for(None, NODE, &none, &no_reserved), None);
    // An address a pod uses, or another VIP wants here, is never fenced.
    let routed_here = vip("10.0.1.100", None, Some(NODE), None);
    let reserved = BTreeMap::from([(a, "pod db/x".to_string())]);
    assert_eq!(
        fence_for(Some(&routed_here), NODE, &none, &reserved),
        Some((a, FenceWant::Lift))
    );
    let keep = BTreeSet::from([a]);
    assert_eq!(
        fence_for(Some(&routed_here), NODE, &keep, &no_reserved),
        Some((a, FenceWant::Lift))
    );
}
