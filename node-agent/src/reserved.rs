//! Addresses the agent must never configure: every Node's InternalIP/ExternalIP and the IPs of
//! the pods on this node. A VIP equal to one of them would take that node's or pod's traffic
//! (replication, kubelet), whatever the controller says.
//!
//! Data flow: two kube-rs watchers (all Nodes; pods with `spec.nodeName=<this node>`) fill
//! reflector stores; after each change the pure [`reserved`] turns both stores into one map
//! (canonical address → who uses it), sent to the agent as [`Input::Reserved`] when it changed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, NodeStatus, Pod, PodStatus};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;
use tracing::warn;

use crate::agent::Input;

/// Node address types that name an address the node itself uses.
fn is_node_ip(t: &str) -> bool {
    t == "InternalIP" || t == "ExternalIP"
}

/// Pure: the addresses in use by `nodes` and `pods`, canonical, each with who uses it. A node
/// wins over a host-network pod that shares its IP.
pub fn reserved<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> BTreeMap<IpAddr, String> {
    let mut out = BTreeMap::new();
    for n in nodes {
        let addrs = n.status.as_ref().and_then(|s| s.addresses.as_ref());
        for a in addrs.into_iter().flatten().filter(|a| is_node_ip(&a.type_)) {
            if let Ok(ip) = a.address.trim().parse::<IpAddr>() {
                out.entry(ip.to_canonical())
                    .or_insert_with(|| format!("node {}'s {}", n.name_any(), a.type_));
            }
        }
    }
    for p in pods {
        let st = p.status.as_ref();
        let ips = st.and_then(|s| s.pod_ip.as_deref()).into_iter().chain(
            st.and_then(|s| s.pod_ips.as_ref())
                .into_iter()
                .flatten()
                .map(|i| i.ip.as_str()),
        );
        for ip in ips.filter_map(|s| s.trim().parse::<IpAddr>().ok()) {
            out.entry(ip.to_canonical()).or_insert_with(|| {
                format!(
                    "pod {}/{}'s IP",
                    p.namespace().unwrap_or_default(),
                    p.name_any()
                )
            });
        }
    }
    out
}

fn trim_node(n: &mut Node) {
    n.metadata.managed_fields = None;
    n.metadata.annotations = None;
    n.metadata.labels = None;
    n.spec = None;
    n.status = n.status.take().map(|s| NodeStatus {
        addresses: s.addresses,
        ..NodeStatus::default()
    });
}

fn trim_pod(p: &mut Pod) {
    p.metadata.managed_fields = None;
    p.metadata.annotations = None;
    p.metadata.labels = None;
    p.spec = None;
    p.status = p.status.take().map(|s| PodStatus {
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips,
        ..PodStatus::default()
    });
}

/// Watches Nodes and this node's pods until the agent goes away, sending the reserved set
/// whenever it changes. Watch errors are logged and retried with backoff; until the first
/// lists complete the set is empty (the controller refuses such addresses up front too).
pub async fn run(client: Client, node: String, tx: mpsc::Sender<Input>) {
    let (nodes, node_writer) = reflector::store::<Node>();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let node_events = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(trim_node)
        .reflect(node_writer)
        .map(|r| r.map(|_| ()).map_err(|e| ("Node", e)));
    let pod_events = watcher(
        Api::<Pod>::all(client),
        watcher::Config::default().fields(&format!("spec.nodeName={node}")),
    )
    .default_backoff()
    .modify(trim_pod)
    .reflect(pod_writer)
    .map(|r| r.map(|_| ()).map_err(|e| ("Pod", e)));
    let mut events = std::pin::pin!(futures::stream::select(node_events, pod_events));
    let mut last: Option<BTreeMap<IpAddr, String>> = None;
    while let Some(ev) = events.next().await {
        if let Err((kind, error)) = ev {
            warn!(%error, kind, "watch of addresses in use failed (the agent needs list/watch on nodes and pods); retrying");
            continue;
        }
        let now = current(&nodes, &pods);
        if last.as_ref() != Some(&now) {
            last = Some(now.clone());
            if tx.send(Input::Reserved(now)).await.is_err() {
                return;
            }
        }
    }
}

fn current(nodes: &Store<Node>, pods: &Store<Pod>) -> BTreeMap<IpAddr, String> {
    let (n, p) = (nodes.state(), pods.state());
    reserved(n.iter().map(|x| x.as_ref()), p.iter().map(|x| x.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, PodIP};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn node_ips_and_pod_ips_are_reserved_in_canonical_form() {
        let node = Node {
            metadata: ObjectMeta {
                name: Some("worker-1".into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                addresses: Some(vec![
                    NodeAddress {
                        type_: "InternalIP".into(),
                        address: "10.0.10.11".into(),
                    },
                    NodeAddress {
                        type_: "Hostname".into(),
                        address: "10.0.10.99".into(),
                    },
                    NodeAddress {
                        type_: "ExternalIP".into(),
                        address: "fd00:0:0::11".into(),
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pod = |name: &str, ip: &str| Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("db".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                pod_ip: Some(ip.into()),
                pod_ips: Some(vec![PodIP { ip: ip.into() }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pods = [pod("orders-0", "10.0.10.11"), pod("app", "10.244.1.5")];
        let r = reserved([&node], &pods);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            r.get(&ip("10.0.10.11")).map(String::as_str),
            Some("node worker-1's InternalIP"),
            "a host-network pod sharing the node's IP is reported as the node"
        );
        assert_eq!(
            r.get(&ip("fd00::11")).map(String::as_str),
            Some("node worker-1's ExternalIP")
        );
        assert_eq!(
            r.get(&ip("10.244.1.5")).map(String::as_str),
            Some("pod db/app's IP")
        );
        assert!(
            !r.contains_key(&ip("10.0.10.99")),
            "Hostname is not an IP in use"
        );
        assert_eq!(r.len(), 3);
    }
}
