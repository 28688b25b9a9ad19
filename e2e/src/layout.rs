//! The testbed's fixed shape: namespace names, addresses, MACs, ports and OCIDs. Pure data, so
//! every part (harness, simulator inventory, tests, demo) derives the same names from one place,
//! and the env file can describe a running testbed completely.

use std::path::PathBuf;

/// One simulated worker node: a network namespace with one interface in the subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLayout {
    /// Kubernetes Node name, also the instance display name.
    pub name: String,
    /// Network namespace.
    pub netns: String,
    /// Interface inside the namespace (the VNIC as the OS sees it).
    pub ifname: String,
    /// The VNIC's primary private IP.
    pub ip: String,
    /// The VNIC's MAC address.
    pub mac: String,
    /// The veth end on the fabric bridge that stands for this VNIC.
    pub fabric_port: String,
    /// Instance OCID (Node `spec.providerID` is `oci://` + this).
    pub instance_id: String,
    /// VNIC OCID.
    pub vnic_id: String,
    /// Patroni member / Pod name hosted on this node.
    pub member: String,
}

/// A non-node host attached to the fabric (the application client, the controller's host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLayout {
    /// Network namespace.
    pub netns: String,
    /// Its address in the subnet.
    pub ip: String,
    /// Its MAC address.
    pub mac: String,
    /// The veth end on the fabric bridge.
    pub fabric_port: String,
}

/// Everything fixed about a testbed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Directory holding state, logs, PKI and the env file.
    pub state_dir: PathBuf,
    /// Prefix of every namespace and of the Patroni scope's resources.
    pub prefix: String,
    /// The fabric namespace (holds bridge `br0` and the simulator's nftables table).
    pub fabric_netns: String,
    /// Subnet CIDR.
    pub subnet_cidr: String,
    /// Prefix length of the subnet.
    pub subnet_prefix: u8,
    /// The VIP under test.
    pub vip: String,
    /// Worker nodes.
    pub nodes: Vec<NodeLayout>,
    /// The application client's host.
    pub client: HostLayout,
    /// The host the controller runs on (a pod-network stand-in that reaches pods and the VIP).
    pub controller_host: HostLayout,
    /// etcd client port on loopback.
    pub etcd_port: u16,
    /// etcd peer port on loopback.
    pub etcd_peer_port: u16,
    /// kube-apiserver secure port on loopback (and, by forwarders, inside every namespace).
    pub apiserver_port: u16,
    /// OCI simulator HTTPS port on loopback (and forwarded into the controller's namespace).
    pub oci_port: u16,
    /// OCI simulator admin port (fault injection, call log), loopback only.
    pub oci_admin_port: u16,
    /// Kubernetes namespace of the Postgres cluster and its PostgresVip.
    pub db_namespace: String,
    /// Kubernetes namespace of pgvip itself.
    pub system_namespace: String,
    /// Patroni scope.
    pub scope: String,
    /// OCIDs of the simulated tenancy.
    pub tenancy_id: String,
    /// Compartment OCID.
    pub compartment_id: String,
    /// Subnet OCID.
    pub subnet_id: String,
    /// VCN OCID.
    pub vcn_id: String,
    /// Region identifier.
    pub region: String,
}

impl Layout {
    /// The standard three-worker testbed rooted at `state_dir`.
    pub fn standard(state_dir: PathBuf) -> Self {
        let region = "us-phoenix-1".to_string();
        let ocid = |kind: &str, n: &str| format!("ocid1.{kind}.oc1.phx.pgviptestbed{n}");
        let nodes = (1..=3)
            .map(|i| NodeLayout {
                name: format!("worker-{i}"),
                netns: format!("pgvip-n{i}"),
                ifname: "ens3".to_string(),
                ip: format!("10.0.10.{}", 10 + i),
                mac: format!("02:00:0a:00:0a:{:02x}", 10 + i),
                fabric_port: format!("vn{i}"),
                instance_id: ocid("instance", &format!("node{i}")),
                vnic_id: ocid("vnic", &format!("node{i}")),
                member: format!("pg-{}", i - 1),
            })
            .collect();
        let host = |ns: &str, last: u8, port: &str| HostLayout {
            netns: ns.to_string(),
            ip: format!("10.0.10.{last}"),
            mac: format!("02:00:0a:00:0a:{last:02x}"),
            fabric_port: port.to_string(),
        };
        Layout {
            state_dir,
            prefix: "pgvip".to_string(),
            fabric_netns: "pgvip-fab".to_string(),
            subnet_cidr: "10.0.10.0/24".to_string(),
            subnet_prefix: 24,
            vip: "10.0.10.200".to_string(),
            nodes,
            client: host("pgvip-client", 100, "vclient"),
            controller_host: host("pgvip-cp", 5, "vcp"),
            etcd_port: 23790,
            etcd_peer_port: 23800,
            apiserver_port: 16443,
            oci_port: 18443,
            oci_admin_port: 18444,
            db_namespace: "db".to_string(),
            system_namespace: "pgvip-system".to_string(),
            scope: "orders".to_string(),
            tenancy_id: "ocid1.tenancy.oc1..pgviptestbed".to_string(),
            compartment_id: "ocid1.compartment.oc1..pgviptestbed".to_string(),
            subnet_id: ocid("subnet", "main"),
            vcn_id: ocid("vcn", "main"),
            region,
        }
    }

    /// Every network namespace the testbed creates, fabric last (deleted last).
    pub fn all_netns(&self) -> Vec<String> {
        let mut v: Vec<String> = self.nodes.iter().map(|n| n.netns.clone()).collect();
        v.push(self.client.netns.clone());
        v.push(self.controller_host.netns.clone());
        v.push(self.fabric_netns.clone());
        v
    }

    /// Namespaces that get loopback forwarders to the apiserver.
    pub fn forwarded_netns(&self) -> Vec<String> {
        let mut v: Vec<String> = self.nodes.iter().map(|n| n.netns.clone()).collect();
        v.push(self.client.netns.clone());
        v.push(self.controller_host.netns.clone());
        v
    }

    /// The node with this Kubernetes name.
    pub fn node(&self, name: &str) -> Option<&NodeLayout> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Path under the state directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.state_dir.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_fit_linux_limits() {
        let l = Layout::standard("/tmp/x".into());
        let mut ns = l.all_netns();
        ns.sort();
        ns.dedup();
        assert_eq!(ns.len(), 6);
        for n in &l.nodes {
            assert!(n.fabric_port.len() <= 15 && n.ifname.len() <= 15);
            assert!(l.subnet_cidr.starts_with("10.0.10."));
        }
        let ips: std::collections::BTreeSet<_> = l
            .nodes
            .iter()
            .map(|n| n.ip.clone())
            .chain([
                l.client.ip.clone(),
                l.controller_host.ip.clone(),
                l.vip.clone(),
            ])
            .collect();
        assert_eq!(ips.len(), 6);
    }
}
