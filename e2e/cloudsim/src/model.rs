//! OCI Core Services `20160918` JSON shapes (camelCase, OCI's field names) that the
//! simulator answers, and the request bodies it accepts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `Instance` (subset of OCI's fields pgvip or the SDKs read).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub availability_domain: String,
    pub compartment_id: String,
    pub defined_tags: Map<String, Value>,
    pub display_name: String,
    pub fault_domain: String,
    pub freeform_tags: Map<String, Value>,
    pub id: String,
    pub lifecycle_state: String,
    pub metadata: Map<String, Value>,
    pub region: String,
    pub shape: String,
    pub time_created: String,
}

/// `VnicAttachment`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VnicAttachment {
    pub availability_domain: String,
    pub compartment_id: String,
    pub display_name: Option<String>,
    pub id: String,
    pub instance_id: String,
    pub lifecycle_state: String,
    pub nic_index: u32,
    pub subnet_id: String,
    pub time_created: String,
    pub vlan_id: Option<String>,
    pub vlan_tag: Option<u32>,
    /// OCI leaves `vnicId` null while the attachment is ATTACHING.
    pub vnic_id: Option<String>,
}

/// `Vnic`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Vnic {
    pub availability_domain: String,
    pub compartment_id: String,
    pub defined_tags: Map<String, Value>,
    pub display_name: String,
    pub freeform_tags: Map<String, Value>,
    pub hostname_label: Option<String>,
    pub id: String,
    pub ipv6_addresses: Vec<String>,
    pub is_primary: bool,
    pub lifecycle_state: String,
    pub mac_address: String,
    pub nsg_ids: Vec<String>,
    pub private_ip: String,
    pub public_ip: Option<String>,
    pub skip_source_dest_check: bool,
    pub subnet_id: String,
    pub time_created: String,
    pub vlan_id: Option<String>,
}

/// `PrivateIp`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateIp {
    pub availability_domain: String,
    pub compartment_id: String,
    pub defined_tags: Map<String, Value>,
    pub display_name: String,
    pub freeform_tags: Map<String, Value>,
    pub hostname_label: Option<String>,
    pub id: String,
    pub ip_address: String,
    pub ip_state: String,
    pub is_primary: bool,
    pub is_reserved: bool,
    pub lifecycle_state: String,
    pub lifetime: String,
    pub subnet_id: String,
    pub time_created: String,
    pub vlan_id: Option<String>,
    pub vnic_id: Option<String>,
}

/// `Ipv6`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ipv6 {
    pub compartment_id: String,
    pub defined_tags: Map<String, Value>,
    pub display_name: String,
    pub freeform_tags: Map<String, Value>,
    pub id: String,
    pub ip_address: String,
    pub ip_state: String,
    pub lifecycle_state: String,
    pub lifetime: String,
    pub subnet_id: String,
    pub time_created: String,
    pub vnic_id: Option<String>,
}

/// `CreatePrivateIpDetails` / `CreateIpv6Details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateIpDetails {
    #[serde(default)]
    pub vnic_id: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub hostname_label: Option<String>,
    #[serde(default)]
    pub defined_tags: Option<Map<String, Value>>,
    #[serde(default)]
    pub freeform_tags: Option<Map<String, Value>>,
}

/// `UpdatePrivateIpDetails` / `UpdateIpv6Details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateIpDetails {
    #[serde(default)]
    pub vnic_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub hostname_label: Option<String>,
    #[serde(default)]
    pub defined_tags: Option<Map<String, Value>>,
    #[serde(default)]
    pub freeform_tags: Option<Map<String, Value>>,
}
