//! Stand-in node-agent reports. The scale bench runs no node-agents, and a controller whose
//! failovers wait for agents that never answer keeps requeueing them (every 500 ms after the
//! announce timeout), which starves every other PostgresVip. So, unless switched off, the bench
//! writes each node's `status.nodes[N]` entry the way the agent on N would (address configured
//! on the desired node, announced for the current `cloud.assignedAt`, removed elsewhere), under
//! that agent's field manager. Nothing is configured on any interface and no frame is sent.
//!
//! Data flow: watch of PostgresVips → [`reports_needed`] (pure) → server-side apply of each
//! entry on `/status`.

use futures::StreamExt;
use kube::{
    api::{Patch, PatchParams},
    runtime::{watcher, WatchStreamExt},
    Api, Client, ResourceExt,
};
use pgvip_api::{agent_manager, NodeReport, PostgresVip};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::warn;

use super::world::DB_NAMESPACE;

/// Pure: the entries the agents would write now for `vip`: the desired node holds the address
/// (and has announced once desired = assigned), every other node that said it held it no
/// longer does. Entries already saying so are left alone.
pub fn reports_needed(vip: &PostgresVip, now: &str) -> Vec<NodeReport> {
    let Some(st) = vip.status.as_ref() else {
        return vec![];
    };
    let mut out = Vec::new();
    if let Some(n) = st.desired_node.as_deref() {
        let have = st.nodes.iter().find(|r| r.node == n);
        let at = st.cloud.as_ref().and_then(|c| c.assigned_at.clone());
        let announced_for = if st.assigned_node.as_deref() == Some(n) && at.is_some() {
            at
        } else {
            have.and_then(|r| r.announced_for.clone())
        };
        let fresh = have.is_some_and(|r| r.address_configured && r.announced_for == announced_for);
        if !fresh {
            out.push(NodeReport {
                node: n.to_string(),
                address_configured: true,
                interface: Some("ens3".into()),
                announced_at: announced_for.as_ref().map(|_| now.to_string()),
                announced_for,
                last_error: None,
                updated_at: now.to_string(),
            });
        }
    }
    for r in &st.nodes {
        if r.address_configured && st.desired_node.as_deref() != Some(r.node.as_str()) {
            out.push(NodeReport {
                address_configured: false,
                updated_at: now.to_string(),
                ..r.clone()
            });
        }
    }
    out
}

/// Writes the stand-in reports until aborted.
pub fn spawn(client: &Client) -> JoinHandle<()> {
    let api: Api<PostgresVip> = Api::namespaced(client.clone(), DB_NAMESPACE);
    tokio::spawn(async move {
        let mut s = std::pin::pin!(watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects());
        while let Some(ev) = s.next().await {
            let Ok(vip) = ev else { continue };
            let now = super::populate::now();
            for r in reports_needed(&vip, &now) {
                let (api, name) = (api.clone(), vip.name_any());
                tokio::spawn(async move {
                    let body = json!({"apiVersion": "pgvip.dev/v1alpha1", "kind": "PostgresVip",
                        "metadata": {"name": name, "namespace": DB_NAMESPACE},
                        "status": {"nodes": [r]}});
                    let pp = PatchParams::apply(&agent_manager(&r.node)).force();
                    if let Err(error) = api.patch_status(&name, &pp, &Patch::Apply(body)).await {
                        warn!(vip = %name, %error, "stand-in agent report failed");
                    }
                });
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vip(status: serde_json::Value) -> PostgresVip {
        serde_json::from_value(json!({"apiVersion": "pgvip.dev/v1alpha1", "kind": "PostgresVip",
            "metadata": {"name": "v", "namespace": "db"},
            "spec": {"address": "10.64.4.1", "patroni": {"scope": "c"}, "provider": {"oci": {"subnetId": "s"}}},
            "status": status}))
        .unwrap()
    }

    #[test]
    fn the_desired_node_reports_and_announces_only_once_assigned() {
        let v =
            vip(json!({"desiredNode": "n2", "assignedNode": "n1", "cloud": {"assignedAt": "t1"}}));
        let r = reports_needed(&v, "now");
        assert_eq!(r.len(), 1);
        assert!(r[0].address_configured && r[0].announced_for.is_none());
        let v =
            vip(json!({"desiredNode": "n2", "assignedNode": "n2", "cloud": {"assignedAt": "t2"}}));
        assert_eq!(
            reports_needed(&v, "now")[0].announced_for.as_deref(),
            Some("t2")
        );
    }

    #[test]
    fn up_to_date_entries_are_left_alone_and_old_holders_let_go() {
        let v = vip(
            json!({"desiredNode": "n2", "assignedNode": "n2", "cloud": {"assignedAt": "t2"},
            "nodes": [{"node": "n2", "addressConfigured": true, "announcedFor": "t2", "updatedAt": "x"},
                      {"node": "n1", "addressConfigured": true, "announcedFor": "t1", "updatedAt": "x"}]}),
        );
        let r = reports_needed(&v, "now");
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].node.as_str(), r[0].address_configured), ("n1", false));
        assert!(reports_needed(&vip(json!({})), "now").is_empty());
    }
}
