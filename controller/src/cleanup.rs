//! Finalizer cleanup: clear `desiredNode` so every agent removes the address, then release the
//! private IP only when `status.cloud.createdByPgvip` says pgvip created it. A private IP that
//! existed before pgvip (created by hand or by Terraform) is left in place for its owner.
//!
//! Data flow: deletion timestamp → `finalizer()` → [`cleanup`] → status write, cloud release →
//! the finalizer is removed by kube's helper once this returns `Ok`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::ResourceExt;
use pgvip_api::{condition, PostgresVip};
use tracing::info;

use crate::cloud::CloudRef;
use crate::conditions::{self, reason, FALSE};
use crate::context::{now_rfc3339, publish, Context, Writer};
use crate::decide::Decision;
use crate::status::{self, with_decision};
use crate::watch::key;
use crate::{Error, Result};

/// Deletion: clear `desiredNode` so every agent removes the address, then release the private
/// IP if pgvip created it. A private IP that existed before pgvip is left in place.
pub async fn cleanup(
    vip: Arc<PostgresVip>,
    ctx: &Context,
    api: &Api<PostgresVip>,
) -> Result<Action> {
    let sh = ctx.shared.as_ref();
    let (ns, name) = (vip.namespace().unwrap_or_default(), vip.name_any());
    let k = key(&ns, &name);
    let snapshot = vip.status.clone().unwrap_or_default();
    let mut cur = sh.writes.base(&k, &snapshot);
    let mut w = Writer {
        api,
        sh,
        name: name.clone(),
        key: k.clone(),
    };
    let ts = now_rfc3339();
    let d = Decision::Unconfirmed {
        reason: reason::NO_LEADER_LOCK,
        message: "the PostgresVip is being deleted; every node removes the address".into(),
    };
    let mut next = with_decision(&cur, &d, false, vip.metadata.generation, &ts);
    conditions::set(
        &mut next.conditions,
        condition::READY,
        FALSE,
        reason::DELETING,
        "the PostgresVip is being deleted",
        vip.metadata.generation,
        &ts,
    );
    if status::differs(Some(&cur), &next) {
        // A missing object can only be gone if the finalizer is gone too: nothing left to do.
        match w.write(&mut cur, next).await {
            Err(Error::Kube(e)) if matches!(e.as_ref(), kube::Error::Api(ae) if ae.code == 404) => {
                return Ok(Action::await_change())
            }
            other => other?,
        }
    }
    let address = vip.spec.address.parse::<IpAddr>().ok();
    if let (Some(cloud), Some(address)) = (&cur.cloud, address) {
        let subnet = vip.spec.provider.subnet_for(sh.provider.spec_key());
        let target = CloudRef::recorded(address, subnet.unwrap_or_default(), cloud);
        if cloud.created_by_pgvip && target.is_known() {
            let id = target
                .private_ip_id
                .clone()
                .or_else(|| target.vnic_id.as_ref().map(|v| format!("{address} on {v}")))
                .unwrap_or_default();
            let id = id.as_str();
            if !sh.leadership.is_leader() {
                return Err(Error::NotLeader);
            }
            let t = Instant::now();
            let res = sh.provider.release(&target).await;
            sh.metrics.cloud_call(
                sh.provider.name(),
                "release",
                t.elapsed(),
                res.as_ref().err().map(|e| e.category),
            );
            if let Err(e) = res {
                publish(
                    sh,
                    &vip,
                    EventType::Warning,
                    "CloudReleaseFailed",
                    "ReleaseAddress",
                    format!(
                        "releasing private IP {id} failed ({}): {}",
                        e.category, e.message
                    ),
                )
                .await;
                return Err(Error::Cloud(e));
            }
            info!(private_ip = id, "released the private IP pgvip created");
        }
    }
    sh.failovers.forget_all(&k);
    sh.writes.forget(&k);
    sh.readiness.forget(&k);
    sh.metrics.failover_ready(&k, None);
    sh.metrics.vip_conditions(&k, None);
    Ok(Action::await_change())
}
