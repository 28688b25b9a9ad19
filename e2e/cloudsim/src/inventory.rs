//! The simulator's starting world, read from JSON (camelCase field names).
//!
//! The testbed harness writes one `Inventory`; [`crate::state::State::from_inventory`]
//! validates it and turns it into the live control-plane state.

use serde::{Deserialize, Serialize};

/// Everything the simulated tenancy contains at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Tenancy OCID (`ocid1.tenancy.oc1..…`); the first part of every API key id.
    pub tenancy_id: String,
    /// Compartment OCID holding the instances, VNICs and private IPs.
    pub compartment_id: String,
    /// Region identifier, e.g. `us-ashburn-1`.
    pub region: String,
    /// Subnets of the VCN.
    pub subnets: Vec<Subnet>,
    /// Compute instances with their VNICs.
    pub instances: Vec<Instance>,
    /// API-key users (principals for `tenancy/user/fingerprint` key ids).
    #[serde(default)]
    pub users: Vec<ApiUser>,
    /// Kubernetes service-account tokens accepted by the OKE workload-identity endpoint.
    #[serde(default)]
    pub workload_tokens: Vec<WorkloadToken>,
    /// Secondary private IPs (IPv4 or IPv6) that exist before the test starts.
    #[serde(default)]
    pub secondary_ips: Vec<SecondaryIp>,
}

/// A regional subnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// Subnet OCID.
    pub id: String,
    /// VCN OCID.
    pub vcn_id: String,
    /// IPv4 CIDR, e.g. `10.0.10.0/24`.
    pub cidr_block: String,
    /// IPv6 CIDR (a /64), when the subnet is dual-stack.
    #[serde(default)]
    pub ipv6_cidr_block: Option<String>,
    /// The subnet's gateway address (first usable address in OCI).
    pub virtual_router_ip: String,
}

/// A compute instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Instance OCID (what a Node's `spec.providerID` names).
    pub id: String,
    /// Display name (the node name in the testbed).
    pub display_name: String,
    /// Compartment; the inventory's compartment when absent.
    #[serde(default)]
    pub compartment_id: Option<String>,
    /// Availability domain, e.g. `Uocm:PHX-AD-1`.
    pub availability_domain: String,
    /// Fault domain; `FAULT-DOMAIN-1` when absent.
    #[serde(default)]
    pub fault_domain: Option<String>,
    /// Lifecycle state (`RUNNING`, `STOPPED`, …).
    #[serde(default = "running")]
    pub lifecycle_state: String,
    /// Shape; `VM.Standard.E4.Flex` when absent.
    #[serde(default)]
    pub shape: Option<String>,
    /// VNICs attached to the instance (nicIndex 0 is the primary VNIC).
    pub vnics: Vec<Vnic>,
    /// What the instance principal (and its IMDS identity) may do.
    #[serde(default)]
    pub permissions: Permissions,
    /// Fixed port for this instance's IMDS listener (ephemeral when absent).
    #[serde(default)]
    pub imds_port: Option<u16>,
}

/// A VNIC and its attachment to an instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vnic {
    /// VNIC OCID.
    pub id: String,
    /// MAC address, `02:00:17:…` style, lower case.
    pub mac_address: String,
    /// Subnet OCID.
    pub subnet_id: String,
    /// The VNIC's primary private IPv4 address.
    pub private_ip: String,
    /// Hostname label of the primary private IP.
    #[serde(default)]
    pub hostname_label: Option<String>,
    /// Index of the physical NIC; 0 means the instance's primary VNIC.
    #[serde(default)]
    pub nic_index: u32,
    /// VNIC attachment OCID.
    pub attachment_id: String,
    /// Attachment lifecycle state (`ATTACHED` when absent).
    #[serde(default = "attached")]
    pub attachment_lifecycle_state: String,
    /// OCID of the primary private IP object (generated when absent).
    #[serde(default)]
    pub primary_private_ip_id: Option<String>,
    /// Name of the veth port on the fabric bridge that is this VNIC.
    #[serde(default)]
    pub fabric_port: Option<String>,
}

/// A user authenticating with an API signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUser {
    /// User OCID.
    pub user_id: String,
    /// MD5 fingerprint of the public key, colon-separated lower-case hex.
    pub fingerprint: String,
    /// The public key (PEM, `PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub public_key_pem: String,
    /// What this user may do.
    #[serde(default)]
    pub permissions: Permissions,
}

/// A service-account token the OKE workload-identity endpoint accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadToken {
    /// The bearer token exactly as the pod presents it.
    pub token: String,
    /// Principal name recorded in the call log and the session token's `sub`
    /// (e.g. `workload:pgvip-system/pgvip-controller`).
    pub principal: String,
    /// What this workload may do.
    #[serde(default)]
    pub permissions: Permissions,
}

/// A secondary private IP present at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondaryIp {
    /// OCID; generated when absent (`ocid1.privateip…` or `ocid1.ipv6…`).
    #[serde(default)]
    pub id: Option<String>,
    /// IPv4 or IPv6 address.
    pub ip_address: String,
    /// VNIC holding it.
    pub vnic_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Hostname label (IPv4 only).
    #[serde(default)]
    pub hostname_label: Option<String>,
}

/// IAM permissions of a principal, reduced to what pgvip needs.
///
/// `read` stands for `inspect/read instances, vnics, vnic-attachments, private-ips`;
/// `update` for `use vnics` + `use private-ips` (create, move, delete). A principal lacking
/// the needed one gets 404 NotAuthorizedOrNotFound, as OCI answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    /// May read instances, VNICs, attachments and private IPs.
    #[serde(default = "yes")]
    pub read: bool,
    /// May create, move and delete private IPs.
    #[serde(default = "yes")]
    pub update: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            read: true,
            update: true,
        }
    }
}

fn yes() -> bool {
    true
}
fn running() -> String {
    "RUNNING".into()
}
fn attached() -> String {
    "ATTACHED".into()
}

impl Vnic {
    /// An instance's primary VNIC (nicIndex 0), ATTACHED, in `subnet_id`, whose primary private
    /// IP is `private_ip` with the hostname label `hostname`. The attachment OCID is the VNIC's
    /// with `vnicattachment` for `vnic`; no fabric port.
    pub fn primary(id: &str, mac: &str, subnet_id: &str, private_ip: &str, hostname: &str) -> Vnic {
        Vnic {
            id: id.into(),
            mac_address: mac.into(),
            subnet_id: subnet_id.into(),
            private_ip: private_ip.into(),
            hostname_label: Some(hostname.into()),
            nic_index: 0,
            attachment_id: id.replacen("ocid1.vnic.", "ocid1.vnicattachment.", 1),
            attachment_lifecycle_state: attached(),
            primary_private_ip_id: None,
            fabric_port: None,
        }
    }
}

impl Instance {
    /// A RUNNING instance in the inventory's compartment with default fault domain, shape and
    /// permissions, and an ephemeral IMDS port.
    pub fn running(
        id: &str,
        display_name: &str,
        availability_domain: &str,
        vnics: Vec<Vnic>,
    ) -> Instance {
        Instance {
            id: id.into(),
            display_name: display_name.into(),
            compartment_id: None,
            availability_domain: availability_domain.into(),
            fault_domain: None,
            lifecycle_state: running(),
            shape: None,
            vnics,
            permissions: Permissions::default(),
            imds_port: None,
        }
    }
}

impl Inventory {
    /// A small world used by tests and documentation: one tenancy, a dual-stack subnet
    /// `10.0.10.0/24` (+ `fd00:10::/64`) with nodes `n1` and `n2` (fabric ports `pa`, `pb`),
    /// a second subnet `10.0.20.0/24` with node `n3` (port `pc`), and the VIP `10.0.10.200`
    /// on `n1`'s VNIC. No users: add [`ApiUser`]s for the keys a test holds.
    pub fn example() -> Inventory {
        let vnic = |n: u8, subnet: &str, ip: &str, port: &str| Vnic {
            fabric_port: Some(port.into()),
            ..Vnic::primary(
                &format!("ocid1.vnic.oc1.iad.n{n}"),
                &format!("02:00:17:00:00:0{n}"),
                subnet,
                ip,
                &format!("n{n}"),
            )
        };
        let instance = |n: u8, v: Vnic| {
            Instance::running(
                &format!("ocid1.instance.oc1.iad.n{n}"),
                &format!("n{n}"),
                "Uocm:US-ASHBURN-AD-1",
                vec![v],
            )
        };
        let a = "ocid1.subnet.oc1.iad.a";
        let b = "ocid1.subnet.oc1.iad.b";
        Inventory {
            tenancy_id: "ocid1.tenancy.oc1..ocisim".into(),
            compartment_id: "ocid1.compartment.oc1..ocisim".into(),
            region: "us-ashburn-1".into(),
            subnets: vec![
                Subnet {
                    id: a.into(),
                    vcn_id: "ocid1.vcn.oc1.iad.v".into(),
                    cidr_block: "10.0.10.0/24".into(),
                    ipv6_cidr_block: Some("fd00:10::/64".into()),
                    virtual_router_ip: "10.0.10.1".into(),
                },
                Subnet {
                    id: b.into(),
                    vcn_id: "ocid1.vcn.oc1.iad.v".into(),
                    cidr_block: "10.0.20.0/24".into(),
                    ipv6_cidr_block: None,
                    virtual_router_ip: "10.0.20.1".into(),
                },
            ],
            instances: vec![
                instance(1, vnic(1, a, "10.0.10.11", "pa")),
                instance(2, vnic(2, a, "10.0.10.12", "pb")),
                instance(3, vnic(3, b, "10.0.20.13", "pc")),
            ],
            users: vec![],
            workload_tokens: vec![],
            secondary_ips: vec![SecondaryIp {
                id: Some("ocid1.privateip.oc1.iad.vip".into()),
                ip_address: "10.0.10.200".into(),
                vnic_id: "ocid1.vnic.oc1.iad.n1".into(),
                display_name: Some("vip".into()),
                hostname_label: None,
            }],
        }
    }
}
