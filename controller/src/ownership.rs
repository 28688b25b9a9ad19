//! Who may use an address: pure checks that run before any decision, cloud call or node
//! configuration.
//!
//! Data flow: the reconciler copies every PostgresVip of every watched namespace into
//! [`Claim`]s and asks [`owner_elsewhere`] whether another, older one owns the same address
//! in the same provider scope (one subnet; one segment without a cloud); it asks [`in_use`]
//! whether a Node or a pod already uses the address. Either answer becomes a refusal
//! (`AddressConflict`, `AddressInUse`): the VIP is published with no desired node, so no
//! agent configures it and no cloud call is made. Table tests at the bottom.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use pgvip_api::PostgresVip;

/// The address in the one form comparisons use: IPv4-mapped IPv6 becomes IPv4, and IPv6 is
/// compared as a number, so `fd00::64` and `fd00:0::64` are the same address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// One PostgresVip's claim on an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `namespace/name`.
    pub key: String,
    /// The canonical address; `None` when `spec.address` does not parse (claims nothing).
    pub address: Option<IpAddr>,
    /// Where the address lives: the OCI subnet OCID, or empty without a cloud provider.
    pub scope: String,
    /// `metadata.creationTimestamp`; absent sorts last (not yet persisted).
    pub created: Option<Time>,
}

impl Claim {
    /// The claim of a stored PostgresVip.
    pub fn of(vip: &PostgresVip) -> Self {
        Claim {
            key: format!("{}/{}", vip.namespace().unwrap_or_default(), vip.name_any()),
            address: vip
                .spec
                .address
                .trim()
                .parse::<IpAddr>()
                .ok()
                .map(canonical),
            scope: scope_of(vip),
            created: vip.metadata.creation_timestamp.clone(),
        }
    }

    /// Ordering key of ownership: oldest first, then by `namespace/name`.
    fn seniority(&self) -> (bool, Option<&Time>, &str) {
        (self.created.is_none(), self.created.as_ref(), &self.key)
    }
}

/// The provider scope an address is unique in.
pub fn scope_of(vip: &PostgresVip) -> String {
    vip.spec
        .provider
        .subnet()
        .map(|(_, subnet)| subnet.to_string())
        .unwrap_or_default()
}

/// The claim that owns `me`'s address when it is not `me`: the oldest claim (creation time,
/// then `namespace/name`) on the same address in the same scope. A PostgresVip being deleted
/// still owns its address until it is gone, so its cleanup finishes before anyone takes over.
pub fn owner_elsewhere<'a>(me: &Claim, all: &'a [Claim]) -> Option<&'a Claim> {
    let addr = me.address?;
    all.iter()
        .filter(|c| c.address == Some(addr) && c.scope == me.scope)
        .min_by(|a, b| a.seniority().cmp(&b.seniority()))
        .filter(|owner| owner.key != me.key)
}

/// What already uses `address`, for a person: a Node's InternalIP/ExternalIP or a pod's IP.
/// Addresses compare in canonical form. Pods on the host network carry their node's IP and
/// are reported as the node.
pub fn in_use<'a>(
    address: IpAddr,
    nodes: impl IntoIterator<Item = &'a Node>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> Option<String> {
    let address = canonical(address);
    let same = |s: &str| {
        s.trim()
            .parse::<IpAddr>()
            .is_ok_and(|a| canonical(a) == address)
    };
    for n in nodes {
        let addrs = n.status.as_ref().and_then(|s| s.addresses.as_ref());
        for a in addrs.into_iter().flatten() {
            if is_node_ip_type(&a.type_) && same(&a.address) {
                return Some(format!("node {}'s {}", n.name_any(), a.type_));
            }
        }
    }
    for p in pods {
        let st = p.status.as_ref();
        let primary = st.and_then(|s| s.pod_ip.as_deref());
        let all = st.and_then(|s| s.pod_ips.as_ref()).into_iter().flatten();
        if primary.is_some_and(same) || all.map(|i| i.ip.as_str()).any(same) {
            return Some(format!(
                "pod {}/{}'s IP",
                p.namespace().unwrap_or_default(),
                p.name_any()
            ));
        }
    }
    None
}

/// Node address types that name an address the node itself uses.
pub fn is_node_ip_type(t: &str) -> bool {
    t == "InternalIP" || t == "ExternalIP"
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus, PodIP, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn claim(key: &str, addr: &str, scope: &str, created: Option<i64>) -> Claim {
        Claim {
            key: key.into(),
            address: addr.parse::<IpAddr>().ok().map(canonical),
            scope: scope.into(),
            created: created.map(|s| {
                Time(
                    k8s_openapi::jiff::Timestamp::from_second(s)
                        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                )
            }),
        }
    }

    #[test]
    fn the_oldest_claim_owns_an_address_in_its_scope() {
        let all = vec![
            claim("db/a", "10.0.10.200", "s1", Some(100)),
            claim("db/b", "10.0.10.200", "s1", Some(200)),
            claim("other/c", "10.0.10.200", "s1", Some(100)), // same age: name decides
            claim("db/d", "10.0.10.200", "s2", Some(50)),     // other subnet
            claim("db/e", "fd00:0::64", "s1", Some(300)),
            claim("db/f", "fd00::64", "s1", Some(400)),
            claim("db/g", "10.0.10.201", "s1", None),
            claim("db/h", "10.0.10.201", "s1", Some(900)),
            claim("db/bad", "not-an-ip", "s1", Some(1)),
            claim("db/bad2", "also-bad", "s1", Some(2)),
            claim("db/m", "::ffff:10.0.10.202", "s1", Some(10)),
            claim("db/n", "10.0.10.202", "s1", Some(20)),
        ];
        // (claimant, owner elsewhere)
        let cases = [
            ("db/a", None),
            ("db/b", Some("db/a")),
            ("other/c", Some("db/a")),
            ("db/d", None),
            ("db/e", None),
            ("db/f", Some("db/e")), // the same IPv6 address written two ways
            ("db/g", Some("db/h")), // not yet persisted sorts last
            ("db/h", None),
            ("db/bad", None), // an unparsable address claims nothing
            ("db/bad2", None),
            ("db/m", None),
            ("db/n", Some("db/m")), // IPv4-mapped IPv6 is the IPv4 address
        ];
        for (me, want) in cases {
            let c = all.iter().find(|c| c.key == me).unwrap();
            assert_eq!(
                owner_elsewhere(c, &all).map(|o| o.key.as_str()),
                want,
                "{me}"
            );
        }
    }

    fn node(name: &str, addrs: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                addresses: Some(
                    addrs
                        .iter()
                        .map(|(t, a)| NodeAddress {
                            type_: t.to_string(),
                            address: a.to_string(),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(name: &str, ip: Option<&str>, ips: &[&str]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("db".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                pod_ip: ip.map(str::to_string),
                pod_ips: Some(ips.iter().map(|i| PodIP { ip: i.to_string() }).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn node_and_pod_addresses_are_in_use() {
        let nodes = [
            node(
                "worker-1",
                &[("InternalIP", "10.0.10.11"), ("Hostname", "10.0.10.99")],
            ),
            node("worker-2", &[("ExternalIP", "fd00::12")]),
        ];
        let pods = [
            pod("orders-0", Some("10.244.0.7"), &["10.244.0.7", "fd00:1::7"]),
            pod("pending", None, &[]),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases = [
            ("10.0.10.11", Some("node worker-1's InternalIP")),
            ("10.0.10.99", None), // a Hostname entry is not an address the node uses
            ("fd00:0::12", Some("node worker-2's ExternalIP")),
            ("10.244.0.7", Some("pod db/orders-0's IP")),
            ("fd00:1:0::7", Some("pod db/orders-0's IP")),
            ("10.0.10.200", None),
        ];
        for (addr, want) in cases {
            assert_eq!(in_use(ip(addr), &nodes, &pods).as_deref(), want, "{addr}");
        }
    }
}
