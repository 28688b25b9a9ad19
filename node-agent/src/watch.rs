//! The Kubernetes side of the input: one kube-rs watcher per scope (all namespaces, or each
//! configured namespace) turning PostgresVip events into [`Input`]s, and a probe of the API
//! server that tells the agent it is still in contact while nothing changes.
//!
//! Data flow: API server → `kube::runtime::watcher` → [`VipView::from_resource`] →
//! `mpsc::Sender<Input>` → `agent`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use pgvip_api::PostgresVip;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::agent::Input;
use crate::model::VipView;

/// Server-side timeout of each watch request. The watcher notices a silently dropped
/// connection within this plus 5 s; the probe covers the API server being unreachable sooner.
pub const WATCH_TIMEOUT_SECS: u32 = 120;

/// How often to probe the API server for a hold of `hold`: three probes per hold, between
/// 1 s and 10 s apart.
pub fn probe_interval(hold: Duration) -> Duration {
    (hold / 3).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// Spawns one watcher task per scope (`None` = all namespaces).
pub fn spawn_watches(
    client: &Client,
    node: &str,
    scopes: &[Option<String>],
    tx: &mpsc::Sender<Input>,
) -> Vec<JoinHandle<()>> {
    scopes
        .iter()
        .map(|scope| {
            let api: Api<PostgresVip> = match scope {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            tokio::spawn(watch_scope(
                api,
                scope.clone(),
                node.to_string(),
                tx.clone(),
            ))
        })
        .collect()
}

async fn watch_scope(
    api: Api<PostgresVip>,
    scope: Option<String>,
    node: String,
    tx: mpsc::Sender<Input>,
) {
    let config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECS);
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut listed: Vec<VipView> = Vec::new();
    while let Some(event) = stream.next().await {
        let received = Instant::now();
        let input = match event {
            Ok(watcher::Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(watcher::Event::InitApply(vip)) => {
                listed.extend(VipView::from_resource(&vip, &node));
                continue;
            }
            Ok(watcher::Event::InitDone) => Input::Relisted {
                scope: scope.clone(),
                vips: std::mem::take(&mut listed),
                received,
            },
            Ok(watcher::Event::Apply(vip)) => match VipView::from_resource(&vip, &node) {
                Some(vip) => Input::Applied {
                    vip: Box::new(vip),
                    received,
                },
                None => continue,
            },
            Ok(watcher::Event::Delete(vip)) => match VipView::from_resource(&vip, &node) {
                Some(vip) => Input::Deleted {
                    key: vip.key,
                    received,
                },
                None => continue,
            },
            Err(error) => {
                warn!(%error, scope = scope.as_deref().unwrap_or("*"), "PostgresVip watch failed; retrying");
                Input::WatchError
            }
        };
        if tx.send(input).await.is_err() {
            return;
        }
    }
}

/// Probes `GET /version` every `interval` and reports each success.
pub async fn probe(client: Client, interval: Duration, tx: mpsc::Sender<Input>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::time::timeout(interval, client.apiserver_version()).await {
            Ok(Ok(_)) => {
                if tx.send(Input::ProbeOk(Instant::now())).await.is_err() {
                    return;
                }
            }
            Ok(Err(error)) => debug!(%error, "API server probe failed"),
            Err(_) => debug!(?interval, "API server probe timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_interval_is_a_third_of_the_hold_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(probe_interval(s(30)), s(10));
        assert_eq!(probe_interval(s(12)), s(4));
        assert_eq!(probe_interval(s(2)), s(1));
        assert_eq!(probe_interval(s(300)), s(10));
    }
}
