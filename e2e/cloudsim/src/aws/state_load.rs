//! Building the EC2 state from an [`AwsInventory`]: validation, then the pre-existing
//! secondary addresses assigned through the same rules as `AssignPrivateIpAddresses`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::{AssignRequest, AttachmentRec, AwsState, EniRec, SubnetRec};
use crate::aws::inventory::AwsInventory;
use crate::cidr::Cidr;
use crate::Error;

fn id_ok(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl AwsState {
    /// Validates the inventory and builds the state.
    pub fn from_inventory(inv: &AwsInventory) -> crate::Result<AwsState> {
        let bad = |m: String| Error::Inventory(m);
        let mut st = AwsState {
            account_id: inv.account_id.clone(),
            region: inv.region.clone(),
            subnets: BTreeMap::new(),
            instances: BTreeMap::new(),
            enis: BTreeMap::new(),
            secondaries: BTreeMap::new(),
            retired: BTreeSet::new(),
        };
        for s in &inv.subnets {
            let cidr = Cidr::parse(&s.cidr_block)
                .filter(|c| c.addr.is_ipv4())
                .ok_or_else(|| bad(format!("subnet {}: bad cidrBlock", s.id)))?;
            st.subnets.insert(
                s.id.clone(),
                SubnetRec {
                    id: s.id.clone(),
                    vpc_id: s.vpc_id.clone(),
                    az: s.availability_zone.clone(),
                    cidr,
                    cidr_block: s.cidr_block.clone(),
                },
            );
        }
        for i in &inv.instances {
            if !id_ok(&i.id, "i-") {
                return Err(bad(format!("instance id {} is not i-<hex>", i.id)));
            }
            st.instances.insert(i.id.clone(), i.clone());
        }
        for e in &inv.network_interfaces {
            if !id_ok(&e.id, "eni-") {
                return Err(bad(format!("ENI id {} is not eni-<hex>", e.id)));
            }
            let subnet = st
                .subnets
                .get(&e.subnet_id)
                .ok_or_else(|| bad(format!("ENI {}: unknown subnet", e.id)))?;
            let ip: Ipv4Addr = e
                .private_ip_address
                .parse()
                .map_err(|_| bad(format!("ENI {}: bad privateIpAddress", e.id)))?;
            if !subnet.cidr.contains(IpAddr::V4(ip)) {
                return Err(bad(format!("ENI {}: primary IP outside its subnet", e.id)));
            }
            if st.enis.values().any(|o| o.primary_ip == ip) {
                return Err(bad(format!("ENI {}: primary IP {ip} used twice", e.id)));
            }
            let attachment = match &e.attachment {
                Some(a) => {
                    let inst = st
                        .instances
                        .get(&a.instance_id)
                        .ok_or_else(|| bad(format!("ENI {}: unknown instance", e.id)))?;
                    if inst.availability_zone != subnet.az {
                        return Err(bad(format!("ENI {}: instance in another AZ", e.id)));
                    }
                    Some(AttachmentRec {
                        id: a.attachment_id.clone().unwrap_or_else(|| {
                            format!("eni-attach-{}", e.id.trim_start_matches("eni-"))
                        }),
                        instance_id: a.instance_id.clone(),
                        device_index: a.device_index,
                        status: a.status.clone(),
                    })
                }
                None => None,
            };
            st.enis.insert(
                e.id.clone(),
                EniRec {
                    id: e.id.clone(),
                    subnet_id: e.subnet_id.clone(),
                    mac: e.mac_address.to_ascii_lowercase(),
                    port: e.fabric_port.clone(),
                    primary_ip: ip,
                    attachment,
                    limit: e.secondary_ip_limit,
                    description: e.description.clone(),
                },
            );
        }
        let now = Instant::now();
        for e in &inv.network_interfaces {
            if e.secondary_private_ip_addresses.is_empty() {
                continue;
            }
            let req = AssignRequest {
                addresses: e.secondary_private_ip_addresses.clone(),
                count: None,
                allow_reassignment: false,
            };
            st.assign(&e.id, &req, now, Duration::ZERO)
                .map_err(|err| bad(format!("ENI {}: {}", e.id, err.message)))?;
        }
        Ok(st)
    }
}
