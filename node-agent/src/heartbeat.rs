//! The agent's heartbeat: a `coordination.k8s.io` Lease per node, renewed on a fixed period
//! and annotated with the interfaces a VIP could go on, so the controller can tell, before a
//! failover needs it, that this node's agent is running and would find an interface.
//!
//! Data flow: every period, netlink snapshot → [`interfaces`] (pure) → [`lease_patch`] (pure)
//! → server-side apply under the agent's own field manager. Failures are logged and retried
//! on the next period; the Lease simply goes stale, which is what the controller looks for.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use pgvip_api::agent::{
    heartbeat_lease_name, AgentInterface, HEARTBEAT_LABEL, INTERFACES_ANNOTATION,
};
use pgvip_api::agent_manager;
use tracing::{debug, warn};

use crate::netlink::Netlink;
use crate::netstate::{host_prefix, NetState};

/// The interfaces of `state` that have a connected network (a non-host address that is not
/// one of pgvip's VIPs), in interface-index order.
pub fn interfaces(state: &NetState) -> Vec<AgentInterface> {
    let mut links = state.links.clone();
    links.sort_by_key(|l| l.index);
    links
        .iter()
        .filter_map(|l| {
            let networks: Vec<String> = state
                .addrs
                .iter()
                .filter(|a| a.index == l.index && !a.is_owned())
                .filter(|a| a.prefix_len < host_prefix(a.address))
                .map(|a| format!("{}/{}", a.address, a.prefix_len))
                .collect();
            (!networks.is_empty()).then(|| AgentInterface {
                name: l.name.clone(),
                networks,
            })
        })
        .collect()
}

/// The apply body of this node's heartbeat Lease.
pub fn lease_patch(
    node: &str,
    ifaces: &[AgentInterface],
    duration: Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Value, serde_json::Error> {
    Ok(serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": heartbeat_lease_name(node),
            "labels": { HEARTBEAT_LABEL: "node-agent", "pgvip.dev/node": label_value(node) },
            "annotations": { INTERFACES_ANNOTATION: serde_json::to_string(ifaces)? },
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": duration.as_secs().max(1),
            "renewTime": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
    }))
}

/// A label value for `node` (at most 63 characters; longer names are cut).
fn label_value(node: &str) -> &str {
    node.get(..63).unwrap_or(node)
}

/// Renews the heartbeat every `period` until the task is aborted. The Lease is valid for
/// three periods.
pub async fn run(client: Client, namespace: String, node: String, period: Duration) {
    let net = match Netlink::connect() {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "heartbeat: cannot open netlink; no heartbeat will be written");
            return;
        }
    };
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    let name = heartbeat_lease_name(&node);
    let pp = PatchParams::apply(&agent_manager(&node)).force();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ifaces = match net.snapshot().await {
            Ok(s) => interfaces(&s),
            Err(e) => {
                warn!(error = %e, "heartbeat: netlink snapshot failed");
                continue;
            }
        };
        let body = match lease_patch(&node, &ifaces, period * 3, chrono::Utc::now()) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "heartbeat: cannot encode the Lease");
                continue;
            }
        };
        match api.patch(&name, &pp, &Patch::Apply(&body)).await {
            Ok(_) => debug!(lease = %name, interfaces = ifaces.len(), "heartbeat renewed"),
            Err(e) => {
                warn!(lease = %name, namespace = %namespace, error = %e, "heartbeat: cannot renew the Lease (check the agent's RBAC on leases)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netstate::PGVIP_ADDR_PROTO;
    use crate::test_support::{addr, link};

    #[test]
    fn lists_connected_networks_but_not_vips_or_host_routes() {
        let state = NetState {
            links: vec![link(3, "ens4"), link(1, "lo"), link(2, "ens3")],
            addrs: vec![
                addr(1, "127.0.0.1", 8, None),
                addr(2, "10.0.10.11", 24, None),
                addr(2, "10.0.10.200", 32, Some(PGVIP_ADDR_PROTO)),
                addr(3, "10.9.9.9", 32, None),
            ],
        };
        let got = interfaces(&state);
        assert_eq!(
            got,
            vec![
                AgentInterface {
                    name: "lo".into(),
                    networks: vec!["127.0.0.1/8".into()]
                },
                AgentInterface {
                    name: "ens3".into(),
                    networks: vec!["10.0.10.11/24".into()]
                },
            ]
        );
    }

    #[test]
    fn lease_body_names_the_node_and_its_interfaces() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let ifaces = vec![AgentInterface {
            name: "ens3".into(),
            networks: vec!["10.0.10.11/24".into()],
        }];
        let b = lease_patch("worker-1", &ifaces, Duration::from_secs(30), now).unwrap();
        assert_eq!(b["metadata"]["name"], "pgvip-agent-worker-1");
        assert_eq!(b["metadata"]["labels"][HEARTBEAT_LABEL], "node-agent");
        assert_eq!(b["spec"]["leaseDurationSeconds"], 30);
        assert_eq!(b["spec"]["renewTime"], "2026-01-02T03:04:05.123456Z");
        let back: Vec<AgentInterface> = serde_json::from_str(
            b["metadata"]["annotations"][INTERFACES_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(back, ifaces);
    }
}
