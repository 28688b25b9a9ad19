//! IAM policy hints: which `verb resource-type` grants each call needs, per address family,
//! and the statements an operator should add when OCI answers 404 NotAuthorizedOrNotFound for
//! a resource we know exists.
//!
//! Data flow: the client picks the grants for the failing call here ([`grants`]), then
//! [`policy_hint`] phrases them for the principal kind (group, dynamic group, or an OKE
//! workload with its namespace, service account and cluster conditions). Pure functions.

use crate::auth::{policy_statement, PrincipalKind};
use crate::ops::Family;

/// The IAM resource type of a secondary address: `private-ips` (IPv4) or `ipv6s` (IPv6).
pub fn ip_resource(fam: Family) -> &'static str {
    match fam {
        Family::V4 => "private-ips",
        Family::V6 => "ipv6s",
    }
}

/// A call whose 404 on a known resource means a missing grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// GetInstance on the node's own instance.
    ReadInstance,
    /// ListVnicAttachments of the node's instance.
    InspectAttachments,
    /// GetVnic of an attached VNIC.
    ReadVnic,
    /// ListPrivateIps / ListIpv6s in the VIP's subnet.
    ListIps,
    /// GetPrivateIp / GetIpv6 of an address we just listed.
    ReadIp,
    /// UpdatePrivateIp / UpdateIpv6 (move, or the no-op permission check).
    UpdateIp,
    /// CreatePrivateIp / CreateIpv6 on the node's VNIC.
    CreateIp,
}

/// The `verb resource-type` grants a call needs for an address of family `fam`.
pub fn grants(need: Need, fam: Family) -> &'static [&'static str] {
    use Family::{V4, V6};
    match (need, fam) {
        (Need::ReadInstance, _) => &["read instances"],
        (Need::InspectAttachments, _) => &["inspect vnic-attachments"],
        (Need::ReadVnic, _) => &["read vnics"],
        (Need::ListIps, V4) => &["read private-ips", "inspect subnets"],
        (Need::ListIps, V6) => &["read ipv6s", "inspect subnets"],
        (Need::ReadIp, V4) => &["read private-ips"],
        (Need::ReadIp, V6) => &["read ipv6s"],
        (Need::UpdateIp, V4) => &["use private-ips", "use vnics"],
        (Need::UpdateIp, V6) => &["use ipv6s", "use vnics"],
        (Need::CreateIp, V4) => &["use private-ips", "use vnics", "use subnets"],
        (Need::CreateIp, V6) => &["use ipv6s", "use vnics", "use subnets"],
    }
}

/// The statements granting `grants` to `kind` in `compartment` (empty: a placeholder),
/// joined as "`A` and `B`" (the error message wraps the whole in backquotes).
pub fn policy_hint(kind: PrincipalKind, grants: &[&str], compartment: &str) -> String {
    grants
        .iter()
        .map(|g| policy_statement(kind, g, compartment))
        .collect::<Vec<_>>()
        .join("` and `")
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "ocid1.compartment.oc1..c";

    #[test]
    fn hint_text_table() {
        let wl = " where all {request.principal.type = 'workload', request.principal.namespace = '<controller-namespace>', request.principal.service_account = '<controller-service-account>', request.principal.cluster_id = '<cluster-ocid>'}";
        let table: [(PrincipalKind, Need, Family, &str, String); 8] = [
            (
                PrincipalKind::User,
                Need::UpdateIp,
                Family::V4,
                C,
                format!("Allow group <your-group> to use private-ips in compartment id {C}` and `Allow group <your-group> to use vnics in compartment id {C}"),
            ),
            (
                PrincipalKind::Instance,
                Need::UpdateIp,
                Family::V6,
                C,
                format!("Allow dynamic-group <your-dynamic-group> to use ipv6s in compartment id {C}` and `Allow dynamic-group <your-dynamic-group> to use vnics in compartment id {C}"),
            ),
            (
                PrincipalKind::Workload,
                Need::UpdateIp,
                Family::V4,
                C,
                format!("Allow any-user to use private-ips in compartment id {C}{wl}` and `Allow any-user to use vnics in compartment id {C}{wl}"),
            ),
            (
                PrincipalKind::Workload,
                Need::ReadInstance,
                Family::V6,
                "",
                format!("Allow any-user to read instances in compartment <compartment>{wl}"),
            ),
            (
                PrincipalKind::User,
                Need::ReadVnic,
                Family::V4,
                C,
                format!("Allow group <your-group> to read vnics in compartment id {C}"),
            ),
            (
                PrincipalKind::Instance,
                Need::ListIps,
                Family::V6,
                C,
                format!("Allow dynamic-group <your-dynamic-group> to read ipv6s in compartment id {C}` and `Allow dynamic-group <your-dynamic-group> to inspect subnets in compartment id {C}"),
            ),
            (
                PrincipalKind::User,
                Need::ReadIp,
                Family::V6,
                C,
                format!("Allow group <your-group> to read ipv6s in compartment id {C}"),
            ),
            (
                PrincipalKind::User,
                Need::CreateIp,
                Family::V6,
                "",
                "Allow group <your-group> to use ipv6s in compartment <compartment>` and `Allow group <your-group> to use vnics in compartment <compartment>` and `Allow group <your-group> to use subnets in compartment <compartment>".to_string(),
            ),
        ];
        for (kind, need, fam, compartment, want) in table {
            assert_eq!(
                policy_hint(kind, grants(need, fam), compartment),
                want,
                "{kind:?} {need:?} {fam:?}"
            );
        }
    }

    #[test]
    fn ipv6_hints_never_name_private_ips() {
        for need in [Need::ListIps, Need::ReadIp, Need::UpdateIp, Need::CreateIp] {
            let g = grants(need, Family::V6);
            assert!(g.iter().all(|g| !g.contains("private-ips")), "{need:?}");
            assert!(g.iter().any(|g| g.ends_with("ipv6s")), "{need:?}");
        }
        assert_eq!(ip_resource(Family::V4), "private-ips");
        assert_eq!(ip_resource(Family::V6), "ipv6s");
    }
}
