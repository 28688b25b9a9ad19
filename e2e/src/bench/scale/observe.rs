//! Watching convergence from outside the controller: a watch on every PostgresVip keeps each
//! one's `desiredNode`/`assignedNode` (stamped when the event arrived), and the simulator says
//! which VNIC holds each VIP. A cluster has converged when both sides name its leader's node.
//!
//! Data flow: apiserver watch → [`StatusBoard`] ; bench → [`wait_converged`] polls the board
//! and the simulator → per-cluster convergence times. [`converged`] is the pure judgement.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use kube::{
    runtime::{watcher, WatchStreamExt},
    Api, Client, ResourceExt,
};
use pgvip_api::PostgresVip;
use tokio::task::JoinHandle;

use super::world::{World, DB_NAMESPACE};

/// What the status of one PostgresVip names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// `status.desiredNode`.
    pub desired: Option<String>,
    /// `status.assignedNode`.
    pub assigned: Option<String>,
}

/// The latest placement of every PostgresVip, by name, kept by a watch.
#[derive(Clone, Default)]
pub struct StatusBoard(Arc<Mutex<HashMap<String, Placement>>>);

impl StatusBoard {
    /// Starts the watch; abort the handle to stop it.
    pub fn watch(&self, client: &Client) -> JoinHandle<()> {
        let api: Api<PostgresVip> = Api::namespaced(client.clone(), DB_NAMESPACE);
        let board = self.0.clone();
        tokio::spawn(async move {
            let mut s = std::pin::pin!(watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects());
            while let Some(ev) = s.next().await {
                if let Ok(v) = ev {
                    let st = v.status.clone().unwrap_or_default();
                    board.lock().unwrap_or_else(|p| p.into_inner()).insert(
                        v.name_any(),
                        Placement {
                            desired: st.desired_node,
                            assigned: st.assigned_node,
                        },
                    );
                }
            }
        })
    }

    /// The placement of `name` as last seen.
    pub fn get(&self, name: &str) -> Placement {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

/// Pure: converged when the cloud holds the VIP on `want_vnic` and the status names
/// `want_node` as both desired and assigned node.
pub fn converged(
    p: &Placement,
    cloud_vnic: Option<&str>,
    want_node: &str,
    want_vnic: &str,
) -> bool {
    cloud_vnic == Some(want_vnic)
        && p.desired.as_deref() == Some(want_node)
        && p.assigned.as_deref() == Some(want_node)
}

/// Waits until every cluster in `targets` (cluster index, leader member) has converged or
/// `limit` passes; returns each cluster's time since `t0` (`None`: not converged in time).
pub async fn wait_converged(
    world: &World,
    board: &StatusBoard,
    cloud: &(dyn Fn(IpAddr) -> Option<String> + Sync),
    targets: &[(usize, usize)],
    t0: Instant,
    limit: Duration,
) -> Vec<Option<Duration>> {
    let mut done: Vec<Option<Duration>> = vec![None; targets.len()];
    loop {
        let now = t0.elapsed();
        for (i, (c, m)) in targets.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            let node = world.member_node(*c, *m);
            let ok = converged(
                &board.get(&world.vip_name(*c)),
                cloud(IpAddr::V4(world.vip(*c))).as_deref(),
                &world.node_name(node),
                &world.vnic_id(node),
            );
            if ok {
                done[i] = Some(now);
            }
        }
        if done.iter().all(Option::is_some) || now >= limit {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convergence_needs_cloud_and_both_status_fields() {
        let p = |d: Option<&str>, a: Option<&str>| Placement {
            desired: d.map(Into::into),
            assigned: a.map(Into::into),
        };
        let cases = [
            (p(Some("n2"), Some("n2")), Some("v2"), true),
            (p(Some("n2"), Some("n1")), Some("v2"), false),
            (p(Some("n2"), Some("n2")), Some("v1"), false),
            (p(None, Some("n2")), Some("v2"), false),
            (p(Some("n2"), Some("n2")), None, false),
        ];
        for (placement, cloud, want) in cases {
            assert_eq!(
                converged(&placement, cloud, "n2", "v2"),
                want,
                "{placement:?} {cloud:?}"
            );
        }
    }
}
