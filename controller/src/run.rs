//! Wiring: client, metrics server, leader election, and — while this replica leads — one
//! controller per watched namespace (or one for all), sharing a node store.
//!
//! Data flow: [`run`] starts the election; each time leadership is won it builds fresh shared
//! state ([`Shared`]) and runs the controllers until leadership is lost (they are dropped at
//! once: every step they take is idempotent, and the next leader repairs half-done work) or
//! the process is asked to stop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Node, Pod};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{controller, watcher, Controller, WatchStreamExt};
use kube::{Resource, ResourceExt};
use pgvip_api::agent::HEARTBEAT_LABEL;
use pgvip_api::PostgresVip;
use prometheus_client::registry::Registry;
use tracing::{error, info, warn};

use crate::backoff::Backoffs;
use crate::cloud::{none::NoCloud, CloudProvider};
use crate::config::{CloudKind, Config};
use crate::context::{Context, Settings, Shared};
use crate::http::Health;
use crate::lease::{Leadership, LeaseSettings};
use crate::lock::lock_key;
use crate::metrics::Metrics;
use crate::patroni::LeaderRecord;
use crate::probe::Prober;
use crate::readiness::Schedule;
use crate::reconcile::{error_policy, reconcile};
use crate::watch::{self, Stores};

/// Builds the cloud provider the configuration names.
pub async fn build_provider(cfg: &Config) -> anyhow::Result<Arc<dyn CloudProvider>> {
    match cfg.cloud_provider {
        CloudKind::L2 => Ok(Arc::new(NoCloud::L2)),
        CloudKind::None => Ok(Arc::new(NoCloud::ANY_SPEC)),
        #[cfg(feature = "oci")]
        CloudKind::Oci => Ok(Arc::new(crate::cloud::oci::OciProvider::new(&cfg.oci).await?)),
        #[cfg(not(feature = "oci"))]
        CloudKind::Oci => anyhow::bail!(
            "this build has no OCI support (built without the `oci` feature); use --cloud-provider l2"
        ),
        #[cfg(feature = "aws")]
        CloudKind::Aws => Ok(Arc::new(crate::cloud::aws::AwsProvider::new(&cfg.aws).await?)),
        #[cfg(not(feature = "aws"))]
        CloudKind::Aws => anyhow::bail!(
            "this build has no AWS support (built without the `aws` feature); use --cloud-provider l2"
        ),
    }
}

fn api<K>(client: &kube::Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(n) => Api::namespaced(client.clone(), n),
        None => Api::all(client.clone()),
    }
}

/// Runs the controller process until SIGTERM / Ctrl-C.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    let client = kube::Client::try_default()
        .await
        .context("building the Kubernetes client (in-cluster or KUBECONFIG)")?;
    check_crd(&client, &cfg).await?;
    let provider = build_provider(&cfg).await?;

    let mut registry = Registry::with_prefix("pgvip");
    let metrics = Metrics::default().register(&mut registry);
    let registry = Arc::new(registry);
    let health = Arc::new(Health::default());
    let http = tokio::spawn(crate::http::serve(
        cfg.metrics_addr,
        registry.clone(),
        health.clone(),
    ));

    let identity = crate::config::identity();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let leadership = if cfg.leader_election {
        Leadership::elected()
    } else {
        Leadership::always()
    };
    let election = if cfg.leader_election {
        let s = LeaseSettings {
            name: cfg.leader_election_name.clone(),
            namespace: cfg.lease_namespace(),
            identity: identity.clone(),
            duration: Duration::from_secs(cfg.lease_duration_seconds),
            renew: Duration::from_secs(cfg.lease_renew_seconds),
        };
        info!(identity = %identity, lease = %s.name, namespace = %s.namespace, "joining leader election");
        let lease_api: Api<Lease> = Api::namespaced(client.clone(), &s.namespace);
        Some(tokio::spawn(crate::lease::run(
            lease_api,
            s,
            leadership.clone(),
            stopped(),
        )))
    } else {
        None
    };
    health.started.store(true, Ordering::Relaxed);

    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });

    let mut stop = Box::pin(stopped());
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = until(&leadership, true) => {}
        }
        info!(identity = %identity, provider = provider.name(), "leading: starting the controller");
        metrics.set_leader(true);
        let shared = Arc::new(Shared {
            client: client.clone(),
            provider: provider.clone(),
            prober: Prober::new(cfg.rest_timeout(), cfg.peer_timeout())
                .map_err(anyhow::Error::msg)?,
            metrics: metrics.clone(),
            reporter: Reporter {
                controller: "pgvip-controller".into(),
                instance: Some(identity.clone()),
            },
            leadership: leadership.clone(),
            settings: Settings {
                announce_timeout: Duration::from_secs(cfg.announce_timeout_seconds),
                verify_data_path: cfg.verify_data_path,
                resync: Duration::from_secs(cfg.resync_seconds),
                data_path_interval: Duration::from_secs(cfg.data_path_interval_seconds),
                agent_namespace: cfg.agent_namespace(),
            },
            readiness: Schedule::new(Duration::from_secs(cfg.readiness_interval_seconds)),
            locks: Default::default(),
            failovers: Default::default(),
            backoffs: Backoffs::new(Duration::from_millis(500), Duration::from_secs(300)),
            writes: Default::default(),
        });
        tokio::select! {
            _ = &mut stop => break,
            _ = run_controllers(&client, &cfg, shared) => warn!("controllers ended"),
            _ = until(&leadership, false) => warn!("lost the leader-election Lease: stopping the controller"),
        }
        metrics.set_leader(false);
        metrics.forget_vips();
    }
    info!("shutting down");
    if let Some(e) = election {
        let _ = tokio::time::timeout(Duration::from_secs(5), e).await;
    }
    signal.abort();
    http.abort();
    Ok(())
}

/// Resolves once `is_leader()` equals `want` (polled: leadership also lapses by time alone).
async fn until(lead: &Leadership, want: bool) {
    let mut rx = lead.subscribe();
    loop {
        if lead.is_leader() == want {
            return;
        }
        tokio::select! {
            _ = rx.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}

async fn check_crd(client: &kube::Client, cfg: &Config) -> anyhow::Result<()> {
    let first = cfg.namespaces.first().map(String::as_str);
    let vips: Api<PostgresVip> = api(client, first);
    vips.list(&ListParams::default().limit(1))
        .await
        .map(|_| ())
        .context("cannot list PostgresVips: is the CRD installed (`cargo run -p pgvip-api --bin crdgen | kubectl apply -f -`) and does the controller's RBAC allow it?")
}

async fn run_controllers(client: &kube::Client, cfg: &Config, shared: Arc<Shared>) {
    let (node_store, node_writer) = reflector::store_shared::<Node>(1024);
    let Some(node_sub) = node_writer.subscribe() else {
        error!("the node store is not shared; cannot start");
        return;
    };
    let node_driver = watcher(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(watch::trim_node)
    .reflect_shared(node_writer)
    .for_each(|r| async move {
        if let Err(e) = r {
            warn!(error = %e, "node watch error");
        }
    });
    let (agents, agent_writer) = reflector::store::<Lease>();
    let agent_driver = watcher(
        Api::<Lease>::namespaced(client.clone(), &cfg.agent_namespace()),
        watcher::Config::default()
            .labels(&format!("{HEARTBEAT_LABEL}=node-agent"))
            .any_semantic(),
    )
    .default_backoff()
    .modify(watch::trim_agent_lease)
    .reflect(agent_writer)
    .for_each(|r| async move {
        if let Err(e) = r {
            warn!(error = %e, "agent heartbeat watch error (failover readiness needs list/watch on leases)");
        }
    });
    let namespaces: Vec<Option<String>> = if cfg.namespaces.is_empty() {
        vec![None]
    } else {
        cfg.namespaces.iter().map(|n| Some(n.clone())).collect()
    };
    // Every controller's PostgresVip store exists before any controller starts: address
    // ownership is decided across all of them, and a deletion in one namespace re-triggers
    // the claimants of the same address in every other.
    let vip_stores: Vec<_> = namespaces
        .iter()
        .map(|_| reflector::store::<PostgresVip>())
        .collect();
    let all_vips: Vec<Store<PostgresVip>> = vip_stores.iter().map(|(s, _)| s.clone()).collect();
    let (retrigger, _) = tokio::sync::broadcast::channel::<ObjectRef<PostgresVip>>(1024);
    let drills = namespaces
        .iter()
        .map(|ns| crate::drill::run(client.clone(), ns.clone(), shared.clone()))
        .collect::<Vec<_>>();
    let controllers = namespaces
        .into_iter()
        .zip(vip_stores)
        .map(|(ns, (vips, vip_writer))| {
            one_controller(
                client,
                ns,
                cfg.concurrency,
                shared.clone(),
                ControllerStores {
                    vips,
                    vip_writer,
                    all_vips: all_vips.clone(),
                    retrigger: retrigger.clone(),
                    nodes: node_store.clone(),
                    node_sub: node_sub.clone(),
                    agents: agents.clone(),
                },
            )
        });
    tokio::select! {
        _ = node_driver => warn!("node watch ended"),
        _ = agent_driver => warn!("agent heartbeat watch ended"),
        _ = futures::future::join_all(controllers) => {}
        _ = futures::future::join_all(drills) => warn!("drill controllers ended"),
    }
}

/// The stores and channels one controller gets from [`run_controllers`].
struct ControllerStores {
    /// This controller's PostgresVip store and its writer.
    vips: Store<PostgresVip>,
    vip_writer: reflector::store::Writer<PostgresVip>,
    /// Every controller's PostgresVip store.
    all_vips: Vec<Store<PostgresVip>>,
    /// Reconcile requests for PostgresVips of any namespace (each controller takes its own).
    retrigger: tokio::sync::broadcast::Sender<ObjectRef<PostgresVip>>,
    nodes: Store<Node>,
    node_sub: ReflectHandle<Node>,
    agents: Store<Lease>,
}

async fn one_controller(
    client: &kube::Client,
    ns: Option<String>,
    concurrency: u16,
    shared: Arc<Shared>,
    cs: ControllerStores,
) {
    let ControllerStores {
        vips,
        vip_writer,
        all_vips,
        retrigger,
        nodes,
        node_sub,
        agents,
    } = cs;
    let ns_ref = ns.as_deref();
    let wc = || watcher::Config::default().any_semantic();
    let mine = retrigger.subscribe();
    let (all, tx) = (all_vips.clone(), retrigger.clone());
    let vip_stream = watcher(api::<PostgresVip>(client, ns_ref), wc())
        .default_backoff()
        .modify(watch::trim_vip)
        .reflect(vip_writer)
        .inspect_ok(move |ev| {
            // An address owner is gone: its claimants may take over now.
            if let watcher::Event::Delete(v) = ev {
                for r in watch::vips_sharing_address(&all, v) {
                    let _ = tx.send(r);
                }
            }
        })
        .applied_objects();
    let ctrl = Controller::for_stream(vip_stream, vips.clone())
        .with_config(controller::Config::default().concurrency(concurrency));

    let (configmaps, cm_writer) = reflector::store::<PartialObjectMeta<ConfigMap>>();
    let cm_stream = watcher(api::<PartialObjectMeta<ConfigMap>>(client, ns_ref), wc())
        .default_backoff()
        .modify(|o| watch::trim_patroni_meta(&mut o.metadata))
        .reflect(cm_writer)
        .touched_objects();
    let (endpoints, ep_writer) = reflector::store::<PartialObjectMeta<Endpoints>>();
    let ep_stream = watcher(api::<PartialObjectMeta<Endpoints>>(client, ns_ref), wc())
        .default_backoff()
        .modify(|o| watch::trim_patroni_meta(&mut o.metadata))
        .reflect(ep_writer)
        .touched_objects();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let pod_stream = watcher(api::<Pod>(client, ns_ref), wc())
        .default_backoff()
        .modify(watch::trim_pod)
        .reflect(pod_writer)
        .touched_objects();

    let stores = Stores {
        vips: vips.clone(),
        all_vips,
        configmaps,
        endpoints,
        pods,
        nodes,
        agents,
    };
    let (trigger, mut triggered) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        shared: shared.clone(),
        stores,
        trigger,
    });

    let (v1, v2, v3, v4) = (vips.clone(), vips.clone(), vips.clone(), vips);
    let (s1, s2) = (shared.clone(), shared);
    ctrl.watches_stream(cm_stream, move |o: PartialObjectMeta<ConfigMap>| {
        patroni_mapper(&v1, &s1, &o.metadata, false)
    })
    .watches_stream(ep_stream, move |o: PartialObjectMeta<Endpoints>| {
        patroni_mapper(&v2, &s2, &o.metadata, true)
    })
    .watches_stream(pod_stream, move |p: Pod| {
        watch::vips_for_pod(&v3.state(), &p)
    })
    .watches_shared_stream(node_sub, move |n: Arc<Node>| {
        watch::vips_for_node(&v4.state(), &n.name_any())
    })
    .reconcile_on(futures::stream::select(
        futures::stream::poll_fn(move |cx| triggered.poll_recv(cx)),
        retriggered(mine, ns),
    ))
    .run(reconcile, error_policy, ctx)
    .for_each(|res| async move {
        if let Err(e) = res {
            warn!(error = %e, "controller error");
        }
    })
    .await;
}

/// The shared reconcile requests that belong to the controller of `ns` (`None`: all).
fn retriggered(
    rx: tokio::sync::broadcast::Receiver<ObjectRef<PostgresVip>>,
    ns: Option<String>,
) -> impl futures::Stream<Item = ObjectRef<PostgresVip>> {
    futures::stream::unfold((rx, ns), |(mut rx, ns)| async move {
        loop {
            match rx.recv().await {
                Ok(r) if ns.is_none() || r.namespace == ns => return Some((r, (rx, ns))),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Maps a Patroni object to its PostgresVips and, for a leader lock, stamps its record on the
/// monotonic clock as the event arrives.
fn patroni_mapper(
    vips: &Store<PostgresVip>,
    shared: &Shared,
    meta: &kube::api::ObjectMeta,
    endpoints: bool,
) -> Vec<ObjectRef<PostgresVip>> {
    let (Some(ns), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
        return Vec::new();
    };
    let state = vips.state();
    let refs = watch::vips_for_patroni_object(&state, ns, name, endpoints);
    if !refs.is_empty() && watch::is_lock_object(&state, ns, name, endpoints) {
        let record = LeaderRecord::from_annotations(&meta.annotations.clone().unwrap_or_default());
        shared
            .locks
            .observe(&lock_key(ns, name), record, Instant::now());
    }
    refs
}
