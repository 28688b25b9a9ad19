//! The testbed's fixed shape: namespace names, addresses, MACs, ports and cloud identifiers.
//! Pure data, so every part (harness, simulator inventory, tests, demo) derives the same names
//! from one place, and the env file can describe a running testbed completely. The cloud flavour
//! ([`CloudFlavour`]: OKE-like or EKS-like) only changes the identifiers and the simulator's
//! front; namespaces, addresses and the fabric are the same.

use std::path::PathBuf;

/// Which cloud the testbed imitates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CloudFlavour {
    /// OKE: OCI instances and VNICs, the simulator's OCI front.
    #[default]
    Oci,
    /// EKS: EC2 instances and ENIs, the simulator's EC2 front.
    Aws,
    /// Bare metal on one layer-2 segment: a plain bridge, no simulated cloud, no providerIDs.
    L2,
}

impl CloudFlavour {
    /// From `PGVIP_TESTBED_CLOUD` (`oci`, the default, `aws` or `l2`).
    pub fn from_env() -> Self {
        match std::env::var("PGVIP_TESTBED_CLOUD").as_deref() {
            Ok("aws") => CloudFlavour::Aws,
            Ok("l2") => CloudFlavour::L2,
            _ => CloudFlavour::Oci,
        }
    }

    /// The key of the PostgresVip provider block and of `--cloud-provider`.
    pub fn key(self) -> &'static str {
        match self {
            CloudFlavour::Oci => "oci",
            CloudFlavour::Aws => "aws",
            CloudFlavour::L2 => "l2",
        }
    }

    /// Whether a simulated cloud control plane runs (and programs the fabric).
    pub fn has_cloud(self) -> bool {
        self != CloudFlavour::L2
    }
}

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
    /// Its IPv6 address in the dual-stack subnet.
    pub ip6: String,
    /// The VNIC's MAC address.
    pub mac: String,
    /// The veth end on the fabric bridge that stands for this VNIC.
    pub fabric_port: String,
    /// Instance OCID or EC2 instance id (see [`Layout::provider_id`]); empty on L2.
    pub instance_id: String,
    /// VNIC OCID or ENI id: the interface the cloud binds the VIP to (on L2, the MAC).
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
    /// Its IPv6 address in the dual-stack subnet.
    pub ip6: String,
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
    /// The subnet's IPv6 CIDR (every host is dual-stack).
    pub subnet6_cidr: String,
    /// The IPv6 VIP of the suites' dual-stack checks.
    pub vip6: String,
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
    /// The cloud imitated.
    pub cloud: CloudFlavour,
    /// Availability zone of every instance (AWS flavour).
    pub zone: String,
}

impl Layout {
    /// The standard three-worker testbed rooted at `state_dir`, of the flavour
    /// `PGVIP_TESTBED_CLOUD` names.
    pub fn standard(state_dir: PathBuf) -> Self {
        Self::of(state_dir, CloudFlavour::from_env())
    }

    /// The standard three-worker testbed of `cloud` rooted at `state_dir`.
    pub fn of(state_dir: PathBuf, cloud: CloudFlavour) -> Self {
        let mut l = Self::oci(state_dir);
        if cloud == CloudFlavour::Aws {
            // EC2 ids are a prefix and 17 hex digits.
            let id = |kind: &str, n: u32| format!("{kind}-0a1b2c3d4e5f6070{n:x}");
            for (i, n) in l.nodes.iter_mut().enumerate() {
                n.instance_id = id("i", i as u32 + 1);
                n.vnic_id = id("eni", i as u32 + 1);
            }
            l.subnet_id = id("subnet", 0);
            l.vcn_id = id("vpc", 0);
            l.region = "us-west-2".to_string();
            l.zone = "us-west-2a".to_string();
            l.cloud = CloudFlavour::Aws;
        }
        if cloud == CloudFlavour::L2 {
            // No cloud: a node is its interface, named by its MAC (what a client's neighbour
            // entry for the VIP names when the address is delivered there).
            for n in &mut l.nodes {
                n.instance_id = String::new();
                n.vnic_id = n.mac.clone();
            }
            l.cloud = CloudFlavour::L2;
        }
        l
    }

    /// `spec.providerID` of `node`'s Kubernetes Node, as the cloud's controller manager sets it
    /// (none on bare metal).
    pub fn provider_id(&self, node: &NodeLayout) -> Option<String> {
        match self.cloud {
            CloudFlavour::Oci => Some(format!("oci://{}", node.instance_id)),
            CloudFlavour::Aws => Some(format!("aws:///{}/{}", self.zone, node.instance_id)),
            CloudFlavour::L2 => None,
        }
    }

    fn oci(state_dir: PathBuf) -> Self {
        let region = "us-phoenix-1".to_string();
        let ocid = |kind: &str, n: &str| format!("ocid1.{kind}.oc1.phx.pgviptestbed{n}");
        let nodes = (1..=3)
            .map(|i| NodeLayout {
                name: format!("worker-{i}"),
                netns: format!("pgvip-n{i}"),
                ifname: "ens3".to_string(),
                ip: format!("10.0.10.{}", 10 + i),
                ip6: format!("fd00:10::{}", 10 + i),
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
            ip6: format!("fd00:10::{last}"),
            mac: format!("02:00:0a:00:0a:{last:02x}"),
            fabric_port: port.to_string(),
        };
        Layout {
            state_dir,
            prefix: "pgvip".to_string(),
            fabric_netns: "pgvip-fab".to_string(),
            subnet_cidr: "10.0.10.0/24".to_string(),
            subnet_prefix: 24,
            subnet6_cidr: "fd00:10::/64".to_string(),
            vip6: "fd00:10::200".to_string(),
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
            cloud: CloudFlavour::Oci,
            zone: String::new(),
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

    #[test]
    fn aws_flavour_has_ec2_ids_and_the_same_network() {
        let oci = Layout::of("/tmp/x".into(), CloudFlavour::Oci);
        let aws = Layout::of("/tmp/x".into(), CloudFlavour::Aws);
        assert_eq!(
            aws.provider_id(&aws.nodes[0]).as_deref(),
            Some("aws:///us-west-2a/i-0a1b2c3d4e5f60701")
        );
        assert_eq!(
            oci.provider_id(&oci.nodes[0]),
            Some(format!("oci://{}", oci.nodes[0].instance_id))
        );
        let l2 = Layout::of("/tmp/x".into(), CloudFlavour::L2);
        assert_eq!(l2.provider_id(&l2.nodes[0]), None);
        assert_eq!(l2.nodes[0].vnic_id, l2.nodes[0].mac);
        assert_eq!(l2.all_netns(), oci.all_netns());
        let hex17 = |s: &str, p: &str| {
            s.strip_prefix(p)
                .is_some_and(|h| h.len() == 17 && h.chars().all(|c| c.is_ascii_hexdigit()))
        };
        assert!(hex17(&aws.subnet_id, "subnet-"), "{}", aws.subnet_id);
        for n in &aws.nodes {
            assert!(hex17(&n.instance_id, "i-") && hex17(&n.vnic_id, "eni-"));
        }
        assert_eq!(
            (aws.vip.as_str(), aws.all_netns()),
            (oci.vip.as_str(), oci.all_netns())
        );
    }
}
