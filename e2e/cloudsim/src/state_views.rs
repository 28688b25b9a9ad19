//! Read-only views of the state rendered as OCI JSON (`Instance`, `VnicAttachment`,
//! `Vnic`, `PrivateIp`, `Ipv6`).

use serde_json::Map;

use super::{IpRec, State};
use crate::api_error::ApiError;
use crate::model;

impl State {
    /// `GetInstance`.
    pub fn get_instance(&self, id: &str) -> Result<model::Instance, ApiError> {
        let (i, compartment) = self.instances.get(id).ok_or_else(ApiError::not_found)?;
        Ok(model::Instance {
            availability_domain: i.availability_domain.clone(),
            compartment_id: compartment.clone(),
            defined_tags: Map::new(),
            display_name: i.display_name.clone(),
            fault_domain: i
                .fault_domain
                .clone()
                .unwrap_or_else(|| "FAULT-DOMAIN-1".into()),
            freeform_tags: Map::new(),
            id: i.id.clone(),
            lifecycle_state: i.lifecycle_state.clone(),
            metadata: Map::new(),
            region: self.region.clone(),
            shape: i
                .shape
                .clone()
                .unwrap_or_else(|| "VM.Standard.E4.Flex".into()),
            time_created: "2024-01-01T00:00:00.000Z".into(),
        })
    }

    /// `ListVnicAttachments`: the compartment must be known (else 404), optional filters.
    pub fn list_vnic_attachments(
        &self,
        compartment_id: &str,
        instance_id: Option<&str>,
        vnic_id: Option<&str>,
        availability_domain: Option<&str>,
    ) -> Result<Vec<model::VnicAttachment>, ApiError> {
        if !self
            .vnics
            .values()
            .any(|v| v.compartment_id == compartment_id)
            && compartment_id != self.compartment_id
        {
            return Err(ApiError::not_found());
        }
        Ok(self
            .vnics
            .values()
            .filter(|v| v.compartment_id == compartment_id)
            .filter(|v| instance_id.is_none_or(|i| v.instance_id == i))
            .filter(|v| vnic_id.is_none_or(|i| v.id == i))
            .filter(|v| availability_domain.is_none_or(|a| v.availability_domain == a))
            .map(|v| model::VnicAttachment {
                availability_domain: v.availability_domain.clone(),
                compartment_id: v.compartment_id.clone(),
                display_name: None,
                id: v.attachment_id.clone(),
                instance_id: v.instance_id.clone(),
                lifecycle_state: v.attachment_state.clone(),
                nic_index: v.nic_index,
                subnet_id: v.subnet_id.clone(),
                time_created: v.time_created.clone(),
                vlan_id: None,
                vlan_tag: Some(0),
                vnic_id: (v.attachment_state != "ATTACHING").then(|| v.id.clone()),
            })
            .collect())
    }

    /// `GetVnic`.
    pub fn get_vnic(&self, id: &str) -> Result<model::Vnic, ApiError> {
        let v = self.vnics.get(id).ok_or_else(ApiError::not_found)?;
        let primary = self
            .ips
            .get(&v.primary_ip_id)
            .ok_or_else(|| ApiError::server(500))?;
        let mut v6: Vec<&IpRec> = self
            .ips
            .values()
            .filter(|r| r.vnic_id == v.id && !r.address.is_ipv4())
            .collect();
        v6.sort_by_key(|r| r.address);
        Ok(model::Vnic {
            availability_domain: v.availability_domain.clone(),
            compartment_id: v.compartment_id.clone(),
            defined_tags: Map::new(),
            display_name: v.display_name.clone(),
            freeform_tags: Map::new(),
            hostname_label: primary.hostname_label.clone(),
            id: v.id.clone(),
            ipv6_addresses: v6.iter().map(|r| r.address.to_string()).collect(),
            is_primary: v.nic_index == 0,
            lifecycle_state: vnic_lifecycle(&v.attachment_state).into(),
            mac_address: v.mac.to_ascii_uppercase(),
            nsg_ids: vec![],
            private_ip: primary.address.to_string(),
            public_ip: None,
            skip_source_dest_check: false,
            subnet_id: v.subnet_id.clone(),
            time_created: v.time_created.clone(),
            vlan_id: None,
        })
    }

    /// OCI JSON of an IPv4 private IP.
    pub fn render_private_ip(&self, r: &IpRec) -> model::PrivateIp {
        let v = self.vnics.get(&r.vnic_id);
        model::PrivateIp {
            availability_domain: v.map(|v| v.availability_domain.clone()).unwrap_or_default(),
            compartment_id: v
                .map(|v| v.compartment_id.clone())
                .unwrap_or_else(|| self.compartment_id.clone()),
            defined_tags: r.defined_tags.clone(),
            display_name: r.display_name.clone(),
            freeform_tags: r.freeform_tags.clone(),
            hostname_label: r.hostname_label.clone(),
            id: r.id.clone(),
            ip_address: r.address.to_string(),
            ip_state: "ASSIGNED".into(),
            is_primary: r.is_primary,
            is_reserved: false,
            lifecycle_state: "AVAILABLE".into(),
            lifetime: "EPHEMERAL".into(),
            subnet_id: r.subnet_id.clone(),
            time_created: r.time_created.clone(),
            vlan_id: None,
            vnic_id: Some(r.vnic_id.clone()),
        }
    }

    /// OCI JSON of an IPv6 address.
    pub fn render_ipv6(&self, r: &IpRec) -> model::Ipv6 {
        let v = self.vnics.get(&r.vnic_id);
        model::Ipv6 {
            compartment_id: v
                .map(|v| v.compartment_id.clone())
                .unwrap_or_else(|| self.compartment_id.clone()),
            defined_tags: r.defined_tags.clone(),
            display_name: r.display_name.clone(),
            freeform_tags: r.freeform_tags.clone(),
            id: r.id.clone(),
            ip_address: r.address.to_string(),
            ip_state: "ASSIGNED".into(),
            lifecycle_state: "AVAILABLE".into(),
            lifetime: "EPHEMERAL".into(),
            subnet_id: r.subnet_id.clone(),
            time_created: r.time_created.clone(),
            vnic_id: Some(r.vnic_id.clone()),
        }
    }
}

fn vnic_lifecycle(attachment_state: &str) -> &'static str {
    match attachment_state {
        "ATTACHING" => "PROVISIONING",
        "DETACHING" => "TERMINATING",
        "DETACHED" => "TERMINATED",
        _ => "AVAILABLE",
    }
}
