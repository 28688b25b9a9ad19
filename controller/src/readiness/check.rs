//! The side-effect half of a failover-readiness check: reads the cloud (the VIP's private IP,
//! a no-op update that proves the move permission, each candidate node's VNIC in the subnet),
//! the agents' heartbeat Leases and each candidate's REST API, then records the verdict,
//! publishes an Event when it changes and triggers a reconcile that copies it into status.
//!
//! Data flow: [`run`] (spawned by the reconciler) → [`super::Facts`] → [`super::judge`] →
//! [`super::Schedule::finish`] → metric + Event → trigger channel → reconcile.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use pgvip_api::agent::{heartbeat_lease_name, AgentInterface, INTERFACES_ANNOTATION};
use pgvip_api::{PostgresVip, PostgresVipStatus};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::{judge, AgentFacts, Candidate, Facts, NodeFacts};
use crate::cloud::{CloudError, CloudRef};
use crate::context::{publish, Shared};
use crate::decide::ProbeOutcome;
use crate::gather::{endpoint_of, verify_path};
use crate::probe::url;
use crate::watch::Stores;

/// What one check needs from the reconcile that started it.
pub struct Job {
    /// The VIP.
    pub vip: Arc<PostgresVip>,
    /// `namespace/name`.
    pub key: String,
    /// The VIP's address.
    pub address: IpAddr,
    /// Status as last written (for `cloud.privateIpId`).
    pub status: PostgresVipStatus,
    /// Members that could take the VIP.
    pub candidates: Vec<Candidate>,
    /// REST client with the configured CA (or why there is none).
    pub client: Result<reqwest::Client, String>,
    /// Triggers a reconcile of this VIP when the check is done.
    pub trigger: UnboundedSender<ObjectRef<PostgresVip>>,
}

/// Pure: what the heartbeat Lease of a node says at `now`.
pub fn agent_facts(lease: Option<&Lease>, now: chrono::DateTime<chrono::Utc>) -> AgentFacts {
    let Some(l) = lease else {
        return AgentFacts::Missing;
    };
    let spec = l.spec.clone().unwrap_or_default();
    let Some(renewed) = spec.renew_time.map(|t| t.0) else {
        return AgentFacts::Missing;
    };
    let age = (now.timestamp() - renewed.as_second()).max(0);
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(30));
    if age > duration {
        return AgentFacts::Stale(age.unsigned_abs());
    }
    let ifaces: Vec<AgentInterface> = l
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INTERFACES_ANNOTATION))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    AgentFacts::Alive(ifaces)
}

async fn permission(sh: &Shared, job: &Job, subnet: &str) -> Option<Result<(), CloudError>> {
    if sh.provider.l2_only() || !sh.provider.proves_move_permission() {
        return None;
    }
    // One proof per subnet: IAM grants are per compartment, and VIPs of one subnet share it.
    // Looked up before the VIP's own private IP, which only a fresh proof needs.
    let key = format!("permission/{subnet}");
    let (ttl, now) = (sh.readiness.cloud_ttl(), std::time::Instant::now());
    if let Some(r) = sh.readiness.cloud.get(&key, ttl, now) {
        return Some(r.map(|_| ()));
    }
    let recorded = job
        .status
        .cloud
        .as_ref()
        .map(|c| CloudRef::recorded(job.address, subnet, c));
    let target = match recorded.filter(CloudRef::is_known) {
        Some(t) => t,
        None => match sh.provider.current_assignment(job.address, subnet).await {
            Ok(Some(a)) => CloudRef::of(job.address, subnet, &a),
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        },
    };
    let r = sh
        .provider
        .check_move_permission(&target)
        .await
        .map(|()| String::new());
    sh.readiness.cloud.put(&key, &r, now);
    Some(r.map(|_| ()))
}

/// The node's VNIC in `subnet`, shared across VIPs for a while.
async fn node_vnic(sh: &Shared, provider_id: &str, subnet: &str) -> Result<String, CloudError> {
    let key = format!("vnic/{provider_id}/{subnet}");
    let (ttl, now) = (sh.readiness.cloud_ttl(), std::time::Instant::now());
    if let Some(r) = sh.readiness.cloud.get(&key, ttl, now) {
        return r;
    }
    let r = sh.provider.node_interface(provider_id, subnet, ttl).await;
    sh.readiness.cloud.put(&key, &r, now);
    r
}

/// Runs one check and hands the verdict on. Never fails: every problem is part of the verdict.
pub async fn run(sh: Arc<Shared>, stores: Stores, job: Job) {
    let _permit = sh.readiness.permits.acquire().await;
    let agent_ns = sh.settings.agent_namespace.clone();
    let subnet = job
        .vip
        .spec
        .provider
        .subnet_for(sh.provider.spec_key())
        .unwrap_or_default()
        .to_string();
    let permission = permission(&sh, &job, &subnet).await;
    let (scheme, port, _) = endpoint_of(&job.vip.spec);
    let path = verify_path(&job.vip.spec);
    let now = chrono::Utc::now();
    let mut vnics: BTreeMap<String, Option<Result<String, CloudError>>> = BTreeMap::new();
    let mut nodes = Vec::new();
    for c in &job.candidates {
        let node = stores.nodes.get(&ObjectRef::new(&c.node));
        let provider_id = node
            .as_ref()
            .and_then(|n| n.spec.as_ref().and_then(|s| s.provider_id.clone()))
            .filter(|p| !p.is_empty());
        if !vnics.contains_key(&c.node) {
            let v = match (&provider_id, sh.provider.l2_only()) {
                (Some(pid), false) => Some(node_vnic(&sh, pid, &subnet).await),
                _ => None,
            };
            vnics.insert(c.node.clone(), v);
        }
        let lease = stores
            .agents
            .get(&ObjectRef::new(&heartbeat_lease_name(&c.node)).within(&agent_ns));
        let rest_url =
            c.ip.map(|ip| url(scheme, ip, port, &path))
                .unwrap_or_default();
        let rest = match (&job.client, c.ip) {
            (Err(e), _) => Err(e.clone()),
            (_, None) => Err("the pod has no IP".to_string()),
            (Ok(client), Some(_)) => {
                match sh.prober.get(client, &rest_url, sh.prober.timeout).await {
                    ProbeOutcome::Answered { .. } => Ok(()),
                    ProbeOutcome::Failed(why) => Err(why),
                }
            }
        };
        nodes.push(NodeFacts {
            candidate: c.clone(),
            node_exists: node.is_some(),
            provider_id,
            vnic: vnics.get(&c.node).cloned().flatten(),
            agent: agent_facts(lease.as_deref(), now),
            rest,
            rest_url,
        });
    }
    let facts = Facts {
        address: job.address,
        interface: job.vip.spec.announce.interface.clone(),
        subnet_id: subnet,
        agent_namespace: agent_ns,
        l2_only: sh.provider.l2_only(),
        permission,
        nodes,
    };
    let verdict = judge(&facts);
    sh.metrics.failover_ready(&job.key, Some(verdict.status));
    let prev = sh.readiness.finish(&job.key, verdict.clone());
    let changed = prev
        .as_ref()
        .is_none_or(|p| (p.status, p.reason) != (verdict.status, verdict.reason));
    if changed {
        let ok = verdict.status == crate::conditions::TRUE;
        if ok {
            info!(vip = %job.key, reason = verdict.reason, "failover readiness confirmed");
        } else {
            warn!(vip = %job.key, status = verdict.status, reason = verdict.reason, message = %verdict.message, "failover readiness problem");
        }
        // The first verdict of a term is an Event only when it reports a problem.
        if prev.is_some() || !ok {
            // The Event's reason is the verdict's, so each kind of problem is its own Event
            // (the recorder folds repeats of one reason into a series).
            let t = if ok {
                EventType::Normal
            } else {
                EventType::Warning
            };
            publish(
                &sh,
                &job.vip,
                t,
                verdict.reason,
                "CheckFailoverReadiness",
                verdict.message.clone(),
            )
            .await;
        }
    }
    let _ = job.trigger.send(ObjectRef::from(job.vip.as_ref()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(renewed_secs_ago: i64, duration: i32, ann: Option<&str>) -> Lease {
        let now = chrono::Utc::now();
        let mut l = Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(
                    k8s_openapi::jiff::Timestamp::from_second(now.timestamp() - renewed_secs_ago)
                        .unwrap(),
                )),
                lease_duration_seconds: Some(duration),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Some(a) = ann {
            l.metadata.annotations =
                Some([(INTERFACES_ANNOTATION.to_string(), a.to_string())].into());
        }
        l
    }

    #[test]
    fn heartbeat_freshness_and_interfaces() {
        let now = chrono::Utc::now();
        assert_eq!(agent_facts(None, now), AgentFacts::Missing);
        assert_eq!(
            agent_facts(Some(&Lease::default()), now),
            AgentFacts::Missing
        );
        assert!(
            matches!(agent_facts(Some(&lease(100, 30, None)), now), AgentFacts::Stale(a) if a >= 99)
        );
        let alive = agent_facts(
            Some(&lease(
                2,
                30,
                Some(r#"[{"name":"ens3","networks":["10.0.10.11/24"]}]"#),
            )),
            now,
        );
        assert_eq!(
            alive,
            AgentFacts::Alive(vec![AgentInterface {
                name: "ens3".into(),
                networks: vec!["10.0.10.11/24".into()]
            }])
        );
        // An unreadable annotation reads as no interfaces (reported as InterfaceMissing).
        assert_eq!(
            agent_facts(Some(&lease(2, 30, Some("{"))), now),
            AgentFacts::Alive(vec![])
        );
    }
}
