//! Dereference step: copy one PostgresVip's world out of the reflector stores into the plain
//! values [`crate::decide`] takes, and the small pure judgements around the edge calls (which
//! URL verifies the data path, what its answer means).
//!
//! Data flow: stores → [`gather`] → `Gathered` (lock record stamped on the monotonic clock,
//! dynamic config, member pods, their nodes) → `decide::Inputs`. Nothing here writes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use pgvip_api::{PostgresVipSpec, Scheme, SecretKeyRef, VipRole};
use tracing::warn;

use crate::decide::{LockView, NodeView, PodView, ProbeOutcome};
use crate::lock::{lock_key, LockClock, LockObservation};
use crate::patroni::{parse_dynamic_config, DynamicConfig, LeaderRecord};
use crate::status::DataPath;
use crate::watch::{config_object_name, leader_object_name, pod_selected, Stores};

/// One VIP's view of its cluster.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// The lock and its age (Patroni source; `None` when the object is missing).
    pub lock: Option<LockView>,
    /// The lock's observation (for the failover start instant).
    pub lock_obs: Option<LockObservation>,
    /// The lock object's key in the [`LockClock`] (Patroni source).
    pub lock_key: Option<String>,
    /// Dynamic config.
    pub config: DynamicConfig,
    /// Member pods.
    pub pods: Vec<PodView>,
    /// The members' nodes.
    pub nodes: BTreeMap<String, NodeView>,
}

fn annotations_of(
    stores: &Stores,
    ns: &str,
    name: &str,
    endpoints: bool,
) -> Option<BTreeMap<String, String>> {
    if endpoints {
        stores
            .endpoints
            .get(&ObjectRef::new(name).within(ns))
            .map(|o| o.metadata.annotations.clone().unwrap_or_default())
    } else {
        stores
            .configmaps
            .get(&ObjectRef::new(name).within(ns))
            .map(|o| o.metadata.annotations.clone().unwrap_or_default())
    }
}

/// A pod as the decision sees it.
pub fn pod_view(pod: &Pod) -> PodView {
    PodView {
        name: pod.name_any(),
        node: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        ip: pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse::<IpAddr>().ok()),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        labels: pod.labels().clone(),
    }
}

/// Reads the stores for the VIP `spec` in `ns` at `now`.
pub fn gather(
    spec: &PostgresVipSpec,
    ns: &str,
    vip: &str,
    stores: &Stores,
    locks: &LockClock,
    now: Instant,
) -> Gathered {
    let mut g = Gathered::default();
    if let Some(p) = &spec.patroni {
        let lock_name = leader_object_name(&p.scope, p.use_endpoints);
        let lkey = lock_key(ns, &lock_name);
        g.lock_key = Some(lkey.clone());
        match annotations_of(stores, ns, &lock_name, p.use_endpoints) {
            Some(ann) => {
                let obs = locks.observe(&lkey, LeaderRecord::from_annotations(&ann), now);
                g.lock = Some(LockView {
                    record: obs.record.clone(),
                    age: obs.age(now),
                });
                g.lock_obs = Some(obs);
            }
            None => locks.forget(&lkey),
        }
        if let Some(ann) =
            annotations_of(stores, ns, &config_object_name(&p.scope), p.use_endpoints)
        {
            g.config = parse_dynamic_config(ann.get(crate::patroni::CONFIG_ANNOTATION).map(String::as_str)).unwrap_or_else(|e| {
                warn!(vip = %vip, cluster = %p.scope, error = %e, "unreadable Patroni dynamic config; using defaults");
                DynamicConfig::default()
            });
        }
    }
    g.pods = stores
        .pods
        .state()
        .iter()
        .filter(|p| p.namespace().as_deref() == Some(ns))
        .filter(|p| pod_selected(spec, p.labels()))
        .map(|p| pod_view(p))
        .collect();
    g.pods.sort_by(|a, b| a.name.cmp(&b.name));
    for node in g.pods.iter().filter_map(|p| p.node.as_deref()) {
        if let Some(n) = stores.nodes.get(&ObjectRef::new(node)) {
            g.nodes.insert(
                node.to_string(),
                NodeView {
                    provider_id: n.spec.as_ref().and_then(|s| s.provider_id.clone()),
                },
            );
        }
    }
    g
}

/// The providerID of `node` from the store.
pub fn provider_id_of(stores: &Stores, node: &str) -> Option<String> {
    stores
        .nodes
        .get(&ObjectRef::new(node))
        .and_then(|n| n.spec.as_ref().and_then(|s| s.provider_id.clone()))
}

/// (scheme, port, CA Secret) of the members' health endpoint.
pub fn endpoint_of(spec: &PostgresVipSpec) -> (Scheme, u16, Option<SecretKeyRef>) {
    match (&spec.labels, &spec.patroni) {
        (Some(l), _) => (
            l.health.scheme,
            l.health.port,
            l.health.ca_secret_ref.clone(),
        ),
        (None, Some(p)) => (
            p.rest_api.scheme,
            p.rest_api.port,
            p.rest_api.ca_secret_ref.clone(),
        ),
        (None, None) => (Scheme::Http, 8008, None),
    }
}

/// Reads the PEM CA bundle from `secret` in `ns`. The error names the Secret and key.
pub async fn load_ca(
    client: &kube::Client,
    ns: &str,
    secret: &SecretKeyRef,
) -> Result<Vec<u8>, String> {
    let mut v = secret_values(
        client,
        ns,
        &secret.name,
        &[&secret.key],
        "restApi.caSecretRef",
    )
    .await?;
    Ok(v.remove(0))
}

/// Reads `keys` of Secret `name` in `ns` (from `data` or `stringData`), in that order. `field`
/// names the spec field that points at the Secret, for the error.
pub async fn secret_values(
    client: &kube::Client,
    ns: &str,
    name: &str,
    keys: &[&str],
    field: &str,
) -> Result<Vec<Vec<u8>>, String> {
    let data = secret_data(client, ns, name, field).await?;
    keys.iter()
        .map(|key| secret_key(&data, key, ns, name, field))
        .collect()
}

/// Key `key` of a Secret read with [`secret_data`]; the error names the Secret and the field.
pub fn secret_key(
    data: &BTreeMap<String, Vec<u8>>,
    key: &str,
    ns: &str,
    name: &str,
    field: &str,
) -> Result<Vec<u8>, String> {
    data.get(key)
        .cloned()
        .ok_or_else(|| format!("Secret {ns}/{name} ({field}) has no key {key:?}"))
}

/// Every key of Secret `name` in `ns`, `data` and `stringData` merged (`data` wins), in one
/// read. `field` names the spec field that points at the Secret, for the error.
pub async fn secret_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
    field: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| format!("reading Secret {ns}/{name} ({field}): {e}"))?
        .ok_or_else(|| format!("Secret {ns}/{name} ({field}) does not exist"))?;
    let mut out: BTreeMap<String, Vec<u8>> = s
        .string_data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    out.extend(
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0)),
    );
    Ok(out)
}

/// Pure: what a data-path answer means. `expected` is the member that should answer; a Patroni
/// body naming anyone else fails the check.
pub fn judge_data_path(outcome: &ProbeOutcome, expected: &str, url: &str) -> DataPath {
    match outcome {
        ProbeOutcome::Failed(why) => DataPath::Failed(format!("GET {url} through the VIP failed: {why}")),
        ProbeOutcome::Answered { status, .. } if *status != 200 => {
            DataPath::Failed(format!("GET {url} through the VIP answered {status}"))
        }
        ProbeOutcome::Answered { body: Some(b), .. } if b.name.as_deref().is_some_and(|n| n != expected) => {
            DataPath::Failed(format!(
                "GET {url} through the VIP reached {} instead of {expected}: the address still routes to the old node",
                b.name.as_deref().unwrap_or("?")
            ))
        }
        ProbeOutcome::Answered { .. } => DataPath::Verified,
    }
}

/// The path used to verify the data path: the role's health path.
pub fn verify_path(spec: &PostgresVipSpec) -> String {
    match (&spec.labels, spec.role) {
        (Some(l), _) => l.health.path.clone(),
        (None, VipRole::Primary) => "/primary".to_string(),
        (None, VipRole::Replica) => "/replica".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patroni::MemberStatus;

    fn answered(status: u16, name: Option<&str>) -> ProbeOutcome {
        ProbeOutcome::Answered {
            status,
            body: name.map(|n| MemberStatus {
                name: Some(n.into()),
                ..MemberStatus::default()
            }),
        }
    }

    #[test]
    fn data_path_judgement() {
        let u = "http://10.0.1.100:8008/primary";
        assert_eq!(
            judge_data_path(&answered(200, Some("pg-1")), "pg-1", u),
            DataPath::Verified
        );
        assert_eq!(
            judge_data_path(&answered(200, None), "pg-1", u),
            DataPath::Verified
        );
        assert!(
            matches!(judge_data_path(&answered(200, Some("pg-0")), "pg-1", u), DataPath::Failed(m) if m.contains("instead of pg-1"))
        );
        assert!(matches!(
            judge_data_path(&answered(503, Some("pg-1")), "pg-1", u),
            DataPath::Failed(_)
        ));
        assert!(matches!(
            judge_data_path(&ProbeOutcome::Failed("timeout".into()), "pg-1", u),
            DataPath::Failed(_)
        ));
    }
}
