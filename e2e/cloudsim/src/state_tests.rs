//! Table tests of the control-plane rules.

use super::*;
use crate::inventory::Inventory;

const VIP: &str = "ocid1.privateip.oc1.iad.vip";
const N1: &str = "ocid1.vnic.oc1.iad.n1";
const N2: &str = "ocid1.vnic.oc1.iad.n2";
const N3: &str = "ocid1.vnic.oc1.iad.n3";
const SUBNET_A: &str = "ocid1.subnet.oc1.iad.a";

fn state() -> State {
    State::from_inventory(&Inventory::example()).unwrap()
}

fn primary_of(st: &State, vnic: &str) -> String {
    st.list_ips(
        Family::V4,
        &IpFilter {
            vnic_id: Some(vnic.into()),
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .find(|r| r.is_primary)
    .unwrap()
    .id
}

fn move_to(vnic: &str) -> UpdateIpDetails {
    UpdateIpDetails {
        vnic_id: Some(vnic.into()),
        ..Default::default()
    }
}

#[test]
fn update_rules_table() {
    let st0 = state();
    let p1 = primary_of(&st0, N1);
    let etag = st0.get_ip(Family::V4, VIP).unwrap().etag.clone();
    // (ip id, details, if-match, expected status (200 = ok), expected holder afterwards)
    let table: Vec<(&str, UpdateIpDetails, Option<&str>, u16, &str)> = vec![
        (VIP, move_to(N2), None, 200, N2),
        (VIP, move_to(N2), Some(etag.as_str()), 200, N2),
        (VIP, move_to(N2), Some("stale"), 412, N1),
        (VIP, move_to(N3), None, 400, N1),
        (VIP, move_to("ocid1.vnic.oc1.iad.nope"), None, 404, N1),
        (VIP, move_to(N1), None, 200, N1),
        (p1.as_str(), move_to(N2), None, 400, N1),
        ("ocid1.privateip.oc1.iad.nope", move_to(N2), None, 404, N1),
    ];
    for (id, d, if_match, status, holder) in table {
        let mut st = st0.clone();
        let got = st.update_ip(Family::V4, id, &d, if_match);
        assert_eq!(
            got.as_ref().map(|_| 200).unwrap_or_else(|e| e.status),
            status,
            "{id} {d:?} {if_match:?}"
        );
        if let Ok(r) = st.get_ip(Family::V4, id) {
            assert_eq!(r.vnic_id, holder, "{id} {d:?}");
        }
    }
}

#[test]
fn move_changes_etag_and_assignment_and_noop_keeps_etag() {
    let mut st = state();
    let before = st.get_ip(Family::V4, VIP).unwrap().etag.clone();
    let same = st.update_ip(Family::V4, VIP, &move_to(N1), None).unwrap();
    assert_eq!(same.etag, before);
    let moved = st
        .update_ip(Family::V4, VIP, &move_to(N2), Some(&before))
        .unwrap();
    assert_ne!(moved.etag, before);
    assert_eq!(
        st.assignment("10.0.10.200".parse().unwrap()).as_deref(),
        Some(N2)
    );
    let a = st.assignments();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].port.as_deref(), a[0].mac.as_deref()),
        (Some("pb"), Some("02:00:17:00:00:02"))
    );
}

/// (family, request, created address or (status, code))
type CreateCase = (
    Family,
    CreateIpDetails,
    Result<&'static str, (u16, &'static str)>,
);

#[test]
fn create_rules_table() {
    let d = |vnic: Option<&str>, ip: Option<&str>, label: Option<&str>| CreateIpDetails {
        vnic_id: vnic.map(String::from),
        ip_address: ip.map(String::from),
        hostname_label: label.map(String::from),
        ..Default::default()
    };
    let table: Vec<CreateCase> = vec![
        (
            Family::V4,
            d(Some(N2), Some("10.0.10.201"), None),
            Ok("10.0.10.201"),
        ),
        (Family::V4, d(Some(N2), None, None), Ok("10.0.10.2")),
        (
            Family::V4,
            d(Some(N2), Some("10.0.10.200"), None),
            Err((409, "Conflict")),
        ),
        (
            Family::V4,
            d(Some(N2), Some("10.0.10.11"), None),
            Err((409, "Conflict")),
        ),
        (
            Family::V4,
            d(Some(N2), Some("10.0.20.5"), None),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V4,
            d(Some(N2), Some("10.0.10.255"), None),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V4,
            d(Some(N2), Some("10.0.10.1"), None),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V4,
            d(Some(N2), Some("banana"), None),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V4,
            d(None, Some("10.0.10.201"), None),
            Err((400, "MissingParameter")),
        ),
        (
            Family::V4,
            d(Some("ocid1.vnic.x"), None, None),
            Err((404, "NotAuthorizedOrNotFound")),
        ),
        (
            Family::V4,
            d(Some(N2), None, Some("n1")),
            Err((409, "Conflict")),
        ),
        (
            Family::V4,
            d(Some(N2), None, Some("-bad")),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V6,
            d(Some(N2), Some("fd00:10::200"), None),
            Ok("fd00:10::200"),
        ),
        (Family::V6, d(Some(N2), None, None), Ok("fd00:10::2")),
        (
            Family::V6,
            d(Some(N2), Some("10.0.10.201"), None),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V6,
            d(Some(N3), None, None),
            Err((400, "InvalidParameter")),
        ),
        (
            Family::V6,
            d(Some(N2), Some("fd00:11::1"), None),
            Err((400, "InvalidParameter")),
        ),
    ];
    for (family, details, want) in table {
        let mut st = state();
        let got = st
            .create_ip(family, &details)
            .map(|r| r.address.to_string())
            .map_err(|e| (e.status, e.code));
        let want = want.map(String::from).map_err(|(s, c)| (s, c.to_string()));
        assert_eq!(got, want, "{family:?} {details:?}");
    }
}

#[test]
fn primary_ips_cannot_be_deleted_and_deletes_retire_addresses() {
    let mut st = state();
    let p1 = primary_of(&st, N1);
    assert_eq!(st.delete_ip(Family::V4, &p1, None).unwrap_err().status, 409);
    assert_eq!(
        st.delete_ip(Family::V4, VIP, Some("stale"))
            .unwrap_err()
            .status,
        412
    );
    st.delete_ip(Family::V4, VIP, None).unwrap();
    assert_eq!(st.get_ip(Family::V4, VIP).unwrap_err().status, 404);
    assert_eq!(st.delete_ip(Family::V4, VIP, None).unwrap_err().status, 404);
    let a = st.assignments();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].vnic_id, None);
    // Re-creating the address un-retires it.
    st.create_ip(
        Family::V4,
        &CreateIpDetails {
            vnic_id: Some(N2.into()),
            ip_address: Some("10.0.10.200".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(st.assignments()[0].vnic_id.as_deref(), Some(N2));
}

#[test]
fn list_filters_table() {
    let st = state();
    let f = |ip: Option<&str>, subnet: Option<&str>, vnic: Option<&str>| IpFilter {
        ip_address: ip.map(String::from),
        subnet_id: subnet.map(String::from),
        vnic_id: vnic.map(String::from),
    };
    let table: Vec<(IpFilter, Result<Vec<&str>, u16>)> = vec![
        (
            f(Some("10.0.10.200"), Some(SUBNET_A), None),
            Ok(vec!["10.0.10.200"]),
        ),
        (
            f(None, Some(SUBNET_A), None),
            Ok(vec!["10.0.10.11", "10.0.10.12", "10.0.10.200"]),
        ),
        (
            f(None, None, Some(N1)),
            Ok(vec!["10.0.10.11", "10.0.10.200"]),
        ),
        (f(Some("10.0.10.99"), Some(SUBNET_A), None), Ok(vec![])),
        (f(Some("10.0.10.200"), None, None), Err(400)),
        (f(Some("nope"), Some(SUBNET_A), None), Err(400)),
    ];
    for (filter, want) in table {
        let got = st
            .list_ips(Family::V4, &filter)
            .map(|v| v.iter().map(|r| r.address.to_string()).collect::<Vec<_>>())
            .map_err(|e| e.status);
        let want = want.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, want, "{filter:?}");
    }
}

#[test]
fn inventory_errors() {
    let mut inv = Inventory::example();
    inv.instances[0].vnics[0].private_ip = "10.0.99.1".into();
    assert!(State::from_inventory(&inv).is_err());
    let mut inv = Inventory::example();
    inv.secondary_ips[0].ip_address = "10.0.10.12".into();
    assert!(State::from_inventory(&inv).is_err());
    let mut inv = Inventory::example();
    inv.subnets[0].cidr_block = "fd00::/64".into();
    assert!(State::from_inventory(&inv).is_err());
}

#[test]
fn attachments_and_vnics() {
    let st = state();
    let list = st
        .list_vnic_attachments(
            "ocid1.compartment.oc1..ocisim",
            Some("ocid1.instance.oc1.iad.n2"),
            None,
            None,
        )
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].vnic_id.as_deref(), Some(N2));
    assert_eq!(
        st.list_vnic_attachments("ocid1.compartment.oc1..other", None, None, None)
            .unwrap_err()
            .status,
        404
    );
    let v = st.get_vnic(N1).unwrap();
    assert_eq!((v.private_ip.as_str(), v.is_primary), ("10.0.10.11", true));
}
