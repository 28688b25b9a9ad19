//! Table tests of the EC2 rules on the example inventory: n1, n2 in 10.0.10.0/24, n3 in
//! 10.0.20.0/24, VIP 10.0.10.200 on n1.

use std::time::{Duration, Instant};

use super::*;
use crate::aws::inventory::{example_eni, AwsInventory};
use crate::aws::query::Filter;

fn st() -> AwsState {
    AwsState::from_inventory(&AwsInventory::example()).unwrap()
}

fn req(ips: &[&str], allow: bool) -> AssignRequest {
    AssignRequest {
        addresses: ips.iter().map(|s| s.to_string()).collect(),
        count: None,
        allow_reassignment: allow,
    }
}

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 10, 200);
const DELAY: Duration = Duration::from_millis(30);

#[test]
fn assign_rules_table() {
    let (n1, n2, n3) = (example_eni(1), example_eni(2), example_eni(3));
    // (case, eni, request, expected error code or None)
    let table: Vec<(&str, String, AssignRequest, Option<&str>)> = vec![
        (
            "outside the subnet",
            n1.clone(),
            req(&["10.0.20.50"], false),
            Some("InvalidParameterValue"),
        ),
        (
            "other subnet's interface",
            n3.clone(),
            req(&["10.0.10.200"], true),
            Some("InvalidParameterValue"),
        ),
        (
            "reserved router address",
            n1.clone(),
            req(&["10.0.10.1"], false),
            Some("InvalidParameterValue"),
        ),
        (
            "broadcast",
            n1.clone(),
            req(&["10.0.10.255"], false),
            Some("InvalidParameterValue"),
        ),
        (
            "own primary",
            n1.clone(),
            req(&["10.0.10.11"], false),
            Some("InvalidParameterValue"),
        ),
        (
            "another primary",
            n1.clone(),
            req(&["10.0.10.12"], true),
            Some("InvalidIPAddress.InUse"),
        ),
        (
            "held elsewhere, no reassignment",
            n2.clone(),
            req(&["10.0.10.200"], false),
            Some("InvalidIPAddress.InUse"),
        ),
        (
            "not an address",
            n1.clone(),
            req(&["10.0.10.x"], false),
            Some("InvalidParameterValue"),
        ),
        (
            "unknown ENI",
            "eni-0000000000000dead".into(),
            req(&["10.0.10.50"], false),
            Some("InvalidNetworkInterfaceID.NotFound"),
        ),
        (
            "nothing asked",
            n1.clone(),
            req(&[], false),
            Some("MissingParameter"),
        ),
        (
            "both forms",
            n1.clone(),
            AssignRequest {
                count: Some(1),
                ..req(&["10.0.10.50"], false)
            },
            Some("InvalidParameterCombination"),
        ),
        (
            "again on the holder",
            n1.clone(),
            req(&["10.0.10.200"], false),
            None,
        ),
        ("new address", n2.clone(), req(&["10.0.10.50"], false), None),
    ];
    for (name, eni, r, want) in table {
        let mut s = st();
        let before = s.assignments(Instant::now());
        let got = s.assign(&eni, &r, Instant::now(), DELAY);
        assert_eq!(
            got.as_ref().err().map(|e| e.code.as_str()),
            want,
            "{name}: {got:?}"
        );
        if want.is_some() {
            assert_eq!(
                s.assignments(Instant::now()),
                before,
                "{name}: state changed on error"
            );
        }
    }
}

#[test]
fn reassignment_is_visible_after_the_remap_delay() {
    let mut s = st();
    let t0 = Instant::now();
    let (n1, n2) = (example_eni(1), example_eni(2));
    let out = s
        .assign(&n2, &req(&["10.0.10.200"], true), t0, DELAY)
        .unwrap();
    assert_eq!(out.assigned, [VIP]);
    assert!(out.changed);
    assert_eq!(out.remap_due, Some(t0 + DELAY));
    // In flight: still shown on n1, authoritative on n2.
    assert_eq!(s.owner(VIP, t0 + DELAY / 2), Some(n1.as_str()));
    assert_eq!(s.view(&n1, t0).unwrap().secondary, [VIP]);
    assert!(s.view(&n2, t0).unwrap().secondary.is_empty());
    assert_eq!(s.assignments(t0)[0].vnic_id.as_deref(), Some(n1.as_str()));
    assert_eq!(s.last_remap_due(t0), Some(t0 + DELAY));
    // Assigning again on n2 while in flight is a no-op; n1 cannot unassign it any more.
    let again = s
        .assign(&n2, &req(&["10.0.10.200"], false), t0, DELAY)
        .unwrap();
    assert!(!again.changed && again.remap_due.is_none());
    assert_eq!(
        s.unassign(&n1, &["10.0.10.200".into()], t0)
            .unwrap_err()
            .code,
        "InvalidParameterValue"
    );
    // Done.
    let t1 = t0 + DELAY;
    assert_eq!(s.owner(VIP, t1), Some(n2.as_str()));
    assert_eq!(s.view(&n2, t1).unwrap().secondary, [VIP]);
    assert_eq!(s.assignments(t1)[0].port.as_deref(), Some("pb"));
    assert_eq!(s.last_remap_due(t1), None);
    // Moving back while visible on the target's origin is immediate for the origin.
    let mut s2 = st();
    s2.assign(&n2, &req(&["10.0.10.200"], true), t0, DELAY)
        .unwrap();
    let back = s2
        .assign(&n1, &req(&["10.0.10.200"], true), t0, DELAY)
        .unwrap();
    assert!(back.changed && back.remap_due.is_none());
    assert_eq!(s2.owner(VIP, t0), Some(n1.as_str()));
}

#[test]
fn limit_counts_what_the_interface_will_hold() {
    let mut inv = AwsInventory::example();
    inv.network_interfaces[1].secondary_ip_limit = 2;
    let mut s = AwsState::from_inventory(&inv).unwrap();
    let n2 = example_eni(2);
    let now = Instant::now();
    s.assign(&n2, &req(&["10.0.10.50"], false), now, DELAY)
        .unwrap();
    let err = s
        .assign(&n2, &req(&["10.0.10.51", "10.0.10.200"], true), now, DELAY)
        .unwrap_err();
    assert_eq!(err.code, "PrivateIpAddressLimitExceeded");
    s.assign(&n2, &req(&["10.0.10.200"], true), now, DELAY)
        .unwrap();
    assert_eq!(
        s.assign(&n2, &req(&["10.0.10.52"], false), now, DELAY)
            .unwrap_err()
            .code,
        "PrivateIpAddressLimitExceeded"
    );
    // A repeat does not count twice.
    s.assign(&n2, &req(&["10.0.10.50"], false), now, DELAY)
        .unwrap();
}

#[test]
fn count_allocates_free_unreserved_addresses() {
    let mut s = st();
    let n2 = example_eni(2);
    let got = s
        .assign(
            &n2,
            &AssignRequest {
                count: Some(2),
                ..Default::default()
            },
            Instant::now(),
            DELAY,
        )
        .unwrap();
    assert_eq!(
        got.assigned,
        [Ipv4Addr::new(10, 0, 10, 4), Ipv4Addr::new(10, 0, 10, 5)]
    );
    let zero = AssignRequest {
        count: Some(0),
        ..Default::default()
    };
    assert_eq!(
        s.assign(&n2, &zero, Instant::now(), DELAY)
            .unwrap_err()
            .code,
        "InvalidParameterValue"
    );
}

#[test]
fn unassign_rules_and_retirement() {
    let (n1, n2) = (example_eni(1), example_eni(2));
    let table: Vec<(&str, String, Vec<&str>, Option<&str>)> = vec![
        (
            "not held here",
            n2.clone(),
            vec!["10.0.10.200"],
            Some("InvalidParameterValue"),
        ),
        (
            "primary",
            n1.clone(),
            vec!["10.0.10.11"],
            Some("InvalidParameterValue"),
        ),
        ("none given", n1.clone(), vec![], Some("MissingParameter")),
        (
            "unknown ENI",
            "eni-0000000000000dead".into(),
            vec!["10.0.10.200"],
            Some("InvalidNetworkInterfaceID.NotFound"),
        ),
        (
            "partly held",
            n1.clone(),
            vec!["10.0.10.200", "10.0.10.201"],
            Some("InvalidParameterValue"),
        ),
        ("held", n1.clone(), vec!["10.0.10.200"], None),
    ];
    for (name, eni, ips, want) in table {
        let mut s = st();
        let ips: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
        let got = s.unassign(&eni, &ips, Instant::now());
        assert_eq!(got.as_ref().err().map(|e| e.code.as_str()), want, "{name}");
        let a = s.assignments(Instant::now());
        assert_eq!(a.len(), 1, "{name}");
        assert_eq!(
            a[0].vnic_id.is_none(),
            want.is_none(),
            "{name}: retired iff unassigned"
        );
    }
}

#[test]
fn describe_filters_table() {
    let s = st();
    let now = Instant::now();
    let f = |name: &str, values: &[&str]| Filter {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    let ids = |fs: Vec<Filter>| -> Result<Vec<String>, String> {
        s.describe(&[], &fs, now)
            .map(|v| v.into_iter().map(|e| e.id).collect())
            .map_err(|e| e.code)
    };
    let (n1, n2, n3) = (example_eni(1), example_eni(2), example_eni(3));
    let inst1 = crate::aws::inventory::example_instance(1);
    type Case<'a> = (&'a str, Vec<Filter>, Result<Vec<String>, String>);
    let table: Vec<Case> = vec![
        ("none", vec![], Ok(vec![n1.clone(), n2.clone(), n3.clone()])),
        (
            "instance",
            vec![f("attachment.instance-id", &[&inst1])],
            Ok(vec![n1.clone()]),
        ),
        (
            "subnet",
            vec![f("subnet-id", &[crate::aws::inventory::EXAMPLE_SUBNET_A])],
            Ok(vec![n1.clone(), n2.clone()]),
        ),
        (
            "secondary address",
            vec![f("addresses.private-ip-address", &["10.0.10.200"])],
            Ok(vec![n1.clone()]),
        ),
        (
            "primary address",
            vec![f("addresses.private-ip-address", &["10.0.10.12"])],
            Ok(vec![n2.clone()]),
        ),
        (
            "private-ip-address is the primary only",
            vec![f("private-ip-address", &["10.0.10.200"])],
            Ok(vec![]),
        ),
        (
            "id OR",
            vec![f("network-interface-id", &[&n3, &n2])],
            Ok(vec![n2.clone(), n3.clone()]),
        ),
        (
            "AND",
            vec![
                f("subnet-id", &[crate::aws::inventory::EXAMPLE_SUBNET_A]),
                f("network-interface-id", &[&n3]),
            ],
            Ok(vec![]),
        ),
        (
            "wildcard",
            vec![f("addresses.private-ip-address", &["10.0.20.*"])],
            Ok(vec![n3.clone()]),
        ),
        (
            "unknown filter",
            vec![f("tag:Name", &["x"]), f("color", &["x"])],
            Err("InvalidParameterValue".into()),
        ),
    ];
    for (name, fs, want) in table {
        assert_eq!(ids(fs), want, "{name}");
    }
    assert_eq!(
        s.describe(&["eni-0000000000000dead".into()], &[], now)
            .unwrap_err()
            .code,
        "InvalidNetworkInterfaceID.NotFound"
    );
    assert_eq!(
        s.describe(&["nic-1".into()], &[], now).unwrap_err().code,
        "InvalidNetworkInterfaceID.Malformed"
    );
    let v = s.view(&n1, now).unwrap();
    assert_eq!(
        (v.status, v.dns_name(v.primary_ip).as_str()),
        ("in-use", "ip-10-0-10-11.ec2.internal")
    );
}

#[test]
fn pagination_table() {
    let mut inv = AwsInventory::example();
    for n in 4..=9u8 {
        inv = inv.eni(crate::aws::inventory::NetworkInterface {
            attachment: None,
            ..crate::aws::inventory::NetworkInterface::attached(
                &example_eni(n),
                crate::aws::inventory::EXAMPLE_SUBNET_A,
                &format!("02:00:17:00:00:{n:02}"),
                &format!("10.0.10.{}", 20 + n),
                "i-unused",
                1,
            )
        });
    }
    let s = AwsState::from_inventory(&inv).unwrap();
    let all = s.describe(&[], &[], Instant::now()).unwrap();
    assert_eq!(all.len(), 9);
    let (p1, t1) = paginate(all.clone(), Some(5), None, false).unwrap();
    assert_eq!(p1.len(), 5);
    let (p2, t2) = paginate(all.clone(), Some(5), t1.as_deref(), false).unwrap();
    assert_eq!((p2.len(), t2), (4, None));
    assert_eq!(p2[0].id, example_eni(6));
    assert_eq!(paginate(all.clone(), None, None, false).unwrap().0.len(), 9);
    for (max, token, ids, code) in [
        (Some(4), None, false, "InvalidParameterValue"),
        (Some(1001), None, false, "InvalidParameterValue"),
        (Some(5), Some("garbage!"), false, "InvalidPaginationToken"),
        (Some(5), None, true, "InvalidParameterCombination"),
    ] {
        assert_eq!(
            paginate(all.clone(), max, token, ids).unwrap_err().code,
            code,
            "{max:?} {token:?}"
        );
    }
}

#[test]
fn inventory_validation_table() {
    type Change = Box<dyn Fn(&mut AwsInventory)>;
    let table: Vec<(&str, Change)> = vec![
        (
            "bad cidr",
            Box::new(|i| i.subnets[0].cidr_block = "10.0.10.0/33".into()),
        ),
        (
            "bad eni id",
            Box::new(|i| i.network_interfaces[0].id = "nic-1".into()),
        ),
        (
            "unknown subnet",
            Box::new(|i| i.network_interfaces[0].subnet_id = "subnet-ff".into()),
        ),
        (
            "primary outside",
            Box::new(|i| i.network_interfaces[0].private_ip_address = "10.0.99.1".into()),
        ),
        (
            "duplicate primary",
            Box::new(|i| i.network_interfaces[1].private_ip_address = "10.0.10.11".into()),
        ),
        (
            "secondary outside",
            Box::new(|i| {
                i.network_interfaces[0].secondary_private_ip_addresses = vec!["10.0.20.5".into()]
            }),
        ),
        (
            "secondary twice",
            Box::new(|i| {
                i.network_interfaces[1].secondary_private_ip_addresses = vec!["10.0.10.200".into()]
            }),
        ),
        (
            "unknown instance",
            Box::new(|i| {
                if let Some(a) = i.network_interfaces[0].attachment.as_mut() {
                    a.instance_id = "i-ff".into()
                }
            }),
        ),
    ];
    for (name, change) in table {
        let mut inv = AwsInventory::example();
        change(&mut inv);
        assert!(AwsState::from_inventory(&inv).is_err(), "{name}");
    }
}
