//! The control plane's state and the semantics of each operation, as pure methods.
//!
//! Handlers in [`crate::server`] authenticate and authorize, then call one method here
//! under a lock; the result is rendered to OCI JSON by the same module. Nothing here does
//! I/O, so every OCI rule (same-subnet moves, primary-IP refusal, etag checks, address
//! allocation) is table-tested below.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use rand::Rng;
use serde_json::Map;

use crate::api_error::ApiError;
use crate::cidr::Cidr;
use crate::inventory;
use crate::model::{CreateIpDetails, UpdateIpDetails};

pub use crate::fabric::Assignment;

/// IPv4 `PrivateIp` or `Ipv6` resources (same semantics, different paths and fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/privateIps`.
    V4,
    /// `/ipv6`.
    V6,
}

impl Family {
    fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
    fn ocid_kind(self) -> &'static str {
        match self {
            Family::V4 => "privateip",
            Family::V6 => "ipv6",
        }
    }
}

/// GUESS: OCI allows 32 IPv4 addresses per VNIC (primary + 31 secondary) and 32 IPv6.
pub const MAX_IPS_PER_VNIC: usize = 32;

/// A subnet with its parsed blocks.
#[derive(Debug, Clone)]
pub struct SubnetRec {
    /// As given in the inventory.
    pub inv: inventory::Subnet,
    v4: Cidr,
    v6: Option<Cidr>,
}

/// A VNIC with its attachment.
#[derive(Debug, Clone)]
pub struct VnicRec {
    /// VNIC OCID.
    pub id: String,
    /// Owning instance.
    pub instance_id: String,
    /// MAC address.
    pub mac: String,
    /// Subnet OCID.
    pub subnet_id: String,
    /// NIC index (0 = primary VNIC).
    pub nic_index: u32,
    /// Attachment OCID.
    pub attachment_id: String,
    /// Attachment lifecycle state.
    pub attachment_state: String,
    /// Fabric bridge port.
    pub fabric_port: Option<String>,
    availability_domain: String,
    compartment_id: String,
    display_name: String,
    time_created: String,
    primary_ip_id: String,
}

/// A private IP (IPv4, primary or secondary) or an IPv6 address.
#[derive(Debug, Clone, PartialEq)]
pub struct IpRec {
    /// OCID.
    pub id: String,
    /// Address.
    pub address: IpAddr,
    /// Subnet OCID.
    pub subnet_id: String,
    /// VNIC currently holding it.
    pub vnic_id: String,
    /// Whether it is its VNIC's primary IP (IPv4 only).
    pub is_primary: bool,
    /// Display name.
    pub display_name: String,
    /// Hostname label.
    pub hostname_label: Option<String>,
    /// Defined tags.
    pub defined_tags: Map<String, serde_json::Value>,
    /// Free-form tags.
    pub freeform_tags: Map<String, serde_json::Value>,
    /// Creation time, RFC 3339.
    pub time_created: String,
    /// Opaque version; changes on every modification.
    pub etag: String,
}

/// Filters of `ListPrivateIps` / `ListIpv6s`.
#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    /// `ipAddress`.
    pub ip_address: Option<String>,
    /// `subnetId`.
    pub subnet_id: Option<String>,
    /// `vnicId`.
    pub vnic_id: Option<String>,
}

/// The whole simulated control plane.
#[derive(Debug, Clone)]
pub struct State {
    /// Tenancy OCID.
    pub tenancy_id: String,
    /// Compartment OCID.
    pub compartment_id: String,
    /// Region.
    pub region: String,
    subnets: BTreeMap<String, SubnetRec>,
    instances: BTreeMap<String, (inventory::Instance, String)>,
    vnics: BTreeMap<String, VnicRec>,
    ips: BTreeMap<String, IpRec>,
    /// Secondary addresses that existed once and are now deleted (the fabric drops them).
    retired: BTreeSet<IpAddr>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn new_etag() -> String {
    format!("{:032x}", rand::thread_rng().gen::<u128>())
}

/// A fresh OCID of the given kind, e.g. `ocid1.privateip.oc1.us-ashburn-1.aaaa…`.
pub fn new_ocid(kind: &str, region: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    let tail: String = (0..60)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ocid1.{kind}.oc1.{region}.{tail}")
}

fn parse_ip(s: &str) -> Result<IpAddr, ApiError> {
    s.parse()
        .map_err(|_| ApiError::invalid(format!("Invalid IP address '{s}'.")))
}

impl State {
    fn insert_ip(&mut self, rec: IpRec) -> Result<(), ApiError> {
        if self
            .ips
            .values()
            .any(|r| r.address == rec.address && r.subnet_id == rec.subnet_id)
        {
            return Err(ApiError::conflict(format!(
                "IP address {} is already assigned in subnet {}.",
                rec.address, rec.subnet_id
            )));
        }
        self.retired.remove(&rec.address);
        self.ips.insert(rec.id.clone(), rec);
        Ok(())
    }

    /// The instance record (for IMDS).
    pub fn instance(&self, id: &str) -> Option<&inventory::Instance> {
        self.instances.get(id).map(|(i, _)| i)
    }

    /// The VNIC record.
    pub fn vnic(&self, id: &str) -> Option<&VnicRec> {
        self.vnics.get(id)
    }

    /// Sets a VNIC's attachment lifecycle state (`ATTACHED`, `DETACHING`, `DETACHED`, ...), as a
    /// console or Terraform detach would; the fabric is not affected.
    pub fn set_attachment_state(&mut self, vnic_id: &str, state: &str) -> Result<(), ApiError> {
        let v = self
            .vnics
            .get_mut(vnic_id)
            .ok_or_else(ApiError::not_found)?;
        v.attachment_state = state.to_string();
        Ok(())
    }

    /// VNICs of one instance, by NIC index.
    pub fn vnics_of(&self, instance_id: &str) -> Vec<&VnicRec> {
        let mut v: Vec<_> = self
            .vnics
            .values()
            .filter(|v| v.instance_id == instance_id)
            .collect();
        v.sort_by_key(|v| v.nic_index);
        v
    }

    /// The subnet record.
    pub fn subnet(&self, id: &str) -> Option<&SubnetRec> {
        self.subnets.get(id)
    }

    /// `ListPrivateIps` / `ListIpv6s`, sorted by address. GUESS: OCI's order.
    pub fn list_ips(&self, family: Family, f: &IpFilter) -> Result<Vec<IpRec>, ApiError> {
        if f.subnet_id.is_none() && f.vnic_id.is_none() {
            // GUESS: OCI's wording; it requires one of subnetId, vnicId (or vlanId).
            return Err(ApiError::missing("subnetId or vnicId"));
        }
        let addr = f.ip_address.as_deref().map(parse_ip).transpose()?;
        let mut out: Vec<IpRec> = self
            .ips
            .values()
            .filter(|r| Family::of(r.address) == family)
            .filter(|r| f.subnet_id.as_ref().is_none_or(|s| &r.subnet_id == s))
            .filter(|r| f.vnic_id.as_ref().is_none_or(|v| &r.vnic_id == v))
            .filter(|r| addr.is_none_or(|a| r.address == a))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.address);
        Ok(out)
    }

    /// `GetPrivateIp` / `GetIpv6`.
    pub fn get_ip(&self, family: Family, id: &str) -> Result<&IpRec, ApiError> {
        self.ips
            .get(id)
            .filter(|r| Family::of(r.address) == family)
            .ok_or_else(ApiError::not_found)
    }

    fn usable_vnic(&self, id: &str) -> Result<&VnicRec, ApiError> {
        let v = self.vnics.get(id).ok_or_else(ApiError::not_found)?;
        if v.attachment_state != "ATTACHED" {
            // GUESS: OCI answers 409 IncorrectState for a VNIC that is not AVAILABLE.
            return Err(ApiError::incorrect_state(format!(
                "VNIC {id} is not in the AVAILABLE state."
            )));
        }
        Ok(v)
    }

    fn check_label(
        &self,
        subnet_id: &str,
        label: Option<&str>,
        except: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(label) = label else { return Ok(()) };
        let ok = label.len() <= 63
            && label
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(ApiError::invalid(format!(
                "Invalid hostnameLabel '{label}'."
            )));
        }
        let taken = self.ips.values().any(|r| {
            r.subnet_id == subnet_id
                && Some(r.id.as_str()) != except
                && r.hostname_label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(label))
        });
        if taken {
            // GUESS: wording; OCI rejects duplicate hostname labels within a subnet with 409.
            return Err(ApiError::conflict(format!(
                "Hostname label '{label}' is already in use in subnet {subnet_id}."
            )));
        }
        Ok(())
    }

    /// `CreatePrivateIp` / `CreateIpv6`: allocates when `ipAddress` is absent.
    pub fn create_ip(&mut self, family: Family, d: &CreateIpDetails) -> Result<IpRec, ApiError> {
        let vnic_id = d
            .vnic_id
            .as_deref()
            .ok_or_else(|| ApiError::missing("vnicId"))?;
        let vnic = self.usable_vnic(vnic_id)?.clone();
        let subnet = self
            .subnets
            .get(&vnic.subnet_id)
            .ok_or_else(|| ApiError::server(500))?;
        let block = match family {
            Family::V4 => subnet.v4,
            Family::V6 => subnet.v6.ok_or_else(|| {
                ApiError::invalid(format!(
                    "Subnet {} does not have an IPv6 CIDR block.",
                    subnet.inv.id
                ))
            })?,
        };
        let count = self
            .ips
            .values()
            .filter(|r| r.vnic_id == vnic.id && Family::of(r.address) == family)
            .count();
        if count >= MAX_IPS_PER_VNIC {
            return Err(ApiError::limit_exceeded(format!(
                "VNIC {} already has the maximum number of IP addresses.",
                vnic.id
            )));
        }
        let address = match &d.ip_address {
            Some(s) => {
                let ip = parse_ip(s)?;
                if Family::of(ip) != family {
                    return Err(ApiError::invalid(format!("Invalid IP address '{s}'.")));
                }
                if !block.contains(ip) {
                    // GUESS: wording of OCI's message for an address outside the subnet.
                    return Err(ApiError::invalid(format!(
                        "IP address {ip} is not in the CIDR block of subnet {}.",
                        subnet.inv.id
                    )));
                }
                if block.is_reserved(ip) {
                    return Err(ApiError::invalid(format!(
                        "IP address {ip} is reserved in subnet {}.",
                        subnet.inv.id
                    )));
                }
                ip
            }
            None => {
                let subnet_id = subnet.inv.id.clone();
                let taken = |ip: IpAddr| {
                    self.ips
                        .values()
                        .any(|r| r.subnet_id == subnet_id && r.address == ip)
                };
                block.first_free(&taken).ok_or_else(|| {
                    ApiError::conflict(format!("No free IP address in subnet {subnet_id}."))
                })?
            }
        };
        if family == Family::V6 && d.hostname_label.is_some() {
            return Err(ApiError::invalid(
                "hostnameLabel is not supported for IPv6 addresses.",
            ));
        }
        self.check_label(&vnic.subnet_id, d.hostname_label.as_deref(), None)?;
        let rec = IpRec {
            id: new_ocid(family.ocid_kind(), &self.region),
            address,
            subnet_id: vnic.subnet_id.clone(),
            vnic_id: vnic.id.clone(),
            is_primary: false,
            display_name: d
                .display_name
                .clone()
                .unwrap_or_else(|| address.to_string()),
            hostname_label: d.hostname_label.clone(),
            defined_tags: d.defined_tags.clone().unwrap_or_default(),
            freeform_tags: d.freeform_tags.clone().unwrap_or_default(),
            time_created: now(),
            etag: new_etag(),
        };
        self.insert_ip(rec.clone())?;
        Ok(rec)
    }

    /// `UpdatePrivateIp` / `UpdateIpv6`: renames, re-tags, or moves to another VNIC in the
    /// same subnet (OCI's `--unassign-if-already-assigned` behaviour).
    pub fn update_ip(
        &mut self,
        family: Family,
        id: &str,
        d: &UpdateIpDetails,
        if_match: Option<&str>,
    ) -> Result<IpRec, ApiError> {
        let cur = self.get_ip(family, id)?.clone();
        if if_match.is_some_and(|e| e != cur.etag) {
            return Err(ApiError::no_etag_match());
        }
        let mut next = cur.clone();
        if let Some(target) = d.vnic_id.as_deref().filter(|t| *t != cur.vnic_id) {
            if cur.is_primary {
                // GUESS: status and wording. OCI documents that a primary private IP cannot
                // be moved to another VNIC; we answer 400 InvalidParameter.
                return Err(ApiError::invalid(format!("Private IP {id} is the primary private IP of its VNIC and cannot be moved to another VNIC.")));
            }
            let vnic = self.usable_vnic(target)?;
            if vnic.subnet_id != cur.subnet_id {
                // GUESS: wording. OCI requires the destination VNIC to be in the IP's subnet.
                return Err(ApiError::invalid(format!(
                    "The VNIC {target} is in subnet {} but the private IP {} belongs to subnet {}; a private IP can only be moved to a VNIC in the same subnet.",
                    vnic.subnet_id, cur.address, cur.subnet_id
                )));
            }
            let count = self
                .ips
                .values()
                .filter(|r| r.vnic_id == target && Family::of(r.address) == family)
                .count();
            if count >= MAX_IPS_PER_VNIC {
                return Err(ApiError::limit_exceeded(format!(
                    "VNIC {target} already has the maximum number of IP addresses."
                )));
            }
            next.vnic_id = target.to_string();
        }
        if let Some(label) = &d.hostname_label {
            if family == Family::V6 {
                return Err(ApiError::invalid(
                    "hostnameLabel is not supported for IPv6 addresses.",
                ));
            }
            self.check_label(&cur.subnet_id, Some(label), Some(id))?;
            next.hostname_label = Some(label.clone());
        }
        if let Some(n) = &d.display_name {
            next.display_name = n.clone();
        }
        if let Some(t) = &d.defined_tags {
            next.defined_tags = t.clone();
        }
        if let Some(t) = &d.freeform_tags {
            next.freeform_tags = t.clone();
        }
        if next != cur {
            next.etag = new_etag();
            self.ips.insert(id.to_string(), next.clone());
        }
        Ok(next)
    }

    /// `DeletePrivateIp` / `DeleteIpv6`.
    pub fn delete_ip(
        &mut self,
        family: Family,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ApiError> {
        let cur = self.get_ip(family, id)?;
        if if_match.is_some_and(|e| e != cur.etag) {
            return Err(ApiError::no_etag_match());
        }
        if cur.is_primary {
            // GUESS: status. OCI documents that the primary private IP cannot be deleted
            // (it goes away with its VNIC); we answer 409 Conflict.
            return Err(ApiError::conflict(format!(
                "Private IP {id} is the primary private IP of its VNIC and cannot be deleted."
            )));
        }
        if let Some(r) = self.ips.remove(id) {
            self.retired.insert(r.address);
        }
        Ok(())
    }

    /// Where every secondary address (present or deleted) is delivered, sorted by address.
    pub fn assignments(&self) -> Vec<Assignment> {
        let mut out: Vec<Assignment> = self
            .ips
            .values()
            .filter(|r| !r.is_primary)
            .map(|r| {
                let v = self.vnics.get(&r.vnic_id);
                Assignment {
                    ip: r.address,
                    vnic_id: Some(r.vnic_id.clone()),
                    port: v.and_then(|v| v.fabric_port.clone()),
                    mac: v.map(|v| v.mac.clone()),
                }
            })
            .collect();
        out.extend(self.retired.iter().map(|ip| Assignment {
            ip: *ip,
            vnic_id: None,
            port: None,
            mac: None,
        }));
        out.sort();
        out
    }

    /// The VNIC holding `ip` (any subnet), if any.
    pub fn assignment(&self, ip: IpAddr) -> Option<String> {
        self.ips
            .values()
            .find(|r| r.address == ip)
            .map(|r| r.vnic_id.clone())
    }
}

#[path = "state_load.rs"]
mod load;
#[path = "state_views.rs"]
mod views;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
