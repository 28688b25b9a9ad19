//! Core Services JSON shapes (API version 20160918), with OCI's camelCase field names.
//!
//! Data flow: the client decodes responses into these structs (unknown fields ignored, optional
//! fields tolerated) and converts private IPs and IPv6 objects into one [`IpRecord`] that the
//! decision logic works on. Request bodies are built from the `*Details` structs.

use serde::{Deserialize, Serialize};

/// `GET /instances/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Instance OCID.
    pub id: String,
    /// Compartment OCID.
    pub compartment_id: String,
    /// `RUNNING`, `STOPPED`...
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// An element of `GET /vnicAttachments`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VnicAttachment {
    /// Attachment OCID.
    pub id: String,
    /// Instance OCID.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// VNIC OCID (absent while attaching).
    #[serde(default)]
    pub vnic_id: Option<String>,
    /// Subnet of the VNIC (a hint; the VNIC itself is authoritative).
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// `ATTACHING`, `ATTACHED`, `DETACHING`, `DETACHED`.
    pub lifecycle_state: String,
}

/// `GET /vnics/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Vnic {
    /// VNIC OCID.
    pub id: String,
    /// Subnet OCID.
    pub subnet_id: String,
    /// Primary private IPv4 address.
    #[serde(default)]
    pub private_ip: Option<String>,
    /// Whether this is the instance's primary VNIC.
    #[serde(default)]
    pub is_primary: Option<bool>,
    /// `AVAILABLE`...
    #[serde(default)]
    pub lifecycle_state: Option<String>,
}

/// A private IPv4 object (`/privateIps`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateIp {
    /// Private IP OCID.
    pub id: String,
    /// VNIC it is assigned to (absent for an unassigned reserved IP).
    #[serde(default)]
    pub vnic_id: Option<String>,
    /// The address.
    pub ip_address: String,
    /// Subnet OCID.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// True for a VNIC's primary IP (cannot move).
    #[serde(default)]
    pub is_primary: Option<bool>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Hostname label.
    #[serde(default)]
    pub hostname_label: Option<String>,
    /// Compartment OCID.
    #[serde(default)]
    pub compartment_id: Option<String>,
    /// Lifecycle state, when the service reports one.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub time_created: Option<String>,
}

/// An IPv6 object (`/ipv6`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ipv6 {
    /// IPv6 OCID.
    pub id: String,
    /// VNIC it is assigned to.
    #[serde(default)]
    pub vnic_id: Option<String>,
    /// The address.
    pub ip_address: String,
    /// Subnet OCID.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Compartment OCID.
    #[serde(default)]
    pub compartment_id: Option<String>,
    /// `AVAILABLE`...
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub time_created: Option<String>,
}

/// Body of `POST /privateIps` and `POST /ipv6`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CreateIpDetails {
    /// Target VNIC.
    pub vnic_id: String,
    /// The address.
    pub ip_address: String,
    /// Optional display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Body of `PUT /privateIps/{id}` and `PUT /ipv6/{id}`: only the VNIC changes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateIpDetails {
    /// Target VNIC.
    pub vnic_id: String,
}

/// A private IPv4 or IPv6 object, as the decision logic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRecord {
    /// OCID.
    pub id: String,
    /// Current VNIC, if assigned.
    pub vnic_id: Option<String>,
    /// Address text.
    pub ip_address: String,
    /// Primary IP of its VNIC (IPv6 objects are never primary).
    pub is_primary: bool,
    /// Compartment of the address object, when OCI reports it (for policy hints).
    pub compartment_id: Option<String>,
}

impl From<PrivateIp> for IpRecord {
    fn from(p: PrivateIp) -> Self {
        IpRecord {
            id: p.id,
            vnic_id: p.vnic_id.filter(|v| !v.is_empty()),
            ip_address: p.ip_address,
            is_primary: p.is_primary.unwrap_or(false),
            compartment_id: p.compartment_id,
        }
    }
}

impl From<Ipv6> for IpRecord {
    fn from(p: Ipv6) -> Self {
        IpRecord {
            id: p.id,
            vnic_id: p.vnic_id.filter(|v| !v.is_empty()),
            ip_address: p.ip_address,
            is_primary: false,
            compartment_id: p.compartment_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_real_field_names() {
        let p: PrivateIp = serde_json::from_str(
            r#"{"availabilityDomain":"Uocm:PHX-AD-1","compartmentId":"c","definedTags":{},
                "displayName":"vip","freeformTags":{},"hostnameLabel":null,"id":"ocid1.privateip.x",
                "ipAddress":"10.0.1.100","isPrimary":false,"subnetId":"s","timeCreated":"2024-01-01T00:00:00.000Z",
                "vnicId":"ocid1.vnic.a"}"#,
        )
        .unwrap();
        let r = IpRecord::from(p);
        assert_eq!(r.vnic_id.as_deref(), Some("ocid1.vnic.a"));
        assert!(!r.is_primary);

        let a: Vec<VnicAttachment> = serde_json::from_str(
            r#"[{"id":"att","instanceId":"i","lifecycleState":"ATTACHING","vnicId":null},
                {"id":"att2","instanceId":"i","lifecycleState":"ATTACHED","vnicId":"v","subnetId":"s","nicIndex":0}]"#,
        )
        .unwrap();
        assert_eq!(a[0].vnic_id, None);
        assert_eq!(a[1].subnet_id.as_deref(), Some("s"));

        let body = serde_json::to_string(&CreateIpDetails {
            vnic_id: "v".into(),
            ip_address: "10.0.1.100".into(),
            display_name: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"vnicId":"v","ipAddress":"10.0.1.100"}"#);
        assert_eq!(
            serde_json::to_string(&UpdateIpDetails {
                vnic_id: "v".into()
            })
            .unwrap(),
            r#"{"vnicId":"v"}"#
        );
    }
}
