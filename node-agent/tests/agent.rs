//! The agent loop against a real kernel, each test in a fresh network namespace: start-up
//! reconciliation, the VIP lifecycle with reports, drift repair, and failing closed when the
//! API server goes quiet. Run as root: `cargo test -p pgvip-node-agent --test agent`.

mod common;

use std::time::{Duration, Instant};

use common::{add_foreign, eventually, find, in_netns, test_link, vip};
use pgvip_node_agent::agent::{Agent, AgentConfig, Input, ReportRequest};
use pgvip_node_agent::announce::Announcer;
use pgvip_node_agent::metrics::Metrics;
use pgvip_node_agent::netlink::Netlink;
use pgvip_node_agent::netstate::Link;
use tokio::sync::{mpsc, oneshot};

const NODE: &str = "w1";
const T1: &str = "2025-05-01T10:00:00.000Z";
const T2: &str = "2025-05-01T10:05:00.000Z";

fn new_agent(
    hold: Duration,
    resync: Duration,
    release_on_exit: bool,
) -> (Agent, mpsc::UnboundedReceiver<ReportRequest>, Metrics) {
    let metrics = Metrics::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let agent = Agent::new(
        AgentConfig {
            node: NODE.into(),
            hold,
            resync,
            scopes: vec![None],
            release_on_exit,
        },
        Netlink::connect().unwrap(),
        Announcer::open(metrics.clone()).unwrap(),
        tx,
        metrics.clone(),
    );
    (agent, rx, metrics)
}

async fn setup(net: &Netlink) -> Link {
    let eth = test_link(net, "eth0").await;
    add_foreign(net, &eth, "10.0.1.1", 24).await;
    add_foreign(net, &eth, "fd00::1", 64).await;
    eth
}

fn drain(rx: &mut mpsc::UnboundedReceiver<ReportRequest>) -> Vec<ReportRequest> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

async fn owned_on(net: &Netlink, addr: &str, link: &Link) -> bool {
    find(net, addr)
        .await
        .iter()
        .any(|a| a.is_owned() && a.index == link.index)
}

#[test]
fn start_up_removes_stale_and_restores_wanted_addresses() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        // Left over from a previous run: a VIP now desired elsewhere, and one of no VIP.
        net.add_owned(&eth, "10.0.1.100".parse().unwrap())
            .await
            .unwrap();
        net.add_owned(&eth, "10.0.1.101".parse().unwrap())
            .await
            .unwrap();
        add_foreign(&net, &eth, "10.0.1.102", 32).await;

        let (mut agent, mut reports, metrics) =
            new_agent(Duration::from_secs(30), Duration::from_secs(10), false);
        agent
            .handle(Input::Relisted {
                scope: None,
                vips: vec![
                    vip("a", "10.0.1.100", Some("w2"), None, None),
                    vip("b", "10.0.1.103", Some(NODE), None, None),
                    vip("c", "fd00::64", Some(NODE), None, None),
                    vip("d", "10.0.1.104", Some("w3"), None, None),
                ],
                received: Instant::now(),
            })
            .await;

        assert!(
            find(&net, "10.0.1.100").await.is_empty(),
            "desired elsewhere: removed"
        );
        assert!(find(&net, "10.0.1.101").await.is_empty(), "no VIP: removed");
        let foreign = find(&net, "10.0.1.102").await;
        assert_eq!(foreign.len(), 1, "foreign address untouched");
        assert!(!foreign[0].is_owned());
        assert!(owned_on(&net, "10.0.1.103", &eth).await);
        assert!(owned_on(&net, "fd00::64", &eth).await);
        assert!(metrics.encode().contains("pgvip_agent_addresses_held 2"));

        let mut got: Vec<(String, bool, Option<String>)> = drain(&mut reports)
            .into_iter()
            .map(|r| (r.key.name, r.report.address_configured, r.report.interface))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("a".to_string(), false, None),
                ("b".to_string(), true, Some("eth0".to_string())),
                ("c".to_string(), true, Some("eth0".to_string())),
            ],
            "d never concerned this node: no entry"
        );
    })
}

#[test]
fn lifecycle_add_announce_move_and_delete() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let (mut agent, mut reports, metrics) =
            new_agent(Duration::from_secs(30), Duration::from_secs(10), false);
        let apply = |v| Input::Applied {
            vip: Box::new(v),
            received: Instant::now(),
        };
        agent
            .handle(Input::Relisted {
                scope: None,
                vips: vec![],
                received: Instant::now(),
            })
            .await;

        // Desired here before the cloud move: add, do not announce.
        agent
            .handle(apply(vip("b", "10.0.1.100", Some(NODE), Some("w2"), None)))
            .await;
        assert!(owned_on(&net, "10.0.1.100", &eth).await);
        let r = drain(&mut reports);
        assert_eq!(r.len(), 1);
        assert!(r[0].report.address_configured);
        assert_eq!(r[0].report.announced_for, None);
        assert_eq!(r[0].report.node, NODE);

        // Assigned here: announce once for T1 and report it.
        agent
            .handle(apply(vip(
                "b",
                "10.0.1.100",
                Some(NODE),
                Some(NODE),
                Some(T1),
            )))
            .await;
        let r = drain(&mut reports);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].report.announced_for.as_deref(), Some(T1));
        assert!(r[0].report.announced_at.is_some());
        assert!(metrics
            .encode()
            .contains("pgvip_agent_announcement_frames_total{kind=\"garp_request\"} 1"));

        // The same status again (e.g. our own report echoed by the watch): nothing to do.
        agent
            .handle(apply(vip(
                "b",
                "10.0.1.100",
                Some(NODE),
                Some(NODE),
                Some(T1),
            )))
            .await;
        assert!(drain(&mut reports).is_empty(), "no write without a change");

        // spec.address changed: the old address goes, the new one comes.
        agent
            .handle(apply(vip(
                "b",
                "10.0.1.101",
                Some(NODE),
                Some(NODE),
                Some(T1),
            )))
            .await;
        assert!(find(&net, "10.0.1.100").await.is_empty());
        assert!(owned_on(&net, "10.0.1.101", &eth).await);
        assert_eq!(drain(&mut reports).len(), 1);

        // Failover away: removed at once.
        agent
            .handle(apply(vip(
                "b",
                "10.0.1.101",
                Some("w2"),
                Some(NODE),
                Some(T1),
            )))
            .await;
        assert!(find(&net, "10.0.1.101").await.is_empty());
        let r = drain(&mut reports);
        assert_eq!(r.len(), 1);
        assert!(!r[0].report.address_configured);

        // Back, cloud assignment unchanged: re-added, not re-announced.
        agent
            .handle(apply(vip(
                "b",
                "10.0.1.101",
                Some(NODE),
                Some(NODE),
                Some(T1),
            )))
            .await;
        assert!(owned_on(&net, "10.0.1.101", &eth).await);
        assert_eq!(
            drain(&mut reports)[0].report.announced_for.as_deref(),
            Some(T1)
        );
        // A new assignment (move back after a move away): announce again.
        agent
            .handle(apply(vip(
                "b",
                "10.0.1.101",
                Some(NODE),
                Some(NODE),
                Some(T2),
            )))
            .await;
        assert_eq!(
            drain(&mut reports)[0].report.announced_for.as_deref(),
            Some(T2)
        );
        assert!(metrics
            .encode()
            .contains("pgvip_agent_announcement_frames_total{kind=\"garp_reply\"} 2"));

        // Interface that does not exist: error reported, address left in place.
        let mut bad = vip("b", "10.0.1.101", Some(NODE), Some(NODE), Some(T2));
        bad.interface = Some("bond9".into());
        agent.handle(apply(bad)).await;
        let r = drain(&mut reports);
        assert!(r[0].report.last_error.as_deref().unwrap().contains("bond9"));
        assert!(owned_on(&net, "10.0.1.101", &eth).await);
        assert!(metrics
            .encode()
            .contains("pgvip_agent_errors_total{category=\"interface_not_found\"} 1"));

        // Deleted: removed, and no report for an object that is gone.
        agent
            .handle(Input::Deleted {
                key: vip("b", "10.0.1.101", None, None, None).key,
                received: Instant::now(),
            })
            .await;
        assert!(find(&net, "10.0.1.101").await.is_empty());
        assert!(drain(&mut reports).is_empty());
    })
}

#[test]
fn resync_repairs_drift_and_shutdown_keeps_addresses() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let (agent, _reports, _) =
            new_agent(Duration::from_secs(30), Duration::from_millis(100), false);
        let (tx, rx) = mpsc::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(agent.run(rx, async {
            let _ = stopped.await;
        }));
        tx.send(Input::Relisted {
            scope: None,
            vips: vec![vip("b", "10.0.1.100", Some(NODE), None, None)],
            received: Instant::now(),
        })
        .await
        .unwrap();
        assert!(
            eventually(Duration::from_secs(2), || owned_on(
                &net,
                "10.0.1.100",
                &eth
            ))
            .await
        );

        // Someone deletes the address: the next resync puts it back.
        let a = find(&net, "10.0.1.100").await.remove(0);
        net.delete_owned(&a).await.unwrap();
        assert!(find(&net, "10.0.1.100").await.is_empty());
        assert!(
            eventually(Duration::from_secs(2), || owned_on(
                &net,
                "10.0.1.100",
                &eth
            ))
            .await
        );

        // A plain shutdown leaves the address for the next start.
        stop.send(()).unwrap();
        run.await.unwrap();
        assert!(owned_on(&net, "10.0.1.100", &eth).await);
    })
}

#[test]
fn release_on_exit_removes_owned_addresses_only() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        add_foreign(&net, &eth, "10.0.1.50", 32).await;
        let (agent, _reports, _) =
            new_agent(Duration::from_secs(30), Duration::from_secs(10), true);
        let (tx, rx) = mpsc::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(agent.run(rx, async {
            let _ = stopped.await;
        }));
        tx.send(Input::Relisted {
            scope: None,
            vips: vec![vip("b", "10.0.1.100", Some(NODE), None, None)],
            received: Instant::now(),
        })
        .await
        .unwrap();
        assert!(
            eventually(Duration::from_secs(2), || owned_on(
                &net,
                "10.0.1.100",
                &eth
            ))
            .await
        );
        stop.send(()).unwrap();
        run.await.unwrap();
        assert!(find(&net, "10.0.1.100").await.is_empty());
        assert_eq!(find(&net, "10.0.1.50").await.len(), 1);
    })
}

#[test]
fn fails_closed_after_the_hold_and_recovers_when_the_watch_returns() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let hold = Duration::from_millis(400);
        let (agent, _reports, metrics) = new_agent(hold, Duration::from_secs(60), false);
        let ready = agent.readiness();
        let (tx, rx) = mpsc::channel(16);
        let run = tokio::spawn(agent.run(rx, std::future::pending()));
        let v = vip("b", "10.0.1.100", Some(NODE), None, None);

        let last_contact = Instant::now();
        tx.send(Input::Relisted {
            scope: None,
            vips: vec![v.clone()],
            received: last_contact,
        })
        .await
        .unwrap();
        assert!(
            eventually(Duration::from_secs(1), || owned_on(
                &net,
                "10.0.1.100",
                &eth
            ))
            .await
        );
        assert!(ready.load(std::sync::atomic::Ordering::Relaxed));

        // The API goes quiet: the address stays for the hold time, then goes.
        tokio::time::sleep(hold / 2).await;
        assert!(
            owned_on(&net, "10.0.1.100", &eth).await,
            "kept during the hold"
        );
        assert!(
            eventually(Duration::from_secs(2), || async {
                find(&net, "10.0.1.100").await.is_empty()
            })
            .await
        );
        assert!(last_contact.elapsed() >= hold);
        assert!(metrics.encode().contains("pgvip_agent_fail_closed_total 1"));
        assert!(!ready.load(std::sync::atomic::Ordering::Relaxed));

        // The API server answers probes but the watch is failing: still closed.
        tx.send(Input::WatchError).await.unwrap();
        tx.send(Input::ProbeOk(Instant::now())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            find(&net, "10.0.1.100").await.is_empty(),
            "a failing watch does not count as contact"
        );

        // The watch delivers again: the last known state is re-applied.
        tx.send(Input::Applied {
            vip: Box::new(v),
            received: Instant::now(),
        })
        .await
        .unwrap();
        assert!(
            eventually(Duration::from_secs(1), || owned_on(
                &net,
                "10.0.1.100",
                &eth
            ))
            .await
        );
        assert!(ready.load(std::sync::atomic::Ordering::Relaxed));
        run.abort();
    })
}

#[test]
fn never_reaching_the_api_removes_addresses_left_from_before() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        net.add_owned(&eth, "10.0.1.100".parse().unwrap())
            .await
            .unwrap();
        add_foreign(&net, &eth, "10.0.1.50", 32).await;
        let (agent, _reports, _) =
            new_agent(Duration::from_millis(200), Duration::from_secs(60), false);
        let (_tx, rx) = mpsc::channel(16);
        let started = Instant::now();
        let run = tokio::spawn(agent.run(rx, std::future::pending()));
        assert!(
            owned_on(&net, "10.0.1.100", &eth).await,
            "held until the first list or the hold"
        );
        assert!(
            eventually(Duration::from_secs(2), || async {
                find(&net, "10.0.1.100").await.is_empty()
            })
            .await
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(find(&net, "10.0.1.50").await.len(), 1);
        run.abort();
    })
}
