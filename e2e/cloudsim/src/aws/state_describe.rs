//! Read views of the EC2 state (pure): accessors, what is visible at an instant (owners,
//! fabric assignments), and `DescribeNetworkInterfaces`: the view of each ENI, the filters
//! AWS documents for it, and `MaxResults` / `NextToken` pagination.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use base64::Engine;

use super::{visible, AttachmentRec, AwsState, EniRec, SubnetRec};
use crate::aws::error::Ec2Error;
use crate::aws::iam::glob;
use crate::aws::inventory::AwsInstance;
use crate::aws::query::Filter;
use crate::fabric::Assignment;

/// An ENI as Describe shows it at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniView {
    /// `eni-…`.
    pub id: String,
    /// Subnet.
    pub subnet_id: String,
    /// VPC.
    pub vpc_id: String,
    /// Availability zone.
    pub az: String,
    /// Owner account.
    pub owner_id: String,
    /// MAC.
    pub mac: String,
    /// `in-use` when attached, else `available`.
    pub status: &'static str,
    /// Primary private IPv4.
    pub primary_ip: Ipv4Addr,
    /// Visible secondary IPv4 addresses, sorted.
    pub secondary: Vec<Ipv4Addr>,
    /// Attachment.
    pub attachment: Option<AttachmentRec>,
    /// Description.
    pub description: String,
    /// The region (for DNS names).
    pub region: String,
}

impl EniView {
    /// The private DNS name AWS gives an address (`ip-10-0-0-5.ec2.internal` in us-east-1,
    /// `ip-….<region>.compute.internal` elsewhere).
    pub fn dns_name(&self, ip: Ipv4Addr) -> String {
        let host = format!("ip-{}", ip.to_string().replace('.', "-"));
        if self.region == "us-east-1" {
            format!("{host}.ec2.internal")
        } else {
            format!("{host}.{}.compute.internal", self.region)
        }
    }

    /// Values of a filter name for this view; `None` for names the simulator does not
    /// know (answered `InvalidParameterValue`, as AWS does for invalid filter names).
    fn values(&self, name: &str) -> Option<Vec<String>> {
        let att = self.attachment.as_ref();
        let one = |s: &str| vec![s.to_string()];
        Some(match name {
            "network-interface-id" => one(&self.id),
            "subnet-id" => one(&self.subnet_id),
            "vpc-id" => one(&self.vpc_id),
            "availability-zone" => one(&self.az),
            "owner-id" => one(&self.owner_id),
            "mac-address" => one(&self.mac),
            "status" => one(self.status),
            "description" => one(&self.description),
            "interface-type" => one("interface"),
            "requester-managed" => one("false"),
            "source-dest-check" => one("true"),
            "private-ip-address" => one(&self.primary_ip.to_string()),
            "addresses.private-ip-address" => std::iter::once(self.primary_ip)
                .chain(self.secondary.iter().copied())
                .map(|ip| ip.to_string())
                .collect(),
            "private-dns-name" => one(&self.dns_name(self.primary_ip)),
            "attachment.instance-id" => att.map(|a| a.instance_id.clone()).into_iter().collect(),
            "attachment.instance-owner-id" => {
                att.map(|_| self.owner_id.clone()).into_iter().collect()
            }
            "attachment.attachment-id" => att.map(|a| a.id.clone()).into_iter().collect(),
            "attachment.device-index" => att
                .map(|a| a.device_index.to_string())
                .into_iter()
                .collect(),
            "attachment.status" => att.map(|a| a.status.clone()).into_iter().collect(),
            _ => return None,
        })
    }

    /// Whether every filter matches (values of one filter are OR'ed; `*` and `?` are
    /// wildcards, as AWS documents for filter values).
    pub fn matches(&self, filters: &[Filter]) -> Result<bool, Ec2Error> {
        for f in filters {
            let have = self.values(&f.name).ok_or_else(|| {
                Ec2Error::invalid_value(format!("The filter '{}' is invalid", f.name))
            })?;
            let hit = f
                .values
                .iter()
                .any(|want| have.iter().any(|h| glob(want.as_bytes(), h.as_bytes())));
            if !hit {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl AwsState {
    /// The ENI record.
    pub fn eni(&self, id: &str) -> Option<&EniRec> {
        self.enis.get(id)
    }

    /// The subnet record.
    pub fn subnet(&self, id: &str) -> Option<&SubnetRec> {
        self.subnets.get(id)
    }

    /// The instance record.
    pub fn instance(&self, id: &str) -> Option<&AwsInstance> {
        self.instances.get(id)
    }

    /// ENIs attached to an instance, by device index.
    pub fn enis_of(&self, instance_id: &str) -> Vec<&EniRec> {
        let mut v: Vec<&EniRec> = self
            .enis
            .values()
            .filter(|e| {
                e.attachment
                    .as_ref()
                    .is_some_and(|a| a.instance_id == instance_id)
            })
            .collect();
        v.sort_by_key(|e| e.attachment.as_ref().map(|a| a.device_index));
        v
    }

    /// Every ENI id, sorted.
    pub fn eni_ids(&self) -> Vec<String> {
        self.enis.keys().cloned().collect()
    }

    /// The ENI an address is visible on at `now` (secondary addresses only).
    pub fn owner(&self, ip: Ipv4Addr, now: Instant) -> Option<&str> {
        self.secondaries.get(&ip).map(|h| visible(h, now))
    }

    /// Secondary addresses visible on `eni` at `now`, sorted.
    pub fn visible_secondaries(&self, eni: &str, now: Instant) -> Vec<Ipv4Addr> {
        self.secondaries
            .iter()
            .filter(|(_, h)| visible(h, now) == eni)
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// When the last in-flight remap becomes visible, if one is in flight at `now`.
    pub fn last_remap_due(&self, now: Instant) -> Option<Instant> {
        self.secondaries
            .values()
            .filter_map(|h| h.previous.as_ref().map(|(_, t)| *t))
            .filter(|t| *t > now)
            .max()
    }

    /// Where every secondary address (present or unassigned) is delivered at `now`, sorted.
    pub fn assignments(&self, now: Instant) -> Vec<Assignment> {
        let mut out: Vec<Assignment> = self
            .secondaries
            .iter()
            .map(|(ip, h)| {
                let eni_id = visible(h, now);
                let e = self.enis.get(eni_id);
                Assignment {
                    ip: IpAddr::V4(*ip),
                    vnic_id: Some(eni_id.to_string()),
                    port: e.and_then(|e| e.port.clone()),
                    mac: e.map(|e| e.mac.clone()),
                }
            })
            .collect();
        out.extend(self.retired.iter().map(|ip| Assignment {
            ip: IpAddr::V4(*ip),
            vnic_id: None,
            port: None,
            mac: None,
        }));
        out.sort();
        out
    }

    /// The view of one ENI at `now`.
    pub fn view(&self, id: &str, now: Instant) -> Option<EniView> {
        let e = self.enis.get(id)?;
        let s = self.subnets.get(&e.subnet_id)?;
        Some(EniView {
            id: e.id.clone(),
            subnet_id: e.subnet_id.clone(),
            vpc_id: s.vpc_id.clone(),
            az: s.az.clone(),
            owner_id: self.account_id.clone(),
            mac: e.mac.clone(),
            status: match &e.attachment {
                Some(a) if a.status != "detached" => "in-use",
                _ => "available",
            },
            primary_ip: e.primary_ip,
            secondary: self.visible_secondaries(&e.id, now),
            attachment: e.attachment.clone(),
            description: e.description.clone(),
            region: self.region.clone(),
        })
    }

    /// `DescribeNetworkInterfaces` before pagination: the named ENIs (every one when
    /// `ids` is empty), filtered, sorted by id (GUESS: AWS's order is unspecified).
    /// A malformed id is `InvalidNetworkInterfaceID.Malformed`, an unknown one
    /// `InvalidNetworkInterfaceID.NotFound`.
    pub fn describe(
        &self,
        ids: &[String],
        filters: &[Filter],
        now: Instant,
    ) -> Result<Vec<EniView>, Ec2Error> {
        for id in ids {
            let hex = id.strip_prefix("eni-").unwrap_or("");
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Ec2Error::eni_malformed(id));
            }
            if !self.enis.contains_key(id) {
                return Err(Ec2Error::eni_not_found(id));
            }
        }
        let mut out = Vec::new();
        for id in self.enis.keys() {
            if !ids.is_empty() && !ids.contains(id) {
                continue;
            }
            if let Some(v) = self.view(id, now) {
                if v.matches(filters)? {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }
}

/// One page of a Describe answer: `(items, NextToken)`.
///
/// AWS documents `MaxResults` as 5..=1000 and not combinable with `NetworkInterfaceId.N`;
/// GUESS: without `MaxResults` everything is answered in one page. The token is opaque
/// (base64 of the last id answered), so it stays valid across changes.
pub fn paginate(
    items: Vec<EniView>,
    max_results: Option<i64>,
    next_token: Option<&str>,
    ids_given: bool,
) -> Result<(Vec<EniView>, Option<String>), Ec2Error> {
    if ids_given && max_results.is_some() {
        return Err(Ec2Error::combination(
            "The parameter NetworkInterfaceIds cannot be used with the parameter MaxResults",
        ));
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let after = match next_token {
        None | Some("") => None,
        Some(t) => Some(
            b64.decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("after:").map(String::from))
                .ok_or_else(|| Ec2Error::pagination_token(t))?,
        ),
    };
    let mut rest: Vec<EniView> = items
        .into_iter()
        .filter(|v| after.as_ref().is_none_or(|a| v.id.as_str() > a.as_str()))
        .collect();
    let Some(max) = max_results else {
        return Ok((rest, None));
    };
    if !(5..=1000).contains(&max) {
        // GUESS: wording.
        return Err(Ec2Error::invalid_value(format!(
            "Value ( {max} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."
        )));
    }
    let max = max as usize;
    if rest.len() <= max {
        return Ok((rest, None));
    }
    rest.truncate(max);
    let token = rest.last().map(|v| b64.encode(format!("after:{}", v.id)));
    Ok((rest, token))
}
