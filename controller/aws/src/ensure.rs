//! The move: make sure a VIP's private IPv4 address sits on a node's network interface.
//!
//! Data flow: providerID → instance id (`decision::parse_provider_id`) → the node's interface in
//! the VIP's subnet (`DescribeNetworkInterfaces` by `attachment.instance-id` and `subnet-id`,
//! `decision::pick_eni`; cached per (instance, subnet)) → who holds the address
//! (`DescribeNetworkInterfaces` by `subnet-id` and `addresses.private-ip-address`) →
//! `decision::decide` → nothing / refuse a primary / `AssignPrivateIpAddresses` with
//! `AllowReassignment=true` → confirmation: EC2 documents the remap as asynchronous, so the
//! target interface is read (`DescribeNetworkInterfaces` by `NetworkInterfaceId`) until it lists
//! the address, within `confirm_timeout`. An assignment to a cached interface that EC2 no longer
//! knows drops the cache entry and resolves the node's interface once more.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::cache::NodeKey;
use crate::client::{map_assign_failure, map_failure, Assignment, Ec2Client, MoveRequest};
use crate::decision::{decide, holders, parse_provider_id, pick_eni, require_ipv4, EnsureAction};
use crate::error::{AwsError, Op};

/// First pause between confirmation reads; doubled up to [`CONFIRM_MAX_WAIT`].
const CONFIRM_FIRST_WAIT: Duration = Duration::from_millis(200);
/// Longest pause between confirmation reads.
const CONFIRM_MAX_WAIT: Duration = Duration::from_secs(2);

impl Ec2Client {
    /// Makes EC2 route `req.ip` to the interface of `req.provider_id`'s instance in
    /// `req.subnet_id`; nothing when it is already there. Then confirms with
    /// `DescribeNetworkInterfaces` until that interface lists the address (AWS documents the
    /// remap as asynchronous), bounded by `confirm_timeout`.
    ///
    /// IPv4 only: an IPv6 VIP is [`AwsError::Ipv6Unsupported`]. An address that is some
    /// interface's primary IP is refused ([`AwsError::PrimaryIp`]).
    pub async fn ensure_assigned(&self, req: &MoveRequest) -> Result<Assignment, AwsError> {
        let r = self.ensure_inner(req).await;
        if let Err(e) = &r {
            tracing::warn!(vip = %req.ip, subnet = %req.subnet_id, provider_id = %req.provider_id, category = e.category(), request_id = e.request_id().unwrap_or(""), error = %e, "ensure_assigned failed");
        }
        r
    }

    /// The interface a move to this node would use, from a cached lookup no older than
    /// `max_age` (a move may have made it), else looked up afresh: what a failover-readiness
    /// check asks.
    pub async fn node_eni(
        &self,
        provider_id: &str,
        subnet_id: &str,
        max_age: Duration,
    ) -> Result<String, AwsError> {
        let (_, instance_id) = parse_provider_id(provider_id)?;
        let mut ids = Vec::new();
        let (eni, _) = self
            .target_eni(&instance_id, subnet_id, Some(max_age), &mut ids)
            .await?;
        Ok(eni)
    }

    async fn ensure_inner(&self, req: &MoveRequest) -> Result<Assignment, AwsError> {
        require_ipv4(req.ip)?;
        let (_, instance_id) = parse_provider_id(&req.provider_id)?;
        let mut ids: Vec<String> = Vec::new();
        let mut reresolved = false;
        loop {
            let (target, from_cache) = self
                .target_eni(&instance_id, &req.subnet_id, None, &mut ids)
                .await?;
            let listed = self
                .ops()
                .enis_holding(req.ip, &req.subnet_id)
                .await
                .map_err(|f| {
                    map_failure(f, Op::Describe, &format!("{} in {}", req.ip, req.subnet_id))
                })?;
            ids.extend(listed.request_ids);
            let from = match decide(&holders(&listed.enis, req.ip), &target) {
                EnsureAction::Nothing => {
                    tracing::debug!(vip = %req.ip, eni = %target, instance = %instance_id, "already assigned");
                    return Ok(Assignment {
                        eni_id: target,
                        created: false,
                        changed: false,
                        request_ids: ids,
                    });
                }
                EnsureAction::RefusePrimary { eni_id } => {
                    return Err(AwsError::PrimaryIp { ip: req.ip, eni_id });
                }
                EnsureAction::Assign { from } => from,
            };
            tracing::info!(vip = %req.ip, from_eni = from.as_deref().unwrap_or(""), to_eni = %target, instance = %instance_id, "assigning private IP");
            match self.ops().assign(&target, req.ip, false).await {
                Ok(rid) => ids.extend(rid),
                Err(f)
                    if f.code() == Some("InvalidNetworkInterfaceID.NotFound")
                        && from_cache
                        && !reresolved =>
                {
                    reresolved = true;
                    self.inner
                        .eni_cache
                        .forget(&(instance_id.clone(), req.subnet_id.clone()));
                    tracing::info!(vip = %req.ip, eni = %target, instance = %instance_id, "cached interface is gone; resolving the node's interface again");
                    continue;
                }
                Err(f) => return Err(map_assign_failure(f, req.ip, &req.subnet_id, &target)),
            }
            let started = Instant::now();
            self.confirm(&target, req.ip, &mut ids).await?;
            tracing::info!(vip = %req.ip, from_eni = from.as_deref().unwrap_or(""), to_eni = %target, instance = %instance_id, confirm_ms = started.elapsed().as_millis() as u64, request_id = ids.last().map(String::as_str).unwrap_or(""), "private IP assigned and confirmed");
            return Ok(Assignment {
                eni_id: target,
                created: from.is_none(),
                changed: true,
                request_ids: ids,
            });
        }
    }

    /// Reads `eni_id` until it lists `ip`, within `confirm_timeout`.
    async fn confirm(
        &self,
        eni_id: &str,
        ip: IpAddr,
        ids: &mut Vec<String>,
    ) -> Result<(), AwsError> {
        let budget = self.inner.cfg.confirm_timeout;
        let poll = async {
            let mut wait = CONFIRM_FIRST_WAIT;
            loop {
                let (eni, rid) = self
                    .ops()
                    .eni(eni_id)
                    .await
                    .map_err(|f| map_failure(f, Op::Describe, eni_id))?;
                ids.extend(rid);
                if eni.is_some_and(|e| e.address(ip).is_some()) {
                    return Ok::<(), AwsError>(());
                }
                tracing::debug!(vip = %ip, eni = eni_id, wait_ms = wait.as_millis() as u64, "EC2 does not list the address on the interface yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(CONFIRM_MAX_WAIT);
            }
        };
        match tokio::time::timeout(budget, poll).await {
            Ok(r) => r,
            Err(_) => Err(AwsError::Timeout {
                operation: "ConfirmAssignment",
                after: budget,
            }),
        }
    }

    /// The interface of `instance_id` in `subnet_id`; second value: it came from the cache.
    async fn target_eni(
        &self,
        instance_id: &str,
        subnet_id: &str,
        max_age: Option<Duration>,
        ids: &mut Vec<String>,
    ) -> Result<(String, bool), AwsError> {
        let key: NodeKey = (instance_id.to_string(), subnet_id.to_string());
        let cache = &self.inner.eni_cache;
        if let Some(eni) = cache.get(&key, max_age) {
            return Ok((eni, true));
        }
        // One lookup per node at a time; whoever waited finds its answer in the cache.
        let gate = cache.gate(&key);
        let _one = gate.lock().await;
        if let Some(eni) = cache.get(&key, max_age) {
            return Ok((eni, true));
        }
        let listed = self
            .ops()
            .enis_of_instance(instance_id, subnet_id)
            .await
            .map_err(|f| {
                map_failure(
                    f,
                    Op::Describe,
                    &format!("interfaces of {instance_id} in {subnet_id}"),
                )
            })?;
        ids.extend(listed.request_ids);
        match pick_eni(&listed.enis, instance_id, subnet_id) {
            Some(eni) => {
                tracing::debug!(instance = instance_id, subnet = subnet_id, eni = %eni.id, "node interface resolved");
                cache.put(key, eni.id.clone());
                Ok((eni.id.clone(), false))
            }
            None => Err(AwsError::NoEniInSubnet {
                instance_id: instance_id.to_string(),
                subnet_id: subnet_id.to_string(),
            }),
        }
    }
}
