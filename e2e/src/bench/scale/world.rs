//! The synthetic world of the scale bench, as pure functions of a [`World`]: worker nodes (one
//! instance and VNIC each in one big subnet), Patroni clusters of two members on two different
//! nodes, their pod IPs on loopback (served by the REST stand-in), their VIPs, the simulator's
//! inventory and the Kubernetes objects that describe it all.
//!
//! Data flow: `World` → names/addresses → `Inventory` (simulator) and JSON objects (apiserver).
//! Nothing here performs I/O, so the shapes are table-tested.

use std::net::Ipv4Addr;

use pgvip_cloudsim::inventory::{
    ApiUser, Instance, Inventory, Permissions, SecondaryIp, Subnet, Vnic,
};
use serde_json::{json, Value};

/// Kubernetes namespace holding every cluster and PostgresVip of the bench.
pub const DB_NAMESPACE: &str = "db";
/// Tenancy OCID of the simulated tenancy.
pub const TENANCY: &str = "ocid1.tenancy.oc1..pgvipbench";
/// Compartment OCID.
pub const COMPARTMENT: &str = "ocid1.compartment.oc1..pgvipbench";
/// Subnet OCID.
pub const SUBNET: &str = "ocid1.subnet.oc1.phx.pgvipbench";
/// The subnet: a /20 leaves room for 3,000 VIPs next to the nodes.
pub const SUBNET_CIDR: &str = "10.64.0.0/20";
/// Most clusters the subnet and the loopback pod range can hold.
pub const MAX_CLUSTERS: usize = 3000;
/// Members per cluster (a leader and a replica, on different nodes).
pub const MEMBERS: usize = 2;
/// Lock TTL written on each leader object (Patroni's default).
pub const TTL_SECS: u64 = 30;

const SUBNET_BASE: u32 = 0x0a40_0000; // 10.64.0.0
const VIP_OFFSET: u32 = 1024;

/// Size of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct World {
    /// Patroni clusters, one PostgresVip each.
    pub clusters: usize,
    /// Worker nodes (instances with one VNIC in the subnet).
    pub nodes: usize,
    /// Port of the members' REST API (the stand-in listens on every pod IP at this port).
    pub rest_port: u16,
}

impl World {
    /// Checks the limits the address plan imposes.
    pub fn validate(&self) -> Result<(), String> {
        if self.clusters == 0 || self.clusters > MAX_CLUSTERS {
            return Err(format!("clusters must be 1..={MAX_CLUSTERS}"));
        }
        if self.nodes < 2 || self.nodes > 1000 {
            return Err("nodes must be 2..=1000".into());
        }
        Ok(())
    }

    /// Node `i`'s Kubernetes name (also the instance's display name).
    pub fn node_name(&self, i: usize) -> String {
        format!("bench-w{i:03}")
    }

    /// Instance OCID of node `i`.
    pub fn instance_id(&self, i: usize) -> String {
        format!("ocid1.instance.oc1.phx.pgvipbench{i:03}")
    }

    /// VNIC OCID of node `i`.
    pub fn vnic_id(&self, i: usize) -> String {
        format!("ocid1.vnic.oc1.phx.pgvipbench{i:03}")
    }

    /// Primary private IP of node `i`'s VNIC.
    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::from(SUBNET_BASE + 16 + i as u32)
    }

    /// Patroni scope of cluster `c`.
    pub fn scope(&self, c: usize) -> String {
        format!("c{c:04}")
    }

    /// The VIP of cluster `c`.
    pub fn vip(&self, c: usize) -> Ipv4Addr {
        Ipv4Addr::from(SUBNET_BASE + VIP_OFFSET + c as u32)
    }

    /// Pod (member) name of member `m` of cluster `c`.
    pub fn member(&self, c: usize, m: usize) -> String {
        format!("{}-{m}", self.scope(c))
    }

    /// Node index hosting member `m` of cluster `c`: consecutive nodes, so a leader change
    /// always crosses nodes and clusters spread evenly.
    pub fn member_node(&self, c: usize, m: usize) -> usize {
        (c + m) % self.nodes
    }

    /// Pod IP of member `m` of cluster `c`: a loopback address, `127.77.x.y`.
    pub fn pod_ip(&self, c: usize, m: usize) -> Ipv4Addr {
        let idx = (c * MEMBERS + m) as u32;
        Ipv4Addr::new(127, 77, (idx / 200) as u8, (10 + idx % 200) as u8)
    }

    /// The clusters whose leader changes in a storm of `n`: round-robin over the nodes that
    /// receive the moves (so no VNIC takes more than its share), and within each node spread
    /// evenly over its clusters.
    pub fn storm_clusters(&self, n: usize) -> Vec<usize> {
        let n = n.min(self.clusters);
        let per_node = n.div_ceil(self.nodes);
        // Clusters `j, j + nodes, j + 2·nodes, …` share member nodes; `rows(j)` counts them.
        let rows = |j: usize| self.clusters.saturating_sub(j).div_ceil(self.nodes);
        let mut out = Vec::with_capacity(n);
        for round in 0..per_node {
            for j in 0..self.nodes {
                let rows = rows(j);
                let picks = rows.min(per_node);
                if out.len() < n && round < picks {
                    out.push(j + round * rows / picks * self.nodes);
                }
            }
        }
        // Residues with too few clusters leave a gap: fill it in cluster order.
        let picked: std::collections::BTreeSet<usize> = out.iter().copied().collect();
        let missing = n - out.len();
        out.extend(
            (0..self.clusters)
                .filter(|c| !picked.contains(c))
                .take(missing),
        );
        out
    }

    /// Most addresses any VNIC holds during a storm over `storm`: its primary, the VIPs it
    /// starts with (member 0's) and the VIPs moving to it (member 1's), before any leaves.
    pub fn peak_ips_per_vnic(&self, storm: &[usize]) -> usize {
        let mut per_node = vec![1; self.nodes];
        for c in 0..self.clusters {
            per_node[self.member_node(c, 0)] += 1;
        }
        for &c in storm {
            per_node[self.member_node(c, 1)] += 1;
        }
        per_node.into_iter().max().unwrap_or(0)
    }

    /// The simulator's tenancy: every node's instance and VNIC, the controller's API user, and
    /// every VIP already assigned to its initial leader's (member 0's) VNIC, as in a cluster
    /// that has been running.
    pub fn inventory(&self, user: &str, pub_pem: &str, fingerprint: &str) -> Inventory {
        let instances = (0..self.nodes)
            .map(|i| Instance {
                fault_domain: Some(format!("FAULT-DOMAIN-{}", i % 3 + 1)),
                shape: Some("VM.Standard.E4.Flex".into()),
                ..Instance::running(
                    &self.instance_id(i),
                    &self.node_name(i),
                    "Uocm:PHX-AD-1",
                    vec![Vnic::primary(
                        &self.vnic_id(i),
                        &format!("02:00:17:40:{:02x}:{:02x}", i / 256, i % 256),
                        SUBNET,
                        &self.node_ip(i).to_string(),
                        &self.node_name(i),
                    )],
                )
            })
            .collect();
        let secondary_ips = (0..self.clusters)
            .map(|c| SecondaryIp {
                id: Some(format!("ocid1.privateip.oc1.phx.pgvipbench{c:04}")),
                ip_address: self.vip(c).to_string(),
                vnic_id: self.vnic_id(self.member_node(c, 0)),
                display_name: Some(self.scope(c)),
                hostname_label: None,
            })
            .collect();
        Inventory {
            tenancy_id: TENANCY.into(),
            compartment_id: COMPARTMENT.into(),
            region: "us-phoenix-1".into(),
            subnets: vec![Subnet {
                id: SUBNET.into(),
                vcn_id: "ocid1.vcn.oc1.phx.pgvipbench".into(),
                cidr_block: SUBNET_CIDR.into(),
                ipv6_cidr_block: None,
                virtual_router_ip: "10.64.0.1".into(),
            }],
            instances,
            users: vec![ApiUser {
                user_id: user.into(),
                fingerprint: fingerprint.into(),
                public_key_pem: pub_pem.into(),
                permissions: Permissions::default(),
            }],
            workload_tokens: vec![],
            secondary_ips,
        }
    }

    /// Node object `i` (providerID names its instance).
    pub fn node_object(&self, i: usize) -> Value {
        json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name(i), "labels": {"kubernetes.io/hostname": self.node_name(i)}},
            "spec": {"providerID": format!("oci://{}", self.instance_id(i))}})
    }

    /// Pod object of member `m` of cluster `c`, bound to its node, with Patroni's labels.
    pub fn pod_object(&self, c: usize, m: usize) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.member(c, m), "namespace": DB_NAMESPACE,
                         "labels": {"application": "patroni", "cluster-name": self.scope(c)}},
            "spec": {"nodeName": self.node_name(self.member_node(c, m)), "automountServiceAccountToken": false,
                     "containers": [{"name": "postgres", "image": "bench.invalid/patroni:synthetic"}]}})
    }

    /// Status of that pod: Running with its (loopback) pod IP.
    pub fn pod_status(&self, c: usize, m: usize, now: &str) -> Value {
        let ip = self.pod_ip(c, m).to_string();
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.member(c, m), "namespace": DB_NAMESPACE},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}})
    }

    /// Patroni's leader lock of cluster `c` (`<scope>-leader` ConfigMap annotations) naming
    /// member `leader`, renewed at `renew`, after `transitions` leader changes.
    pub fn leader_object(&self, c: usize, leader: usize, renew: &str, transitions: u32) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{}-leader", self.scope(c)), "namespace": DB_NAMESPACE,
                         "labels": {"application": "patroni", "cluster-name": self.scope(c)},
                         "annotations": {"leader": self.member(c, leader), "acquireTime": renew, "renewTime": renew,
                                         "ttl": TTL_SECS.to_string(), "transitions": transitions.to_string(),
                                         "optime": "67108960"}}})
    }

    /// The PostgresVip of cluster `c`.
    pub fn vip_object(&self, c: usize) -> Value {
        json!({"apiVersion": "pgvip.dev/v1alpha1", "kind": "PostgresVip",
            "metadata": {"name": format!("{}-rw", self.scope(c)), "namespace": DB_NAMESPACE},
            "spec": {"address": self.vip(c).to_string(), "role": "primary",
                     "patroni": {"scope": self.scope(c), "restApi": {"port": self.rest_port}},
                     "provider": {"oci": {"subnetId": SUBNET}},
                     "announce": {"garpCount": 1, "garpIntervalMillis": 100}}})
    }

    /// Name of cluster `c`'s PostgresVip.
    pub fn vip_name(&self, c: usize) -> String {
        format!("{}-rw", self.scope(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn w(clusters: usize, nodes: usize) -> World {
        World {
            clusters,
            nodes,
            rest_port: 18008,
        }
    }

    #[test]
    fn addresses_are_unique_and_inside_their_ranges() {
        let world = w(MAX_CLUSTERS, 1000);
        world.validate().unwrap();
        let vips: BTreeSet<_> = (0..world.clusters).map(|c| world.vip(c)).collect();
        let nodes: BTreeSet<_> = (0..world.nodes).map(|i| world.node_ip(i)).collect();
        assert_eq!(vips.len(), MAX_CLUSTERS);
        assert!(vips.is_disjoint(&nodes));
        // Everything in 10.64.0.0/20.
        for ip in vips.iter().chain(nodes.iter()) {
            assert_eq!(u32::from(*ip) >> 12, SUBNET_BASE >> 12, "{ip}");
        }
        let pods: BTreeSet<_> = (0..world.clusters)
            .flat_map(|c| (0..MEMBERS).map(move |m| (c, m)))
            .map(|(c, m)| world.pod_ip(c, m))
            .collect();
        assert_eq!(pods.len(), MAX_CLUSTERS * MEMBERS);
        assert!(pods
            .iter()
            .all(|ip| ip.is_loopback() && ip.octets()[3] >= 10));
    }

    #[test]
    fn members_of_a_cluster_sit_on_different_nodes() {
        let world = w(1000, 24);
        for c in 0..world.clusters {
            assert_ne!(world.member_node(c, 0), world.member_node(c, 1));
        }
    }

    #[test]
    fn storm_clusters_are_distinct_and_spread() {
        let world = w(1000, 24);
        let s = world.storm_clusters(200);
        assert_eq!(s.len(), 200);
        assert_eq!(s.iter().collect::<BTreeSet<_>>().len(), 200);
        assert_eq!(&s[..3], &[0, 1, 2], "first round: one per node");
        assert!(s.iter().all(|&c| c < 1000));
        // Every node receives 8 or 9 of the 200 moves.
        let mut incoming = vec![0; 24];
        for &c in &s {
            incoming[world.member_node(c, 1)] += 1;
        }
        assert!(
            incoming.iter().all(|&k| (8..=9).contains(&k)),
            "{incoming:?}"
        );
        // Small worlds: everything, once.
        for (clusters, nodes) in [(10, 3), (7, 5), (3, 10)] {
            let s = w(clusters, nodes).storm_clusters(200);
            assert_eq!(s.iter().collect::<BTreeSet<_>>().len(), clusters, "{s:?}");
        }
    }

    #[test]
    fn the_default_worlds_fit_the_vnic_limit() {
        // 1,000 clusters on 50 nodes: 20 VIPs each, plus 4 incoming and the primary.
        let world = w(1000, 50);
        assert_eq!(world.peak_ips_per_vnic(&world.storm_clusters(200)), 25);
        // The old storm (every 5th cluster) sent 20 moves to each of 10 nodes: 41 > 32.
        let every_fifth: Vec<usize> = (0..200).map(|k| k * 5).collect();
        assert_eq!(world.peak_ips_per_vnic(&every_fifth), 41);
        let small = w(100, 10);
        assert_eq!(small.peak_ips_per_vnic(&small.storm_clusters(20)), 13);
    }

    #[test]
    fn limits() {
        assert!(w(0, 24).validate().is_err());
        assert!(w(MAX_CLUSTERS + 1, 24).validate().is_err());
        assert!(w(10, 1).validate().is_err());
    }

    #[test]
    fn inventory_puts_each_vip_on_its_first_leader() {
        let world = w(30, 4);
        let inv = world.inventory("u", "pem", "fp");
        assert_eq!(inv.instances.len(), 4);
        assert_eq!(inv.secondary_ips.len(), 30);
        assert_eq!(inv.secondary_ips[5].vnic_id, world.vnic_id(1));
        assert_eq!(inv.secondary_ips[5].ip_address, "10.64.4.5");
        let st = pgvip_cloudsim::state::State::from_inventory(&inv);
        assert!(st.is_ok(), "the simulator accepts the inventory");
    }

    #[test]
    fn objects_name_what_the_controller_parses() {
        let world = w(30, 4);
        let l = world.leader_object(7, 1, "2026-01-01T00:00:00+00:00", 1);
        assert_eq!(l["metadata"]["name"], "c0007-leader");
        assert_eq!(l["metadata"]["annotations"]["leader"], "c0007-1");
        let p = world.pod_object(7, 1);
        assert_eq!(p["metadata"]["labels"]["cluster-name"], "c0007");
        assert_eq!(p["spec"]["nodeName"], "bench-w000");
        let v = world.vip_object(7);
        assert_eq!(v["spec"]["patroni"]["restApi"]["port"], 18008);
        let _: pgvip_api::PostgresVip = serde_json::from_value(v).unwrap();
    }
}
