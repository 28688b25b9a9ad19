//! Watches: one reflector store per kind, whose event streams also trigger the PostgresVips
//! that care (no list calls per reconcile).
//!
//! Data flow: Patroni objects (ConfigMaps or Endpoints, metadata only), member pods and nodes
//! are watched; each event updates the store the reconciler reads, and the mapper here returns
//! the PostgresVips to reconcile. Leader-object events also stamp the lock's record on the
//! monotonic [`crate::lock::LockClock`] as they arrive, so lock age is measured from the watch,
//! not from when a reconcile got round to it. Objects that fail to decode surface as watcher
//! errors, are logged by the run loop, and never stop the other streams.

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Node, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use pgvip_api::agent::INTERFACES_ANNOTATION;
use pgvip_api::{condition, PostgresVip, PostgresVipSpec};

use crate::conditions::reason;
use crate::patroni::is_read_annotation;

/// The stores one controller (one namespace, or all) reads.
#[derive(Clone)]
pub struct Stores {
    /// PostgresVips (the controller's own store).
    pub vips: Store<PostgresVip>,
    /// The PostgresVip stores of every controller of this process (this one's among them):
    /// address ownership is decided across all watched namespaces.
    pub all_vips: Vec<Store<PostgresVip>>,
    /// ConfigMap metadata (Patroni leader and config objects).
    pub configmaps: Store<PartialObjectMeta<ConfigMap>>,
    /// Endpoints metadata (Patroni `useEndpoints` mode).
    pub endpoints: Store<PartialObjectMeta<Endpoints>>,
    /// Pods, trimmed to what the decision reads.
    pub pods: Store<Pod>,
    /// Nodes, trimmed to what the decision reads (shared by all controllers).
    pub nodes: Store<Node>,
    /// The node-agents' heartbeat Leases (shared by all controllers).
    pub agents: Store<Lease>,
}

/// `namespace/name` of an object.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Name of the leader lock object of `scope`: `<scope>` Endpoints or `<scope>-leader` ConfigMap.
pub fn leader_object_name(scope: &str, use_endpoints: bool) -> String {
    if use_endpoints {
        scope.to_string()
    } else {
        format!("{scope}-leader")
    }
}

/// Name of the dynamic-config object of `scope` (same kind as the lock).
pub fn config_object_name(scope: &str) -> String {
    format!("{scope}-config")
}

/// True when `labels` satisfy the spec's member selector: `patroni.podSelector`, else
/// Patroni's default `cluster-name=<scope>`, or the label source's `matchLabels`. Called for
/// every pod on every pass, so it allocates nothing.
pub fn pod_selected(
    spec: &PostgresVipSpec,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let all = |sel: &std::collections::BTreeMap<String, String>| {
        !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    };
    match (&spec.patroni, &spec.labels) {
        (_, Some(l)) => all(&l.match_labels),
        (Some(p), None) => match &p.pod_selector {
            Some(sel) => all(sel),
            None => labels.get("cluster-name") == Some(&p.scope),
        },
        (None, None) => false,
    }
}

/// PostgresVips in `namespace` whose Patroni lock or config object is `name` (of the given kind).
pub fn vips_for_patroni_object(
    vips: &[Arc<PostgresVip>],
    namespace: &str,
    name: &str,
    endpoints: bool,
) -> Vec<ObjectRef<PostgresVip>> {
    vips.iter()
        .filter(|v| v.namespace().as_deref() == Some(namespace))
        .filter(|v| {
            v.spec.patroni.as_ref().is_some_and(|p| {
                p.use_endpoints == endpoints
                    && (name == leader_object_name(&p.scope, p.use_endpoints)
                        || name == config_object_name(&p.scope))
            })
        })
        .map(|v| ObjectRef::from(v.as_ref()))
        .collect()
}

/// True when `name` in `namespace` is the leader lock (not the config) of one of `vips`.
pub fn is_lock_object(
    vips: &[Arc<PostgresVip>],
    namespace: &str,
    name: &str,
    endpoints: bool,
) -> bool {
    vips.iter().any(|v| {
        v.namespace().as_deref() == Some(namespace)
            && v.spec.patroni.as_ref().is_some_and(|p| {
                p.use_endpoints == endpoints && leader_object_name(&p.scope, endpoints) == name
            })
    })
}

impl Stores {
    /// Waits until every store this controller reads has had its initial list; false when a
    /// writer is gone. A reconcile must never decide on a half-filled cache: a missing pod or
    /// node would read as "no leader" and take the address away.
    pub async fn ready(&self) -> bool {
        let vips = futures::future::try_join_all(self.all_vips.iter().map(Store::wait_until_ready));
        futures::try_join!(
            self.configmaps.wait_until_ready(),
            self.endpoints.wait_until_ready(),
            self.pods.wait_until_ready(),
            self.nodes.wait_until_ready(),
            vips,
        )
        .is_ok()
    }

    /// The claims of every PostgresVip, across all watched namespaces, on `address`
    /// (canonical). Only matching objects are turned into claims: this runs on every pass.
    pub fn claims_on(&self, address: std::net::IpAddr) -> Vec<crate::ownership::Claim> {
        let address = crate::ownership::canonical(address);
        self.all_vips
            .iter()
            .flat_map(|s| s.state())
            .filter(|v| {
                v.spec
                    .address
                    .trim()
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| crate::ownership::canonical(a) == address)
            })
            .map(|v| crate::ownership::Claim::of(&v))
            .collect()
    }
}

/// PostgresVips in the pod's namespace whose member selector matches it.
pub fn vips_for_pod(vips: &[Arc<PostgresVip>], pod: &Pod) -> Vec<ObjectRef<PostgresVip>> {
    let ns = pod.namespace();
    let labels = pod.labels();
    vips.iter()
        .filter(|v| v.namespace() == ns)
        .filter(|v| pod_selected(&v.spec, labels))
        .map(|v| ObjectRef::from(v.as_ref()))
        .collect()
}

/// PostgresVips of any store that claim the same address in the same scope as `vip` (itself
/// excluded): the ones to re-evaluate when `vip` goes away.
pub fn vips_sharing_address(
    all: &[Store<PostgresVip>],
    vip: &PostgresVip,
) -> Vec<ObjectRef<PostgresVip>> {
    let me = crate::ownership::Claim::of(vip);
    if me.address.is_none() {
        return Vec::new();
    }
    all.iter()
        .flat_map(|s| s.state())
        .filter(|v| {
            let c = crate::ownership::Claim::of(v);
            c.key != me.key && c.address == me.address && c.scope == me.scope
        })
        .map(|v| ObjectRef::from(v.as_ref()))
        .collect()
}

/// PostgresVips a node event can matter to: those whose status mentions the node, and those
/// waiting for a node to appear or get its providerID.
pub fn vips_for_node(vips: &[Arc<PostgresVip>], node: &str) -> Vec<ObjectRef<PostgresVip>> {
    vips.iter()
        .filter(|v| {
            let Some(st) = &v.status else { return false };
            let mentions = st.leader.as_ref().is_some_and(|l| l.node == node)
                || st.desired_node.as_deref() == Some(node)
                || st.assigned_node.as_deref() == Some(node);
            let waiting = crate::conditions::get(&st.conditions, condition::LEADER_CONFIRMED)
                .is_some_and(|c| {
                    c.reason == reason::NODE_NOT_FOUND
                        || c.reason == reason::NODE_WITHOUT_PROVIDER_ID
                });
            mentions || waiting
        })
        .map(|v| ObjectRef::from(v.as_ref()))
        .collect()
}

/// Drops the metadata no store reader needs: field-manager bookkeeping, owners, finalizers
/// and `kubectl apply`'s copy of the whole object.
fn trim_common(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.owner_references = None;
    meta.finalizers = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// `kubectl apply`'s annotation: a full copy of the applied object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Keeps of a ConfigMap's or Endpoints' metadata only what identifies it and the Patroni
/// annotations pgvip reads: every such object in the watched namespaces is cached, most of
/// them not Patroni's.
pub fn trim_patroni_meta(meta: &mut ObjectMeta) {
    trim_common(meta);
    meta.labels = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| is_read_annotation(k));
    }
}

/// Keeps of a PostgresVip what the reconciler reads (spec, status, identity, finalizers).
pub fn trim_vip(vip: &mut PostgresVip) {
    vip.metadata.managed_fields = None;
    if let Some(a) = vip.metadata.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// Keeps of a heartbeat Lease its spec and the interfaces annotation.
pub fn trim_agent_lease(lease: &mut Lease) {
    trim_common(&mut lease.metadata);
    if let Some(a) = lease.metadata.annotations.as_mut() {
        a.retain(|k, _| k == INTERFACES_ANNOTATION);
    }
}

/// Drops what the decision never reads from a pod, to keep the store small.
pub fn trim_pod(pod: &mut Pod) {
    trim_common(&mut pod.metadata);
    pod.metadata.annotations = None;
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    pod.spec = Some(PodSpec {
        node_name,
        containers: Vec::new(),
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips,
        phase: s.phase,
        ..PodStatus::default()
    });
}

/// Drops what the decision never reads from a node (images, conditions...); keeps the
/// providerID and the node's InternalIP/ExternalIP addresses.
pub fn trim_node(node: &mut Node) {
    trim_common(&mut node.metadata);
    node.metadata.annotations = None;
    node.metadata.labels = None;
    let provider_id = node.spec.as_ref().and_then(|s| s.provider_id.clone());
    node.spec = Some(NodeSpec {
        provider_id,
        ..NodeSpec::default()
    });
    // The node's own addresses stay: a VIP must never be one of them.
    let addresses = node
        .status
        .take()
        .and_then(|s| s.addresses)
        .map(|a| {
            a.into_iter()
                .filter(|a| crate::ownership::is_node_ip_type(&a.type_))
                .collect::<Vec<_>>()
        })
        .filter(|a| !a.is_empty());
    node.status = addresses.map(|a| NodeStatus {
        addresses: Some(a),
        ..NodeStatus::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use pgvip_api::{PatroniSource, PostgresVipStatus, ProviderSpec, RestApiSpec};

    fn vip(ns: &str, name: &str, scope: &str, endpoints: bool) -> Arc<PostgresVip> {
        let mut v = PostgresVip::new(
            name,
            PostgresVipSpec {
                address: "10.0.1.100".into(),
                role: Default::default(),
                patroni: Some(PatroniSource {
                    scope: scope.into(),
                    use_endpoints: endpoints,
                    pod_selector: None,
                    rest_api: RestApiSpec::default(),
                }),
                labels: None,
                provider: ProviderSpec::default(),
                announce: Default::default(),
                data_path: None,
            },
        );
        v.metadata.namespace = Some(ns.into());
        Arc::new(v)
    }

    fn names(r: Vec<ObjectRef<PostgresVip>>) -> Vec<String> {
        r.into_iter().map(|o| o.name).collect()
    }

    #[test]
    fn patroni_objects_map_to_their_vips() {
        let vs = vec![
            vip("db", "a", "orders", false),
            vip("db", "b", "users", true),
            vip("other", "c", "orders", false),
        ];
        assert_eq!(
            names(vips_for_patroni_object(&vs, "db", "orders-leader", false)),
            vec!["a"]
        );
        assert_eq!(
            names(vips_for_patroni_object(&vs, "db", "orders-config", false)),
            vec!["a"]
        );
        assert_eq!(
            names(vips_for_patroni_object(&vs, "db", "users", true)),
            vec!["b"]
        );
        assert_eq!(
            names(vips_for_patroni_object(&vs, "db", "users-config", true)),
            vec!["b"]
        );
        assert!(vips_for_patroni_object(&vs, "db", "users-leader", false).is_empty());
        assert!(vips_for_patroni_object(&vs, "db", "orders", true).is_empty());
    }

    #[test]
    fn member_selection_follows_the_spec() {
        let labels = |kv: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let default = vip("db", "a", "orders", false).spec.clone();
        let mut custom = default.clone();
        if let Some(p) = custom.patroni.as_mut() {
            p.pod_selector = Some(labels(&[("app", "pg"), ("team", "x")]));
        }
        let mut empty = default.clone();
        if let Some(p) = empty.patroni.as_mut() {
            p.pod_selector = Some(labels(&[]));
        }
        let orders = labels(&[("cluster-name", "orders"), ("app", "pg")]);
        let team = labels(&[("app", "pg"), ("team", "x"), ("extra", "y")]);
        let cases = [
            (&default, &orders, true),
            (&default, &team, false),
            (&custom, &team, true),
            (&custom, &orders, false),
            (&empty, &orders, false), // an empty selector selects nothing
        ];
        for (i, (spec, l, want)) in cases.into_iter().enumerate() {
            assert_eq!(pod_selected(spec, l), want, "case {i}");
        }
    }

    #[test]
    fn pods_map_by_default_selector_and_namespace() {
        let vs = vec![
            vip("db", "a", "orders", false),
            vip("other", "c", "orders", false),
        ];
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("orders-0".into()),
                namespace: Some("db".into()),
                labels: Some(
                    [
                        ("cluster-name".to_string(), "orders".to_string()),
                        ("application".to_string(), "patroni".to_string()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        };
        assert_eq!(names(vips_for_pod(&vs, &pod)), vec!["a"]);
    }

    #[test]
    fn nodes_map_to_vips_that_mention_them() {
        let mut a = (*vip("db", "a", "orders", false)).clone();
        a.status = Some(PostgresVipStatus {
            desired_node: Some("n1".into()),
            ..PostgresVipStatus::default()
        });
        let vs = vec![Arc::new(a), vip("db", "b", "x", false)];
        assert_eq!(names(vips_for_node(&vs, "n1")), vec!["a"]);
        assert!(vips_for_node(&vs, "n2").is_empty());
    }

    #[test]
    fn trimming_keeps_what_the_decision_reads() {
        let mut node = Node {
            spec: Some(NodeSpec {
                provider_id: Some("ocid1.instance.oc1..x".into()),
                pod_cidr: Some("10.244.0.0/24".into()),
                ..NodeSpec::default()
            }),
            ..Node::default()
        };
        node.status = Some(NodeStatus {
            addresses: Some(vec![
                k8s_openapi::api::core::v1::NodeAddress {
                    type_: "InternalIP".into(),
                    address: "10.0.10.11".into(),
                },
                k8s_openapi::api::core::v1::NodeAddress {
                    type_: "Hostname".into(),
                    address: "worker-1".into(),
                },
            ]),
            ..NodeStatus::default()
        });
        trim_node(&mut node);
        assert_eq!(
            node.spec.unwrap().provider_id.as_deref(),
            Some("ocid1.instance.oc1..x")
        );
        let kept: Vec<String> = node
            .status
            .and_then(|s| s.addresses)
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.address)
            .collect();
        assert_eq!(kept, ["10.0.10.11"], "only the node's own IPs are kept");
        let mut pod = Pod {
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                pod_ip: Some("10.0.0.7".into()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        trim_pod(&mut pod);
        assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("n1"));
        assert_eq!(pod.status.unwrap().pod_ip.as_deref(), Some("10.0.0.7"));
    }

    fn meta_with(annotations: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("c1-leader".into()),
            namespace: Some("db".into()),
            labels: Some([("application".to_string(), "patroni".to_string())].into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            managed_fields: Some(vec![Default::default()]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn patroni_objects_keep_only_the_annotations_pgvip_reads() {
        let mut m = meta_with(&[
            ("leader", "c1-0"),
            ("renewTime", "2026-01-01T00:00:00+00:00"),
            ("ttl", "30"),
            ("config", "{}"),
            ("optime", "123"),
            (LAST_APPLIED, "{\"data\": \"big\"}"),
        ]);
        trim_patroni_meta(&mut m);
        let keys: Vec<&str> = m
            .annotations
            .as_ref()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["config", "leader", "renewTime", "ttl"]);
        assert_eq!(m.name.as_deref(), Some("c1-leader"));
        assert!(m.managed_fields.is_none() && m.labels.is_none());
        // The lock record reads the same before and after.
        let before = meta_with(&[
            ("leader", "c1-0"),
            ("acquireTime", "t"),
            ("transitions", "3"),
        ]);
        let mut after = before.clone();
        trim_patroni_meta(&mut after);
        assert_eq!(
            crate::patroni::LeaderRecord::from_annotations(&before.annotations.unwrap()),
            crate::patroni::LeaderRecord::from_annotations(&after.annotations.unwrap())
        );
    }

    #[test]
    fn pods_leases_and_vips_drop_bookkeeping_but_keep_what_is_read() {
        let mut pod = Pod {
            metadata: meta_with(&[("status", "{\"role\": \"primary\"}")]),
            ..Pod::default()
        };
        trim_pod(&mut pod);
        assert!(pod.metadata.annotations.is_none() && pod.metadata.managed_fields.is_none());
        assert_eq!(
            pod.labels().get("application").map(String::as_str),
            Some("patroni")
        );

        let mut lease = Lease {
            metadata: meta_with(&[(INTERFACES_ANNOTATION, "[]"), (LAST_APPLIED, "{}")]),
            ..Lease::default()
        };
        trim_agent_lease(&mut lease);
        let ann = lease.metadata.annotations.unwrap();
        assert_eq!(ann.len(), 1);
        assert!(ann.contains_key(INTERFACES_ANNOTATION));

        let mut v = vip("db", "v", "c1", false);
        let v = Arc::make_mut(&mut v);
        v.metadata.managed_fields = Some(vec![Default::default()]);
        v.metadata.finalizers = Some(vec!["pgvip.dev/cleanup".into()]);
        v.metadata.annotations = Some([(LAST_APPLIED.to_string(), "{}".to_string())].into());
        trim_vip(v);
        assert!(v.metadata.managed_fields.is_none());
        assert_eq!(v.metadata.annotations.as_ref().map(|a| a.len()), Some(0));
        assert_eq!(
            v.finalizers(),
            ["pgvip.dev/cleanup"],
            "the finalizer is read"
        );
    }
}
