//! The move: make sure a VIP's private IP sits on a node's VNIC.
//!
//! Data flow: providerID → instance OCID → target VNIC (GetInstance → ListVnicAttachments →
//! GetVnic until the subnet matches; cached per (instance, subnet)) → the address's object:
//! GetPrivateIp by the OCID remembered for (address, subnet), else ListPrivateIps by address and
//! subnet → `decision::decide` → nothing / UpdatePrivateIp(if-match, with the etag of a read by
//! OCID, else after one) / CreatePrivateIp(opc-retry-token) → the mutation's answer confirms
//! it (read back only when it does not name the target). So a failover of a known address is
//! two calls: one read, one update. A 412 (someone changed the IP between our read and our
//! write) or a 409 on create (someone created it first) re-reads and decides once more; a 404
//! on a mutation with a cached VNIC drops the cache entry and re-resolves once. The whole thing
//! runs under `move_deadline`.

use std::net::IpAddr;

use crate::client::{Assignment, Context, MoveRequest, OciClient, TargetVnic};
use crate::decision::{candidate_vnics, decide, parse_provider_id, MoveAction};
use crate::error::{ApiFailure, OciError};
use crate::hints::{grants, policy_hint, Need};
use crate::model::IpRecord;
use crate::ops::{Family, Resp};
use crate::transport::CallFailure;

/// Why a mutation should be decided again.
enum Again {
    /// 412 NoEtagMatch / 409 on create: state changed under us.
    StateChanged,
    /// 404 on a mutation: the cached VNIC may be gone, else a grant is missing.
    VnicMaybeGone {
        /// The mutation that answered 404.
        op: &'static str,
        /// What it needs.
        need: Need,
    },
}

impl OciClient {
    /// Ensures `req.ip` is assigned to the VNIC of `req.provider_id`'s instance in
    /// `req.subnet_id`, creating or moving the private IP as needed, and returns where it is.
    pub async fn ensure_assigned(&self, req: &MoveRequest) -> Result<Assignment, OciError> {
        let deadline = self.inner.cfg.move_deadline;
        match tokio::time::timeout(deadline, self.ensure_inner(req)).await {
            Ok(r) => {
                if let Err(e) = &r {
                    tracing::warn!(vip = %req.ip, subnet = %req.subnet_id, category = e.category(), opc_request_id = e.opc_request_id().unwrap_or(""), error = %e, "ensure_assigned failed");
                }
                r
            }
            Err(_) => {
                tracing::warn!(vip = %req.ip, deadline_ms = deadline.as_millis() as u64, "ensure_assigned ran out of time");
                Err(OciError::Timeout {
                    operation: "EnsureAssigned",
                    after: deadline,
                })
            }
        }
    }

    /// The ATTACHED VNIC a move to the node `provider_id` would use in `subnet_id`, from a
    /// lookup no older than `max_age` (else looked up afresh): what a failover-readiness check
    /// asks.
    pub async fn node_vnic(
        &self,
        provider_id: &str,
        subnet_id: &str,
        max_age: std::time::Duration,
    ) -> Result<String, OciError> {
        let instance_id = parse_provider_id(provider_id)?;
        let mut ids = Vec::new();
        let (t, _) = self
            .target_vnic(&instance_id, subnet_id, &mut ids, Some(max_age))
            .await?;
        Ok(t.vnic_id)
    }

    async fn ensure_inner(&self, req: &MoveRequest) -> Result<Assignment, OciError> {
        let instance_id = parse_provider_id(&req.provider_id)?;
        let fam = Family::of(req.ip);
        let retry_token = uuid::Uuid::new_v4().simple().to_string();
        let mut ids: Vec<String> = Vec::new();
        let mut decided_again = false;
        let mut vnic_reresolved = false;
        loop {
            let (target, from_cache) = self
                .target_vnic(&instance_id, &req.subnet_id, &mut ids, None)
                .await?;
            let (current, etag) = self
                .current(req.ip, &req.subnet_id, &target.compartment_id, &mut ids)
                .await?;
            let action = decide(current.as_ref(), &target.vnic_id);
            let read = current.zip(etag);
            let outcome = self
                .apply(req, fam, &target, action, read, &retry_token, &mut ids)
                .await;
            match outcome {
                Ok(Ok(assignment)) => {
                    return Ok(Assignment {
                        opc_request_ids: ids,
                        ..assignment
                    })
                }
                Ok(Err(Again::StateChanged)) if !decided_again => {
                    decided_again = true;
                    tracing::info!(vip = %req.ip, "private IP changed while moving it; reading again");
                }
                Ok(Err(Again::VnicMaybeGone { .. })) if from_cache && !vnic_reresolved => {
                    vnic_reresolved = true;
                    self.forget_vnic(&instance_id, &req.subnet_id);
                    tracing::info!(vip = %req.ip, vnic = %target.vnic_id, "cached VNIC rejected; resolving the node's VNIC again");
                }
                Ok(Err(Again::StateChanged)) => {
                    return Err(OciError::Conflict {
                        operation: fam.ops()[2],
                        status: 412,
                        code: "NoEtagMatch".into(),
                        message: "the private IP kept changing while moving it".into(),
                        opc_request_id: ids.last().cloned(),
                    })
                }
                Ok(Err(Again::VnicMaybeGone { op, need })) => {
                    let kind = self.inner.transport.provider().principal();
                    return Err(OciError::Permission {
                        operation: op,
                        resource: format!("{} on VNIC {}", req.ip, target.vnic_id),
                        policy: policy_hint(kind, grants(need, fam), &target.compartment_id),
                        opc_request_id: ids.last().cloned(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Performs `action`; `read` is the address's object with its etag when it was just read
    /// by OCID (a move then needs no read of its own). Outer error: fatal; inner: decide again.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        req: &MoveRequest,
        fam: Family,
        target: &TargetVnic,
        action: MoveAction,
        read: Option<(IpRecord, String)>,
        retry_token: &str,
        ids: &mut Vec<String>,
    ) -> Result<Result<Assignment, Again>, OciError> {
        let [_, get_op, update_op, create_op, _] = fam.ops();
        let ctx = |need| Context::Exists {
            grants: grants(need, fam),
            compartment: &target.compartment_id,
        };
        let (private_ip_id, created, answered) = match action {
            MoveAction::Nothing { private_ip_id } => {
                tracing::debug!(vip = %req.ip, vnic = %target.vnic_id, "already assigned");
                return Ok(Ok(Assignment {
                    private_ip_id,
                    vnic_id: target.vnic_id.clone(),
                    ip: req.ip,
                    created: false,
                    changed: false,
                    opc_request_ids: vec![],
                }));
            }
            MoveAction::RefusePrimary {
                private_ip_id,
                vnic_id,
            } => {
                return Err(OciError::PrimaryIp {
                    ip: req.ip,
                    private_ip_id,
                    vnic_id,
                });
            }
            MoveAction::Move {
                private_ip_id,
                from_vnic,
            } => {
                let fresh = match read.filter(|(rec, _)| rec.id == private_ip_id) {
                    Some((value, etag)) => Resp {
                        value,
                        etag: Some(etag),
                        request_ids: vec![],
                    },
                    None => self.ops().get_ip(fam, &private_ip_id).await.map_err(|f| {
                        self.map_failure(f, get_op, &private_ip_id, ctx(Need::ReadIp))
                    })?,
                };
                ids.extend(fresh.request_ids.iter().cloned());
                if decide(Some(&fresh.value), &target.vnic_id)
                    != (MoveAction::Move {
                        private_ip_id: private_ip_id.clone(),
                        from_vnic: fresh.value.vnic_id.clone(),
                    })
                {
                    return Ok(Err(Again::StateChanged));
                }
                tracing::info!(vip = %req.ip, private_ip_id = %private_ip_id, from_vnic = from_vnic.as_deref().unwrap_or(""), to_vnic = %target.vnic_id, "moving private IP");
                match self
                    .ops()
                    .update_ip(fam, &private_ip_id, &target.vnic_id, fresh.etag.as_deref())
                    .await
                {
                    Ok(r) => {
                        ids.extend(r.request_ids.iter().cloned());
                        tracing::info!(vip = %req.ip, private_ip_id = %private_ip_id, vnic = %target.vnic_id, opc_request_id = r.request_ids.first().map(String::as_str).unwrap_or(""), "private IP moved");
                        (private_ip_id, false, Some(r.value))
                    }
                    Err(f) => {
                        return self.again_or_fail(f, update_op, Need::UpdateIp, req, ids, ctx)
                    }
                }
            }
            MoveAction::Create => {
                tracing::info!(vip = %req.ip, vnic = %target.vnic_id, "creating private IP");
                match self
                    .ops()
                    .create_ip(
                        req.ip,
                        &target.vnic_id,
                        req.display_name.as_deref(),
                        retry_token,
                    )
                    .await
                {
                    Ok(r) => {
                        ids.extend(r.request_ids.iter().cloned());
                        tracing::info!(vip = %req.ip, private_ip_id = %r.value.id, vnic = %target.vnic_id, opc_request_id = r.request_ids.first().map(String::as_str).unwrap_or(""), "private IP created");
                        (r.value.id.clone(), true, Some(r.value))
                    }
                    Err(f) => {
                        return self.again_or_fail(f, create_op, Need::CreateIp, req, ids, ctx)
                    }
                }
            }
        };
        self.inner
            .ip_ids
            .put((req.ip, req.subnet_id.clone()), private_ip_id.clone());
        // The mutation answers with the object as it now is (OCI's update and create return
        // the PrivateIp / Ipv6): read it back only when that answer does not name the target.
        let rec = match answered.filter(|r| r.vnic_id.as_deref() == Some(target.vnic_id.as_str())) {
            Some(r) => r,
            None => {
                let back = self.ops().get_ip(fam, &private_ip_id).await.map_err(|f| {
                    self.map_failure(f, get_op, &private_ip_id, Context::MayBeMissing)
                })?;
                ids.extend(back.request_ids.iter().cloned());
                back.value
            }
        };
        if rec.vnic_id.as_deref() != Some(target.vnic_id.as_str()) {
            return Ok(Err(Again::StateChanged));
        }
        Ok(Ok(Assignment {
            private_ip_id,
            vnic_id: target.vnic_id.clone(),
            ip: req.ip,
            created,
            changed: true,
            opc_request_ids: vec![],
        }))
    }

    fn again_or_fail<'c>(
        &self,
        f: CallFailure,
        op: &'static str,
        need: Need,
        req: &MoveRequest,
        ids: &mut Vec<String>,
        ctx: impl Fn(Need) -> Context<'c>,
    ) -> Result<Result<Assignment, Again>, OciError> {
        if let CallFailure::Api(ApiFailure::Status {
            status,
            code,
            opc_request_id,
            ..
        }) = &f
        {
            ids.extend(opc_request_id.iter().cloned());
            match (*status, code.as_str()) {
                (412, _) => return Ok(Err(Again::StateChanged)),
                (409, c) if c != "IncorrectState" && op.starts_with("Create") => {
                    return Ok(Err(Again::StateChanged))
                }
                (404, _) => return Ok(Err(Again::VnicMaybeGone { op, need })),
                _ => {}
            }
        }
        Err(self.map_mutation_failure(f, op, req.ip, &req.subnet_id, ctx(need)))
    }

    /// The address's object now, and its etag when read by OCID: by the OCID remembered for
    /// (address, subnet) when there is one, else by listing the subnet (no etag). An OCID
    /// that is gone (404, deleted by hand) or holds another address now is forgotten and the
    /// subnet listed, as the first time; any other failure is the move's.
    async fn current(
        &self,
        ip: IpAddr,
        subnet_id: &str,
        compartment: &str,
        ids: &mut Vec<String>,
    ) -> Result<(Option<IpRecord>, Option<String>), OciError> {
        let key = (ip, subnet_id.to_string());
        if let Some(id) = self.inner.ip_ids.get(&key, None) {
            match self.ops().get_ip(Family::of(ip), &id).await {
                Ok(r) if r.value.ip_address.parse::<IpAddr>().ok() == Some(ip) => {
                    ids.extend(r.request_ids.iter().cloned());
                    return Ok((Some(r.value), r.etag));
                }
                Ok(r) => {
                    ids.extend(r.request_ids.iter().cloned());
                    tracing::debug!(vip = %ip, private_ip_id = %id, "remembered private IP holds another address now; listing the subnet");
                }
                Err(CallFailure::Api(ApiFailure::Status { status: 404, .. })) => {
                    tracing::debug!(vip = %ip, private_ip_id = %id, "remembered private IP is gone; listing the subnet");
                }
                Err(f) => {
                    let op = Family::of(ip).ops()[1];
                    let ctx = Context::Exists {
                        grants: grants(Need::ReadIp, Family::of(ip)),
                        compartment,
                    };
                    return Err(self.map_failure(f, op, &id, ctx));
                }
            }
            self.inner.ip_ids.forget(&key);
        }
        let found = self.find_current(ip, subnet_id, compartment, ids).await?;
        if let Some(rec) = &found {
            self.inner.ip_ids.put(key, rec.id.clone());
        }
        Ok((found, None))
    }

    async fn find_current(
        &self,
        ip: IpAddr,
        subnet_id: &str,
        compartment: &str,
        ids: &mut Vec<String>,
    ) -> Result<Option<IpRecord>, OciError> {
        let op = Family::of(ip).ops()[0];
        let r = self.ops().find_ip(ip, subnet_id).await.map_err(|f| {
            self.map_failure(
                f,
                op,
                &format!("{ip} in {subnet_id}"),
                Context::Exists {
                    grants: grants(Need::ListIps, Family::of(ip)),
                    compartment,
                },
            )
        })?;
        ids.extend(r.request_ids);
        Ok(r.value)
    }

    /// The ATTACHED VNIC of `instance_id` in `subnet_id`; second value: it came from the cache.
    pub(crate) async fn target_vnic(
        &self,
        instance_id: &str,
        subnet_id: &str,
        ids: &mut Vec<String>,
        max_age: Option<std::time::Duration>,
    ) -> Result<(TargetVnic, bool), OciError> {
        let key = (instance_id.to_string(), subnet_id.to_string());
        let cache = &self.inner.vnic_cache;
        if let Some(t) = cache.get(&key, max_age) {
            return Ok((t, true));
        }
        // One lookup per node at a time; whoever waited finds its answer in the cache.
        let gate = cache.gate(&key);
        let _one = gate.lock().await;
        if let Some(t) = cache.get(&key, max_age) {
            return Ok((t, true));
        }
        let ops = self.ops();
        let instance = ops.get_instance(instance_id).await.map_err(|f| {
            // The node's providerID names it, so it exists: a 404 is a missing read grant.
            self.map_failure(
                f,
                "GetInstance",
                &format!("instance {instance_id} (the node's providerID)"),
                Context::Exists {
                    grants: grants(Need::ReadInstance, Family::V4),
                    compartment: &self.compartment_hint(),
                },
            )
        })?;
        ids.extend(instance.request_ids);
        let compartment = instance.value.compartment_id;
        let atts = ops
            .list_vnic_attachments(&compartment, instance_id)
            .await
            .map_err(|f| {
                self.map_failure(
                    f,
                    "ListVnicAttachments",
                    &format!("VNIC attachments of {instance_id}"),
                    Context::Exists {
                        grants: grants(Need::InspectAttachments, Family::V4),
                        compartment: &compartment,
                    },
                )
            })?;
        ids.extend(atts.request_ids);
        let mut denied: Option<(String, Option<String>)> = None;
        for vnic_id in candidate_vnics(&atts.value, subnet_id) {
            let vnic = match ops.get_vnic(&vnic_id).await {
                Ok(v) => v,
                Err(CallFailure::Api(ApiFailure::Status {
                    status: 404,
                    opc_request_id,
                    ..
                })) => {
                    // No read grant, or detached since the listing: the next candidate may do.
                    tracing::warn!(vnic = %vnic_id, opc_request_id = opc_request_id.as_deref().unwrap_or(""), "GetVnic answered 404; skipping (needs `read vnics`)");
                    denied.get_or_insert((vnic_id, opc_request_id));
                    continue;
                }
                Err(f) => {
                    return Err(self.map_failure(
                        f,
                        "GetVnic",
                        &format!("VNIC {vnic_id}"),
                        Context::Exists {
                            grants: grants(Need::ReadVnic, Family::V4),
                            compartment: &compartment,
                        },
                    ))
                }
            };
            ids.extend(vnic.request_ids);
            if vnic.value.subnet_id == subnet_id {
                let t = TargetVnic {
                    vnic_id: vnic.value.id,
                    compartment_id: compartment,
                };
                cache.put(key, t.clone());
                return Ok((t, false));
            }
        }
        if let Some((vnic_id, opc_request_id)) = denied {
            // An attachment listed as ATTACHED whose VNIC we may not read: most likely the
            // VNIC in the VIP's subnet, hidden by a missing grant.
            let kind = self.inner.transport.provider().principal();
            return Err(OciError::Permission {
                operation: "GetVnic",
                resource: format!("VNIC {vnic_id} attached to {instance_id}"),
                policy: policy_hint(kind, grants(Need::ReadVnic, Family::V4), &compartment),
                opc_request_id,
            });
        }
        Err(OciError::NoVnicInSubnet {
            instance_id: instance_id.to_string(),
            subnet_id: subnet_id.to_string(),
        })
    }

    fn forget_vnic(&self, instance_id: &str, subnet_id: &str) {
        self.inner
            .vnic_cache
            .forget(&(instance_id.to_string(), subnet_id.to_string()));
    }
}
