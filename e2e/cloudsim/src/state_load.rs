//! Building the state from an [`Inventory`]: validation, primary IP objects, and the
//! pre-existing secondary IPs (created through the same rules as `CreatePrivateIp`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Map;

use super::{new_etag, new_ocid, now, Family, IpRec, State, SubnetRec, VnicRec};
use crate::cidr::Cidr;
use crate::inventory::Inventory;
use crate::model::CreateIpDetails;

impl State {
    /// Validates the inventory and builds the state (primary IP objects included).
    pub fn from_inventory(inv: &Inventory) -> crate::Result<State> {
        let bad = |m: String| crate::Error::Inventory(m);
        let mut st = State {
            tenancy_id: inv.tenancy_id.clone(),
            compartment_id: inv.compartment_id.clone(),
            region: inv.region.clone(),
            subnets: BTreeMap::new(),
            instances: BTreeMap::new(),
            vnics: BTreeMap::new(),
            ips: BTreeMap::new(),
            retired: BTreeSet::new(),
        };
        for s in &inv.subnets {
            let v4 = Cidr::parse(&s.cidr_block).filter(|c| c.addr.is_ipv4());
            let v4 = v4.ok_or_else(|| bad(format!("subnet {}: bad cidrBlock", s.id)))?;
            let v6 = match &s.ipv6_cidr_block {
                Some(b) => Some(
                    Cidr::parse(b)
                        .filter(|c| !c.addr.is_ipv4())
                        .ok_or_else(|| bad(format!("subnet {}: bad ipv6CidrBlock", s.id)))?,
                ),
                None => None,
            };
            st.subnets.insert(
                s.id.clone(),
                SubnetRec {
                    inv: s.clone(),
                    v4,
                    v6,
                },
            );
        }
        for i in &inv.instances {
            let compartment = i
                .compartment_id
                .clone()
                .unwrap_or_else(|| inv.compartment_id.clone());
            for v in &i.vnics {
                let subnet = st
                    .subnets
                    .get(&v.subnet_id)
                    .ok_or_else(|| bad(format!("vnic {}: unknown subnet", v.id)))?;
                let ip: IpAddr = v
                    .private_ip
                    .parse()
                    .map_err(|_| bad(format!("vnic {}: bad privateIp", v.id)))?;
                if !subnet.v4.contains(ip) {
                    return Err(bad(format!("vnic {}: privateIp outside its subnet", v.id)));
                }
                let primary_ip_id = v
                    .primary_private_ip_id
                    .clone()
                    .unwrap_or_else(|| new_ocid("privateip", &inv.region));
                let t = now();
                st.vnics.insert(
                    v.id.clone(),
                    VnicRec {
                        id: v.id.clone(),
                        instance_id: i.id.clone(),
                        mac: v.mac_address.to_ascii_lowercase(),
                        subnet_id: v.subnet_id.clone(),
                        nic_index: v.nic_index,
                        attachment_id: v.attachment_id.clone(),
                        attachment_state: v.attachment_lifecycle_state.clone(),
                        fabric_port: v.fabric_port.clone(),
                        availability_domain: i.availability_domain.clone(),
                        compartment_id: compartment.clone(),
                        display_name: v
                            .hostname_label
                            .clone()
                            .unwrap_or_else(|| format!("{}-vnic{}", i.display_name, v.nic_index)),
                        time_created: t.clone(),
                        primary_ip_id: primary_ip_id.clone(),
                    },
                );
                st.insert_ip(IpRec {
                    id: primary_ip_id,
                    address: ip,
                    subnet_id: v.subnet_id.clone(),
                    vnic_id: v.id.clone(),
                    is_primary: true,
                    display_name: v.private_ip.clone(),
                    hostname_label: v.hostname_label.clone(),
                    defined_tags: Map::new(),
                    freeform_tags: Map::new(),
                    time_created: t,
                    etag: new_etag(),
                })
                .map_err(|e| bad(format!("vnic {}: {}", v.id, e.message)))?;
            }
            st.instances.insert(i.id.clone(), (i.clone(), compartment));
        }
        for s in &inv.secondary_ips {
            let details = CreateIpDetails {
                vnic_id: Some(s.vnic_id.clone()),
                ip_address: Some(s.ip_address.clone()),
                display_name: s.display_name.clone(),
                hostname_label: s.hostname_label.clone(),
                ..Default::default()
            };
            let ip: IpAddr = s
                .ip_address
                .parse()
                .map_err(|_| bad(format!("secondary ip {}: bad address", s.ip_address)))?;
            let mut rec = st
                .create_ip(Family::of(ip), &details)
                .map_err(|e| bad(format!("secondary ip {}: {}", s.ip_address, e.message)))?;
            if let Some(id) = &s.id {
                st.ips.remove(&rec.id);
                rec.id = id.clone();
                st.ips.insert(id.clone(), rec);
            }
        }
        Ok(st)
    }
}
