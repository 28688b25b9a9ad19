//! Reconcile-level tests: one pass of [`apply`] against a fake API server, fake Patroni members
//! and a fake VIP endpoint, all on loopback addresses (127.0.0.0/8), with the in-memory cloud.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Node, NodeSpec, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use pgvip_api::{
    condition, NodeReport, OciProvider, PatroniSource, PostgresVip, PostgresVipSpec,
    PostgresVipStatus, ProviderSpec, RestApiSpec,
};

use super::*;
use crate::backoff::Backoffs;
use crate::cloud::fake::{Call, FakeCloud};
use crate::lease::Leadership;
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::watch::Stores;

type Patches = Arc<Mutex<Vec<serde_json::Value>>>;

#[derive(Clone)]
struct ApiState {
    vip: Arc<Mutex<serde_json::Value>>,
    patches: Patches,
    events: Arc<Mutex<Vec<String>>>,
}

async fn fake_api(State(s): State<ApiState>, req: Request) -> impl IntoResponse {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if method == Method::PATCH && path.ends_with("/postgresvips/orders-rw/status") {
        s.patches.lock().unwrap().push(body.clone());
        let mut vip = s.vip.lock().unwrap();
        let rv: u64 = vip["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("1")
            .parse()
            .unwrap_or(1);
        vip["metadata"]["resourceVersion"] = serde_json::Value::String((rv + 1).to_string());
        vip["status"] = body["status"].clone();
        return (StatusCode::OK, axum::Json(vip.clone())).into_response();
    }
    if method == Method::POST && path.contains("/events") {
        s.events
            .lock()
            .unwrap()
            .push(body["reason"].as_str().unwrap_or("").to_string());
        return (StatusCode::CREATED, axum::Json(body)).into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound","message":"not found"}))).into_response()
}

async fn serve(addr: SocketAddr, app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind(addr).await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    a
}

fn patroni_app(primary: Option<&'static str>, name: &'static str) -> Router {
    let role = if primary.is_some() {
        "primary"
    } else {
        "replica"
    };
    let code = if primary.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Router::new().route(
        "/primary",
        axum::routing::get(move || async move {
            (code, format!(r#"{{"state":"running","role":"{role}","patroni":{{"version":"4.0.4","scope":"orders","name":"{name}"}}}}"#))
        }),
    )
}

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        resource_version: Some("1".into()),
        ..ObjectMeta::default()
    }
}

fn ready_store<K>(objs: Vec<K>) -> Store<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, mut w) = reflector::store::<K>();
    w.apply_watcher_event(&watcher::Event::Init);
    for o in objs {
        w.apply_watcher_event(&watcher::Event::InitApply(o));
    }
    w.apply_watcher_event(&watcher::Event::InitDone);
    store
}

fn pod(name: &str, ip: &str, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            labels: Some([("cluster-name".to_string(), "orders".to_string())].into()),
            ..meta("db", name)
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: Some(ip.into()),
            ..PodStatus::default()
        }),
    }
}

fn node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("ocid1.instance.oc1..{name}")),
            ..NodeSpec::default()
        }),
        status: None,
    }
}

struct Rig {
    ctx: Context,
    api: Api<PostgresVip>,
    cloud: Arc<FakeCloud>,
    patches: Patches,
    events: Arc<Mutex<Vec<String>>>,
    vip: PostgresVip,
}

async fn rig() -> Rig {
    // Members and VIP share one port on different loopback addresses, like pods on 8008.
    let leader = serve(
        "127.0.0.11:0".parse().unwrap(),
        patroni_app(Some("x"), "orders-1"),
    )
    .await;
    let port = leader.port();
    serve(
        SocketAddr::new("127.0.0.12".parse().unwrap(), port),
        patroni_app(None, "orders-2"),
    )
    .await;
    serve(
        SocketAddr::new("127.0.0.100".parse().unwrap(), port),
        patroni_app(Some("x"), "orders-1"),
    )
    .await;

    let mut vip = PostgresVip::new(
        "orders-rw",
        PostgresVipSpec {
            address: "127.0.0.100".into(),
            role: Default::default(),
            patroni: Some(PatroniSource {
                scope: "orders".into(),
                use_endpoints: false,
                pod_selector: None,
                rest_api: RestApiSpec {
                    port,
                    ..RestApiSpec::default()
                },
            }),
            labels: None,
            provider: ProviderSpec {
                oci: Some(OciProvider {
                    subnet_id: "ocid1.subnet.oc1.x.y".into(),
                }),
                ..Default::default()
            },
            announce: Default::default(),
            data_path: None,
        },
    );
    vip.metadata = ObjectMeta {
        generation: Some(1),
        ..meta("db", "orders-rw")
    };

    let patches: Patches = Arc::default();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let st = ApiState {
        vip: Arc::new(Mutex::new(serde_json::to_value(&vip).unwrap())),
        patches: patches.clone(),
        events: events.clone(),
    };
    let api_addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        Router::new().fallback(fake_api).with_state(st),
    )
    .await;
    let cfg = kube::Config::new(format!("http://{api_addr}").parse().unwrap());
    let client = kube::Client::try_from(cfg).unwrap();

    let lock = PartialObjectMeta::<ConfigMap> {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([
                ("leader".to_string(), "orders-1".to_string()),
                ("renewTime".to_string(), "r1".to_string()),
            ])),
            ..meta("db", "orders-leader")
        },
        ..PartialObjectMeta::default()
    };
    let vips = ready_store(vec![vip.clone()]);
    let stores = Stores {
        all_vips: vec![vips.clone()],
        vips,
        configmaps: ready_store(vec![lock]),
        endpoints: ready_store::<PartialObjectMeta<Endpoints>>(vec![]),
        pods: ready_store(vec![
            pod("orders-1", "127.0.0.11", "node-1"),
            pod("orders-2", "127.0.0.12", "node-2"),
        ]),
        nodes: ready_store(vec![node("node-1"), node("node-2")]),
        agents: ready_store(vec![]),
    };
    let cloud = Arc::new(FakeCloud::new());
    let shared = Shared {
        client: client.clone(),
        provider: cloud.clone(),
        prober: Prober::new(Duration::from_secs(2), Duration::from_millis(500)).unwrap(),
        metrics: Metrics::default(),
        reporter: Reporter {
            controller: "pgvip-controller".into(),
            instance: None,
        },
        leadership: Leadership::always(),
        settings: Settings {
            announce_timeout: Duration::from_secs(15),
            verify_data_path: true,
            resync: Duration::from_secs(30),
            data_path_interval: Duration::from_secs(7),
            agent_namespace: "pgvip".into(),
        },
        locks: Default::default(),
        failovers: Default::default(),
        backoffs: Backoffs::new(Duration::from_millis(500), Duration::from_secs(60)),
        writes: Default::default(),
        readiness: crate::readiness::Schedule::new(Duration::ZERO),
    };
    let (trigger, _) = tokio::sync::mpsc::unbounded_channel();
    Rig {
        ctx: Context {
            shared: Arc::new(shared),
            stores,
            trigger,
        },
        api: Api::namespaced(client, "db"),
        cloud,
        patches,
        events,
        vip,
    }
}

fn status_of(patch: &serde_json::Value) -> PostgresVipStatus {
    serde_json::from_value(patch["status"].clone()).unwrap()
}

#[tokio::test]
async fn first_pass_publishes_decision_then_moves_then_waits_for_the_agent() {
    let r = rig().await;
    let action = apply(Arc::new(r.vip.clone()), &r.ctx, &r.api)
        .await
        .unwrap();
    let patches = r.patches.lock().unwrap().clone();
    assert!(patches.len() >= 2, "{patches:#?}");
    for p in &patches {
        assert!(
            p["status"].get("nodes").is_none(),
            "the controller never sends nodes: {p}"
        );
    }
    // 1st write: leader + desiredNode, before any cloud call result is recorded.
    let first = status_of(&patches[0]);
    assert_eq!(first.desired_node.as_deref(), Some("node-1"));
    assert_eq!(
        first.leader.as_ref().map(|l| l.pod.as_str()),
        Some("orders-1")
    );
    assert_eq!(first.assigned_node, None);
    // 2nd write: the assignment with a fresh millisecond timestamp.
    let second = status_of(&patches[1]);
    assert_eq!(second.assigned_node.as_deref(), Some("node-1"));
    let cloud = second.cloud.unwrap();
    assert_eq!(
        cloud.vnic_id,
        Some(FakeCloud::vnic_of("ocid1.instance.oc1..node-1"))
    );
    assert!(cloud.created_by_pgvip);
    let at = cloud.assigned_at.unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&at).is_ok()
            && at.len() == "2025-01-01T00:00:00.000Z".len(),
        "{at}"
    );
    assert_eq!(
        r.cloud.calls(),
        vec![Call::Ensure(
            "127.0.0.100".parse::<IpAddr>().unwrap(),
            "ocid1.instance.oc1..node-1".into()
        )]
    );
    // Waiting for the agent: AddressConfigured False, re-check soon.
    let last = status_of(patches.last().unwrap());
    let c = conditions::get(&last.conditions, condition::ADDRESS_CONFIGURED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", reason::WAITING_FOR_AGENT)
    );
    assert_ne!(action, Action::await_change());
    // The Event is published beside the failover, not on its path.
    for _ in 0..100 {
        if r.events
            .lock()
            .unwrap()
            .contains(&"FailoverStarted".to_string())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no FailoverStarted Event: {:?}", r.events.lock().unwrap());
}

#[tokio::test]
async fn agent_report_leads_to_verified_ready_and_last_failover() {
    let r = rig().await;
    apply(Arc::new(r.vip.clone()), &r.ctx, &r.api)
        .await
        .unwrap();
    let written = status_of(r.patches.lock().unwrap().last().unwrap());
    let at = written.cloud.as_ref().unwrap().assigned_at.clone().unwrap();
    // The agent on node-1 reports; the watch delivers the object with its entry.
    let mut vip = r.vip.clone();
    vip.metadata.resource_version = Some("99".into());
    vip.status = Some(PostgresVipStatus {
        nodes: vec![NodeReport {
            node: "node-1".into(),
            address_configured: true,
            announced_for: Some(at),
            updated_at: "x".into(),
            ..NodeReport::default()
        }],
        ..written
    });
    let calls_before = r.cloud.calls().len();
    let next = apply(Arc::new(vip), &r.ctx, &r.api).await.unwrap();
    assert_eq!(
        r.cloud.calls().len(),
        calls_before,
        "no second cloud call for the same assignment"
    );
    // A Ready VIP's data path is proven again after the data-path interval (7 s here), not
    // only at the 30 s resync.
    assert_eq!(next, Action::requeue(Duration::from_secs(7)));
    let last = status_of(r.patches.lock().unwrap().last().unwrap());
    for t in [
        condition::LEADER_CONFIRMED,
        condition::CLOUD_ASSIGNED,
        condition::ADDRESS_CONFIGURED,
        condition::DATA_PATH_VERIFIED,
        condition::READY,
    ] {
        assert_eq!(
            conditions::get(&last.conditions, t).map(|c| c.status.as_str()),
            Some("True"),
            "{t}: {:?}",
            last.conditions
        );
    }
    let lf = last.last_failover.expect("lastFailover recorded");
    assert_eq!((lf.from, lf.to.as_str()), (None, "node-1"));
    assert!(r
        .events
        .lock()
        .unwrap()
        .contains(&"FailoverCompleted".to_string()));
}

#[tokio::test]
async fn cloud_failure_sets_condition_and_errors_for_backoff() {
    let r = rig().await;
    r.cloud.fail_next("permission", false);
    let err = apply(Arc::new(r.vip.clone()), &r.ctx, &r.api)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "permission");
    let last = status_of(r.patches.lock().unwrap().last().unwrap());
    assert_eq!(
        last.desired_node.as_deref(),
        Some("node-1"),
        "the decision stays published"
    );
    let c = conditions::get(&last.conditions, condition::CLOUD_ASSIGNED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", reason::CLOUD_MOVE_FAILED)
    );
    assert!(r
        .events
        .lock()
        .unwrap()
        .contains(&"CloudMoveFailed".to_string()));
}

#[test]
fn announce_wait_counts_from_assigned_at() {
    let mut st = PostgresVipStatus::default();
    assert_eq!(
        announce_wait(&st, Duration::from_secs(15)),
        (false, Duration::from_secs(15))
    );
    let old = (chrono::Utc::now() - chrono::Duration::seconds(20))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    st.cloud = Some(pgvip_api::CloudStatus {
        assigned_at: Some(old),
        ..Default::default()
    });
    assert!(announce_wait(&st, Duration::from_secs(15)).0);
    let fresh = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    st.cloud = Some(pgvip_api::CloudStatus {
        assigned_at: Some(fresh),
        ..Default::default()
    });
    let (out, left) = announce_wait(&st, Duration::from_secs(15));
    assert!(!out && left > Duration::from_secs(13));
}

#[test]
fn a_just_changed_lock_holder_is_rechecked_soon_only_while_it_may_be_promoting() {
    let unconfirmed = |r: &'static str| Decision::Unconfirmed {
        reason: r,
        message: String::new(),
    };
    let s = Duration::from_secs;
    let cases = [
        (
            unconfirmed(reason::REST_REJECTED),
            Some(s(1)),
            Some(PROMOTION_FAST_POLL),
        ),
        (
            unconfirmed(reason::REST_UNREACHABLE),
            Some(s(3)),
            Some(PROMOTION_POLL),
        ),
        (
            unconfirmed(reason::REST_REJECTED),
            Some(s(14)),
            Some(PROMOTION_POLL),
        ),
        (unconfirmed(reason::REST_REJECTED), Some(s(60)), None),
        (unconfirmed(reason::REST_REJECTED), None, None),
        (unconfirmed(reason::LEADER_LOCK_STALE), Some(s(1)), None),
        (unconfirmed(reason::REST_DISAGREES), Some(s(1)), None),
    ];
    for (d, ago, want) in cases {
        assert_eq!(promotion_poll(&d, ago), want, "{d:?} {ago:?}");
    }
}

fn refusal_of(r: &Rig) -> (PostgresVipStatus, Vec<String>) {
    let patches = r.patches.lock().unwrap().clone();
    let last = status_of(patches.last().expect("a status write"));
    (last, r.events.lock().unwrap().clone())
}

#[tokio::test]
async fn an_address_an_older_postgresvip_owns_is_refused_without_a_cloud_call() {
    let mut r = rig().await;
    let mut owner = r.vip.clone();
    owner.metadata = ObjectMeta {
        creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        )),
        ..meta("other", "orders-first")
    };
    r.ctx.stores.all_vips.push(ready_store(vec![owner]));
    let action = apply(Arc::new(r.vip.clone()), &r.ctx, &r.api)
        .await
        .unwrap();
    let (st, events) = refusal_of(&r);
    for t in [condition::READY, condition::LEADER_CONFIRMED] {
        let c = conditions::get(&st.conditions, t).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reason::ADDRESS_CONFLICT),
            "{t}"
        );
        assert!(c.message.contains("other/orders-first"), "{}", c.message);
    }
    assert_eq!(st.desired_node, None, "no node may configure it");
    assert!(r.cloud.calls().is_empty(), "{:?}", r.cloud.calls());
    assert_eq!(events, vec![reason::ADDRESS_CONFLICT.to_string()]);
    assert_eq!(action, Action::requeue(REFUSED_RECHECK));
}

#[tokio::test]
async fn a_node_ip_is_refused_as_in_use_without_a_cloud_call() {
    let mut r = rig().await;
    let mut n = node("node-2");
    n.status = Some(k8s_openapi::api::core::v1::NodeStatus {
        addresses: Some(vec![k8s_openapi::api::core::v1::NodeAddress {
            type_: "InternalIP".into(),
            address: "127.0.0.100".into(),
        }]),
        ..Default::default()
    });
    r.ctx.stores.nodes = ready_store(vec![node("node-1"), n]);
    apply(Arc::new(r.vip.clone()), &r.ctx, &r.api)
        .await
        .unwrap();
    let (st, events) = refusal_of(&r);
    let c = conditions::get(&st.conditions, condition::READY).unwrap();
    assert_eq!(c.reason, reason::ADDRESS_IN_USE);
    assert!(
        c.message.contains("node node-2's InternalIP"),
        "{}",
        c.message
    );
    assert_eq!(st.desired_node, None);
    assert!(r.cloud.calls().is_empty());
    assert_eq!(events, vec![reason::ADDRESS_IN_USE.to_string()]);
}

#[test]
fn the_provider_block_must_match_the_controllers_cloud() {
    use crate::cloud::none::NoCloud;
    use pgvip_api::{AwsProvider, L2Provider};
    let oci = ProviderSpec {
        oci: Some(OciProvider {
            subnet_id: "ocid1.subnet.oc1.x.y".into(),
        }),
        ..Default::default()
    };
    let aws = ProviderSpec {
        aws: Some(AwsProvider {
            subnet_id: "subnet-0123abcd".into(),
        }),
        ..Default::default()
    };
    let l2 = ProviderSpec {
        l2: Some(L2Provider {}),
        ..Default::default()
    };
    let fake = FakeCloud::default();
    let providers: [(&str, &dyn CloudProvider); 3] = [
        ("fake (oci)", &fake),
        ("l2", &NoCloud::L2),
        ("none", &NoCloud::ANY_SPEC),
    ];
    // (provider, block, accepted; else the words the error must contain)
    let table: [(&str, &ProviderSpec, Result<(), &str>); 9] = [
        ("fake (oci)", &oci, Ok(())),
        ("fake (oci)", &aws, Err("spec.provider.oci is required")),
        ("fake (oci)", &l2, Err("(found spec.provider.l2)")),
        ("l2", &l2, Ok(())),
        (
            "l2",
            &oci,
            Err("--cloud-provider l2 (found spec.provider.oci)"),
        ),
        ("l2", &aws, Err("spec.provider.l2 is required")),
        ("none", &oci, Ok(())),
        ("none", &aws, Ok(())),
        ("none", &l2, Ok(())),
    ];
    for (name, block, want) in table {
        let (_, provider) = providers.iter().find(|(n, _)| *n == name).unwrap();
        let vip = PostgresVip::new(
            "v",
            PostgresVipSpec {
                provider: block.clone(),
                ..crate::decide::tests::patroni_spec(Default::default())
            },
        );
        match (validate(&vip, *provider), want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(words)) => assert!(e.contains(words), "{name}: {e}"),
            (got, want) => panic!("{name} with {:?}: got {got:?}, want {want:?}", block.kind()),
        }
    }
}
