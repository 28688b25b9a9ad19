//! The simulated EC2 control plane and the semantics of each action, as pure methods
//! (time is passed in as an `Instant`).
//!
//! Flow: the server authenticates, authorizes and parses, then calls one method here under
//! a lock; the result is rendered by [`super::xml`]. After a change the server publishes
//! [`AwsState::assignments`] to the fabric, and again when a remap completes.
//!
//! Ownership of a secondary address is recorded twice: the *authoritative* holder (what
//! Assign/Unassign act on) and, while a reassignment is in flight, the previous holder
//! with the instant the move becomes visible. AWS documents that remapping is
//! asynchronous; until that instant Describe, IMDS and the fabric show the previous holder.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::error::Ec2Error;
use super::inventory::AwsInstance;
use crate::cidr::Cidr;

/// A subnet with its parsed block.
#[derive(Debug, Clone)]
pub struct SubnetRec {
    /// `subnet-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// Availability zone.
    pub az: String,
    /// The IPv4 block.
    pub cidr: Cidr,
    /// The block as written.
    pub cidr_block: String,
}

/// An ENI's attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRec {
    /// `eni-attach-…`.
    pub id: String,
    /// Instance.
    pub instance_id: String,
    /// Device index.
    pub device_index: u32,
    /// `attached`, `detached`, ….
    pub status: String,
}

/// A network interface.
#[derive(Debug, Clone)]
pub struct EniRec {
    /// `eni-…`.
    pub id: String,
    /// Subnet.
    pub subnet_id: String,
    /// MAC, lower case.
    pub mac: String,
    /// Fabric bridge port.
    pub port: Option<String>,
    /// Primary private IPv4.
    pub primary_ip: Ipv4Addr,
    /// Attachment, if any.
    pub attachment: Option<AttachmentRec>,
    /// Most secondary addresses it may hold.
    pub limit: usize,
    /// Description.
    pub description: String,
}

/// Who holds a secondary address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Holder {
    pub(super) eni: String,
    /// The previous holder and when the move becomes visible.
    pub(super) previous: Option<(String, Instant)>,
}

/// What `AssignPrivateIpAddresses` asks for.
#[derive(Debug, Clone, Default)]
pub struct AssignRequest {
    /// `PrivateIpAddress.N`.
    pub addresses: Vec<String>,
    /// `SecondaryPrivateIpAddressCount`.
    pub count: Option<i64>,
    /// `AllowReassignment`.
    pub allow_reassignment: bool,
}

/// What an assignment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignOutcome {
    /// The addresses now assigned (requested or allocated), in request order.
    pub assigned: Vec<Ipv4Addr>,
    /// Whether anything changed (false for a repeated assignment).
    pub changed: bool,
    /// When the moves made by this call become visible, if it moved any.
    pub remap_due: Option<Instant>,
}

/// The whole simulated EC2 account.
#[derive(Debug, Clone)]
pub struct AwsState {
    /// Account id.
    pub account_id: String,
    /// Region.
    pub region: String,
    subnets: BTreeMap<String, SubnetRec>,
    instances: BTreeMap<String, AwsInstance>,
    enis: BTreeMap<String, EniRec>,
    secondaries: BTreeMap<Ipv4Addr, Holder>,
    /// Addresses that were secondary once and are now unassigned (the fabric drops them).
    retired: BTreeSet<Ipv4Addr>,
}

fn parse_v4(s: &str) -> Result<Ipv4Addr, Ec2Error> {
    s.trim().parse().map_err(|_| {
        // GUESS: wording.
        Ec2Error::invalid_value(format!(
            "Value ({s}) for parameter PrivateIpAddress is invalid. Not a valid IPv4 address."
        ))
    })
}

impl AwsState {
    /// Forgets completed remaps.
    pub fn settle(&mut self, now: Instant) {
        for h in self.secondaries.values_mut() {
            if h.previous.as_ref().is_some_and(|(_, t)| *t <= now) {
                h.previous = None;
            }
        }
    }

    /// Sets an ENI's attachment status (a detach done outside pgvip); the fabric is not
    /// affected.
    pub fn set_attachment_status(&mut self, eni: &str, status: &str) -> Result<(), Ec2Error> {
        let e = self
            .enis
            .get_mut(eni)
            .ok_or_else(|| Ec2Error::eni_not_found(eni))?;
        let a = e
            .attachment
            .as_mut()
            .ok_or_else(|| Ec2Error::invalid_value(format!("{eni} is not attached")))?;
        a.status = status.to_string();
        Ok(())
    }

    pub(super) fn primary_holder(&self, ip: Ipv4Addr) -> Option<&EniRec> {
        self.enis.values().find(|e| e.primary_ip == ip)
    }

    fn held_by(&self, eni: &str) -> usize {
        self.secondaries.values().filter(|h| h.eni == eni).count()
    }

    /// `AssignPrivateIpAddresses`, all or nothing.
    ///
    /// Rules (AWS's documentation unless marked): the address must be in the interface's
    /// subnet (`InvalidParameterValue`); GUESS: AWS's reserved addresses (first four, last)
    /// and the interface's own primary are `InvalidParameterValue`, another interface's
    /// primary is `InvalidIPAddress.InUse` even with `AllowReassignment`; a secondary of
    /// another interface needs `AllowReassignment=true` (else `InvalidIPAddress.InUse`) and
    /// then moves after `remap_delay`; re-assigning an address the interface already holds
    /// succeeds without change; the interface's limit counts what it will hold
    /// (`PrivateIpAddressLimitExceeded`).
    pub fn assign(
        &mut self,
        eni_id: &str,
        req: &AssignRequest,
        now: Instant,
        remap_delay: Duration,
    ) -> Result<AssignOutcome, Ec2Error> {
        self.settle(now);
        let eni = self
            .enis
            .get(eni_id)
            .ok_or_else(|| Ec2Error::eni_not_found(eni_id))?;
        let subnet = self
            .subnets
            .get(&eni.subnet_id)
            .ok_or_else(|| Ec2Error::server(500))?;
        let cidr = subnet.cidr;
        if !req.addresses.is_empty() && req.count.is_some() {
            return Err(Ec2Error::combination(
                "PrivateIpAddress and SecondaryPrivateIpAddressCount cannot be used together",
            ));
        }
        let mut wanted: Vec<Ipv4Addr> = Vec::new();
        if let Some(n) = req.count {
            if n < 1 {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({n}) for parameter SecondaryPrivateIpAddressCount is invalid."
                )));
            }
            wanted = self.allocate(&cidr, n as usize)?;
        } else if req.addresses.is_empty() {
            return Err(Ec2Error::missing(
                "PrivateIpAddress or SecondaryPrivateIpAddressCount",
            ));
        }
        for s in &req.addresses {
            let ip = parse_v4(s)?;
            if !wanted.contains(&ip) {
                wanted.push(ip);
            }
        }
        let (mut new, mut moved) = (Vec::new(), Vec::new());
        for ip in &wanted {
            let ipa = IpAddr::V4(*ip);
            if !cidr.contains(ipa) {
                return Err(Ec2Error::invalid_value(
                    "Address does not fall within the subnet's address range",
                ));
            }
            if cidr.is_aws_reserved(ipa) {
                return Err(Ec2Error::invalid_value(format!(
                    "Address {ip} is reserved by AWS in subnet {}",
                    subnet.id
                )));
            }
            if let Some(p) = self.primary_holder(*ip) {
                if p.id == eni_id {
                    return Err(Ec2Error::invalid_value(format!(
                        "Address {ip} is the primary private IP address of {eni_id}"
                    )));
                }
                return Err(Ec2Error::address_in_use(*ip));
            }
            match self.secondaries.get(ip) {
                Some(h) if h.eni == eni_id => {}
                Some(_) if !req.allow_reassignment => return Err(Ec2Error::address_in_use(*ip)),
                Some(_) => moved.push(*ip),
                None => new.push(*ip),
            }
        }
        if self.held_by(eni_id) + new.len() + moved.len() > eni.limit {
            return Err(Ec2Error::ip_limit_exceeded());
        }
        let due = now + remap_delay;
        for ip in &new {
            self.retired.remove(ip);
            self.secondaries.insert(
                *ip,
                Holder {
                    eni: eni_id.to_string(),
                    previous: None,
                },
            );
        }
        let mut in_flight = false;
        for ip in &moved {
            if let Some(h) = self.secondaries.get_mut(ip) {
                let shown = visible(h, now).to_string();
                let previous = (shown != eni_id && !remap_delay.is_zero()).then_some((shown, due));
                in_flight |= previous.is_some();
                *h = Holder {
                    eni: eni_id.to_string(),
                    previous,
                };
            }
        }
        Ok(AssignOutcome {
            assigned: wanted,
            changed: !new.is_empty() || !moved.is_empty(),
            remap_due: in_flight.then_some(due),
        })
    }

    /// The lowest `n` free, unreserved addresses of `cidr`. GUESS: AWS picks any free one.
    fn allocate(&self, cidr: &Cidr, n: usize) -> Result<Vec<Ipv4Addr>, Ec2Error> {
        let mut out: Vec<Ipv4Addr> = Vec::new();
        for _ in 0..n {
            let taken = |ip: IpAddr| match ip {
                IpAddr::V4(v) => {
                    out.contains(&v)
                        || self.secondaries.contains_key(&v)
                        || self.primary_holder(v).is_some()
                }
                IpAddr::V6(_) => true,
            };
            match cidr.first_free_by(&|ip| cidr.is_aws_reserved(ip), &taken) {
                Some(IpAddr::V4(v)) => out.push(v),
                _ => {
                    return Err(Ec2Error::new(
                        400,
                        "InsufficientFreeAddressesInSubnet",
                        "The specified subnet does not have enough free addresses to satisfy the request.",
                    ))
                }
            }
        }
        Ok(out)
    }

    /// `UnassignPrivateIpAddresses`, all or nothing. GUESS: an address not held by the
    /// interface is `InvalidParameterValue` ("Some of the specified addresses are not
    /// assigned to interface …"), the primary too; an address whose move to this interface
    /// is still in flight counts as held (its unassignment is visible at once).
    pub fn unassign(
        &mut self,
        eni_id: &str,
        addresses: &[String],
        now: Instant,
    ) -> Result<bool, Ec2Error> {
        self.settle(now);
        let eni = self
            .enis
            .get(eni_id)
            .ok_or_else(|| Ec2Error::eni_not_found(eni_id))?;
        if addresses.is_empty() {
            return Err(Ec2Error::missing("PrivateIpAddress"));
        }
        let mut ips = Vec::new();
        for s in addresses {
            let ip = parse_v4(s)?;
            if ip == eni.primary_ip {
                return Err(Ec2Error::invalid_value(format!(
                    "The primary private IP address {ip} of {eni_id} cannot be unassigned"
                )));
            }
            if self.secondaries.get(&ip).is_none_or(|h| h.eni != eni_id) {
                return Err(Ec2Error::invalid_value(format!(
                    "Some of the specified addresses are not assigned to interface {eni_id}"
                )));
            }
            ips.push(ip);
        }
        for ip in &ips {
            self.secondaries.remove(ip);
            self.retired.insert(*ip);
        }
        Ok(!ips.is_empty())
    }
}

pub(super) fn visible(h: &Holder, now: Instant) -> &str {
    match &h.previous {
        Some((prev, until)) if now < *until => prev,
        _ => &h.eni,
    }
}

#[path = "state_describe.rs"]
mod describe;
#[path = "state_load.rs"]
mod load;

pub use describe::{paginate, EniView};

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
