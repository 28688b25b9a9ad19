//! Writing the synthetic world into the apiserver and playing Patroni's part: creating nodes,
//! member pods (bound, Running, with their IP), leader locks and PostgresVips; renewing every
//! lock as Patroni's HA loop does; and taking over the lock in a storm of leader changes.
//!
//! Data flow: [`World`] objects → server-side apply / merge patches, many at a time
//! (`buffer_unordered`). The renewer only ever patches `renewTime`, so it cannot undo a leader
//! change that races with it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::{
    api::{Patch, PatchParams},
    Api, Client,
};
use pgvip_api::PostgresVip;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::warn;

use super::world::{World, DB_NAMESPACE};
use crate::error::{Context, Result};

/// Field manager of the bench's writes (the same as Patroni's would be, in spirit).
const MANAGER: &str = "pgvip-bench";

/// Requests in flight while populating.
const PARALLEL: usize = 32;

/// RFC 3339 now, as Patroni writes it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// Creates every node, pod (with status), leader lock (member 0 leads) and PostgresVip.
pub async fn populate(client: &Client, world: &World) -> Result<()> {
    let pp = PatchParams::apply(MANAGER).force();
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), DB_NAMESPACE);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), DB_NAMESPACE);
    let vips: Api<PostgresVip> = Api::namespaced(client.clone(), DB_NAMESPACE);
    stream::iter(0..world.nodes)
        .map(|i| {
            let (nodes, pp) = (&nodes, &pp);
            async move {
                nodes
                    .patch(&world.node_name(i), pp, &Patch::Apply(world.node_object(i)))
                    .await
                    .ctx(format!("node {}", world.node_name(i)))
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await?;
    let members = (0..world.clusters).flat_map(|c| (0..super::world::MEMBERS).map(move |m| (c, m)));
    stream::iter(members)
        .map(|(c, m)| {
            let (pods, pp) = (&pods, &pp);
            async move {
                let name = world.member(c, m);
                pods.patch(&name, pp, &Patch::Apply(world.pod_object(c, m)))
                    .await
                    .ctx(format!("pod {name}"))?;
                pods.patch_status(&name, pp, &Patch::Apply(world.pod_status(c, m, &now())))
                    .await
                    .ctx(format!("pod {name} status"))
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await?;
    stream::iter(0..world.clusters)
        .map(|c| {
            let (cms, vips, pp) = (&cms, &vips, &pp);
            async move {
                let lock = format!("{}-leader", world.scope(c));
                cms.patch(
                    &lock,
                    pp,
                    &Patch::Apply(world.leader_object(c, 0, &now(), 0)),
                )
                .await
                .ctx(format!("configmap {lock}"))?;
                vips.patch(&world.vip_name(c), pp, &Patch::Apply(world.vip_object(c)))
                    .await
                    .ctx(format!("postgresvip {}", world.vip_name(c)))
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Renews every cluster's lock every `every` (Patroni's `loop_wait`), spreading the writes
/// over the interval as independent HA loops do. Abort the handle to stop.
pub fn spawn_renewer(client: &Client, world: World, every: Duration) -> JoinHandle<()> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), DB_NAMESPACE);
    let cms = Arc::new(cms);
    tokio::spawn(async move {
        let gap = every / world.clusters.max(1) as u32;
        loop {
            let round = Instant::now();
            for c in 0..world.clusters {
                let cms = cms.clone();
                let name = format!("{}-leader", world.scope(c));
                tokio::spawn(async move {
                    let patch = json!({"metadata": {"annotations": {"renewTime": now()}}});
                    if let Err(error) = cms
                        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                    {
                        warn!(lock = %name, %error, "renewing the leader lock failed");
                    }
                });
                tokio::time::sleep(gap).await;
            }
            tokio::time::sleep(every.saturating_sub(round.elapsed())).await;
        }
    })
}

/// Member `to` of every cluster in `clusters` takes the leader lock, all at once.
pub async fn take_over(
    client: &Client,
    world: &World,
    clusters: &[usize],
    to: usize,
) -> Result<()> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), DB_NAMESPACE);
    stream::iter(clusters.iter().copied())
        .map(|c| {
            let cms = &cms;
            async move {
                let t = now();
                let patch = json!({"metadata": {"annotations": {
                    "leader": world.member(c, to), "acquireTime": t, "renewTime": t, "transitions": "1"}}});
                let name = format!("{}-leader", world.scope(c));
                cms.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .ctx(format!("leader change of {name}"))
            }
        })
        .buffer_unordered(clusters.len().max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}
