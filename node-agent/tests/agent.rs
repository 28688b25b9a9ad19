//! The agent loop against a real kernel, each test in a fresh network namespace: start-up
//! reconciliation, the VIP lifecycle with reports, drift repair, and failing closed when the
//! API server goes quiet. Run as root: `cargo test -p pgvip-node-agent --test agent`.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{
    add_foreign, add_owned, applied, eventually, find, in_netns, new_agent, relisted, test_link,
    vip, NODE,
};
use pgvip_node_agent::agent::{Agent, Input, ReportRequest};
use pgvip_node_agent::netlink::Netlink;
use pgvip_node_agent::netstate::Link;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const T1: &str = "2025-05-01T10:00:00.000Z";
const T2: &str = "2025-05-01T10:05:00.000Z";

/// eth0 in 10.0.1.0/24 and fd00::/64.
async fn setup(net: &Netlink) -> Link {
    let eth = test_link(net, "eth0").await;
    add_foreign(net, &eth, "10.0.1.1", 24).await;
    add_foreign(net, &eth, "fd00::1", 64).await;
    eth
}

/// Gratuitous ARP requests sent so far, from the agent's metrics.
fn garp_requests(metrics: &pgvip_node_agent::metrics::Metrics) -> u64 {
    frames(metrics, "garp_request")
}

/// Announcement frames of `kind` sent so far, from the agent's metrics.
fn frames(metrics: &pgvip_node_agent::metrics::Metrics, kind: &str) -> u64 {
    let prefix = format!("pgvip_agent_announcement_frames_total{{kind=\"{kind}\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_string))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
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

/// Whether `addr` shows up as pgvip's on `link` within `timeout`.
async fn becomes_owned(net: &Netlink, addr: &str, link: &Link, timeout: Duration) -> bool {
    eventually(timeout, || owned_on(net, addr, link)).await
}

/// Whether `addr` is gone from the node within `timeout`.
async fn becomes_absent(net: &Netlink, addr: &str, timeout: Duration) -> bool {
    eventually(timeout, || async { find(net, addr).await.is_empty() }).await
}

/// An agent loop on its own task: fed through `inputs`, stopped by [`Running::stop`]
/// (or killed by [`Running::abort`]).
struct Running {
    inputs: mpsc::Sender<Input>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn start(agent: Agent) -> Running {
    let (inputs, rx) = mpsc::channel(16);
    let (shutdown, requested) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(rx, async {
        let _ = requested.await;
    }));
    Running {
        inputs,
        shutdown,
        task,
    }
}

impl Running {
    async fn send(&self, input: Input) {
        self.inputs.send(input).await.unwrap();
    }

    /// Asks for a clean shutdown and waits for the loop to return.
    async fn stop(self) {
        self.shutdown.send(()).unwrap();
        self.task.await.unwrap();
    }

    fn abort(self) {
        self.task.abort();
    }
}

#[test]
fn start_up_removes_stale_and_restores_wanted_addresses() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        // Left over from a previous run: a VIP now desired elsewhere, and one of no VIP.
        add_owned(&net, &eth, "10.0.1.100").await;
        add_owned(&net, &eth, "10.0.1.101").await;
        add_foreign(&net, &eth, "10.0.1.102", 32).await;

        let (mut agent, mut reports, metrics) =
            new_agent(Duration::from_secs(30), Duration::from_secs(10), false);
        agent
            .handle(relisted(vec![
                vip("a", "10.0.1.100", Some("w2"), None, None),
                vip("b", "10.0.1.103", Some(NODE), None, None),
                vip("c", "fd00::64", Some(NODE), None, None),
                vip("d", "10.0.1.104", Some("w3"), None, None),
            ]))
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
        agent.handle(relisted(vec![])).await;

        // Desired here before the cloud move: add, and announce while the move is under way
        // (a fabric drops claims from a port the address is not assigned to), but report no
        // announcement for an assignment.
        let v = vip("b", "10.0.1.100", Some(NODE), Some("w2"), None);
        agent.handle(applied(v)).await;
        assert!(owned_on(&net, "10.0.1.100", &eth).await);
        let r = drain(&mut reports);
        assert_eq!(r.len(), 1);
        assert!(r[0].report.address_configured);
        assert_eq!(r[0].report.announced_for, None);
        assert_eq!(r[0].report.node, NODE);
        let while_moving = garp_requests(&metrics);
        assert!(while_moving >= 1, "announced while moving");

        // Assigned here: announce once for T1 and report it.
        let v = vip("b", "10.0.1.100", Some(NODE), Some(NODE), Some(T1));
        agent.handle(applied(v.clone())).await;
        let r = drain(&mut reports);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].report.announced_for.as_deref(), Some(T1));
        assert!(r[0].report.announced_at.is_some());
        assert!(garp_requests(&metrics) > while_moving);

        // The same status again (e.g. our own report echoed by the watch): nothing to do.
        agent.handle(applied(v)).await;
        assert!(drain(&mut reports).is_empty(), "no write without a change");

        // spec.address changed: the old address goes, the new one comes.
        let v = vip("b", "10.0.1.101", Some(NODE), Some(NODE), Some(T1));
        agent.handle(applied(v)).await;
        assert!(find(&net, "10.0.1.100").await.is_empty());
        assert!(owned_on(&net, "10.0.1.101", &eth).await);
        assert_eq!(drain(&mut reports).len(), 1);

        // Failover away: removed at once.
        let v = vip("b", "10.0.1.101", Some("w2"), Some(NODE), Some(T1));
        agent.handle(applied(v)).await;
        assert!(find(&net, "10.0.1.101").await.is_empty());
        let r = drain(&mut reports);
        assert_eq!(r.len(), 1);
        assert!(!r[0].report.address_configured);

        // Back, cloud assignment unchanged: re-added, not re-announced.
        let v = vip("b", "10.0.1.101", Some(NODE), Some(NODE), Some(T1));
        agent.handle(applied(v)).await;
        assert!(owned_on(&net, "10.0.1.101", &eth).await);
        assert_eq!(
            drain(&mut reports)[0].report.announced_for.as_deref(),
            Some(T1)
        );
        // A new assignment (move back after a move away): announce again.
        let before = frames(&metrics, "garp_reply");
        let v = vip("b", "10.0.1.101", Some(NODE), Some(NODE), Some(T2));
        agent.handle(applied(v)).await;
        assert_eq!(
            drain(&mut reports)[0].report.announced_for.as_deref(),
            Some(T2)
        );
        assert!(frames(&metrics, "garp_reply") > before);

        // Interface that does not exist: error reported, address left in place.
        let mut bad = vip("b", "10.0.1.101", Some(NODE), Some(NODE), Some(T2));
        bad.interface = Some("bond9".into());
        agent.handle(applied(bad)).await;
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
        let running = start(agent);
        let v = vip("b", "10.0.1.100", Some(NODE), None, None);
        running.send(relisted(vec![v])).await;
        let two_s = Duration::from_secs(2);
        assert!(becomes_owned(&net, "10.0.1.100", &eth, two_s).await);

        // Someone deletes the address: the next resync puts it back.
        let a = find(&net, "10.0.1.100").await.remove(0);
        net.delete_owned(&a).await.unwrap();
        assert!(find(&net, "10.0.1.100").await.is_empty());
        assert!(becomes_owned(&net, "10.0.1.100", &eth, two_s).await);

        // A plain shutdown leaves the address for the next start.
        running.stop().await;
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
        let running = start(agent);
        let v = vip("b", "10.0.1.100", Some(NODE), None, None);
        running.send(relisted(vec![v])).await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(2)).await);
        running.stop().await;
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
        let running = start(agent);
        let v = vip("b", "10.0.1.100", Some(NODE), None, None);

        let last_contact = Instant::now();
        running
            .send(Input::Relisted {
                scope: None,
                vips: vec![v.clone()],
                received: last_contact,
            })
            .await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        assert!(ready.load(Ordering::Relaxed));

        // The API goes quiet: the address stays for the hold time, then goes.
        tokio::time::sleep(hold / 2).await;
        assert!(
            owned_on(&net, "10.0.1.100", &eth).await,
            "kept during the hold"
        );
        assert!(becomes_absent(&net, "10.0.1.100", Duration::from_secs(2)).await);
        assert!(last_contact.elapsed() >= hold);
        assert!(metrics.encode().contains("pgvip_agent_fail_closed_total 1"));
        assert!(!ready.load(Ordering::Relaxed));

        // The API server answers probes but the watch is failing: still closed.
        running.send(Input::WatchError).await;
        running.send(Input::ProbeOk(Instant::now())).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            find(&net, "10.0.1.100").await.is_empty(),
            "a failing watch does not count as contact"
        );

        // The watch delivers again: the last known state is re-applied.
        running.send(applied(v)).await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        assert!(ready.load(Ordering::Relaxed));
        running.abort();
    })
}

#[test]
fn never_reaching_the_api_removes_addresses_left_from_before() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        add_owned(&net, &eth, "10.0.1.100").await;
        add_foreign(&net, &eth, "10.0.1.50", 32).await;
        let (agent, _reports, _) =
            new_agent(Duration::from_millis(200), Duration::from_secs(60), false);
        let started = Instant::now();
        let running = start(agent);
        assert!(
            owned_on(&net, "10.0.1.100", &eth).await,
            "held until the first list or the hold"
        );
        assert!(becomes_absent(&net, "10.0.1.100", Duration::from_secs(2)).await);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(find(&net, "10.0.1.50").await.len(), 1);
        running.abort();
    })
}

#[test]
fn a_failed_move_or_an_address_in_use_is_removed_and_reported() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let (mut agent, mut reports, _) =
            new_agent(Duration::from_secs(30), Duration::from_secs(10), false);
        // Desired here, configured before the move (harmless: the cloud does not route yet).
        agent
            .handle(relisted(vec![vip(
                "a",
                "10.0.1.100",
                Some(NODE),
                Some("w2"),
                None,
            )]))
            .await;
        assert!(owned_on(&net, "10.0.1.100", &eth).await);

        // The move here failed: nothing stays on the node, and the report says why.
        let mut failed = vip("a", "10.0.1.100", Some(NODE), Some("w2"), None);
        failed.cloud_failure = Some("moving the address to w1 failed (invalid_parameter)".into());
        drain(&mut reports);
        agent.handle(applied(failed)).await;
        assert!(find(&net, "10.0.1.100").await.is_empty(), "withheld");
        let r = drain(&mut reports).pop().expect("a report").report;
        assert!(!r.address_configured);
        let e = r.last_error.unwrap_or_default();
        assert!(
            e.starts_with("not configured") && e.contains("invalid_parameter"),
            "{e}"
        );

        // The move succeeds: the address comes back and is announced.
        agent
            .handle(applied(vip(
                "a",
                "10.0.1.100",
                Some(NODE),
                Some(NODE),
                Some(T1),
            )))
            .await;
        assert!(owned_on(&net, "10.0.1.100", &eth).await);
        let r = drain(&mut reports).pop().expect("a report").report;
        assert!(r.address_configured && r.last_error.is_none());
        assert_eq!(r.announced_for.as_deref(), Some(T1));

        // A Node turns out to use the address: removed at once, reported as refused.
        agent
            .handle(Input::Reserved(
                [(
                    "10.0.1.100".parse().unwrap(),
                    "node w3's InternalIP".to_string(),
                )]
                .into(),
            ))
            .await;
        assert!(find(&net, "10.0.1.100").await.is_empty(), "in use");
        let r = drain(&mut reports).pop().expect("a report").report;
        assert!(!r.address_configured);
        let e = r.last_error.unwrap_or_default();
        assert!(
            e.starts_with("refused") && e.contains("node w3's InternalIP"),
            "{e}"
        );
    })
}

/// The fenced-address gauge from the agent's metrics.
fn fenced(metrics: &pgvip_node_agent::metrics::Metrics) -> String {
    metrics
        .encode()
        .lines()
        .find(|l| l.starts_with("pgvip_agent_fenced_addresses "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn fence_is_raised_while_routed_here_and_lifted_before_holding_again() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let (mut agent, _reports, metrics) =
            new_agent(Duration::from_secs(30), Duration::from_secs(10), false);
        agent
            .handle(relisted(vec![vip(
                "a",
                "10.0.1.100",
                Some(NODE),
                Some(NODE),
                Some(T1),
            )]))
            .await;
        assert!(owned_on(&net, "10.0.1.100", &eth).await);
        assert_eq!(fenced(&metrics), "pgvip_agent_fenced_addresses 0");

        // The leader is no longer confirmed; the cloud still routes the address here.
        agent
            .handle(applied(vip("a", "10.0.1.100", None, Some(NODE), Some(T1))))
            .await;
        assert!(find(&net, "10.0.1.100").await.is_empty(), "address removed");
        assert_eq!(fenced(&metrics), "pgvip_agent_fenced_addresses 1");

        // The move to w2 landed: the fence lingers a moment (stale neighbour entries).
        agent
            .handle(applied(vip(
                "a",
                "10.0.1.100",
                Some("w2"),
                Some("w2"),
                Some(T2),
            )))
            .await;
        assert_eq!(fenced(&metrics), "pgvip_agent_fenced_addresses 1");

        // This node is to hold it again: the fence goes before the address comes back.
        agent
            .handle(applied(vip(
                "a",
                "10.0.1.100",
                Some(NODE),
                Some("w2"),
                Some(T2),
            )))
            .await;
        assert_eq!(fenced(&metrics), "pgvip_agent_fenced_addresses 0");
        assert!(owned_on(&net, "10.0.1.100", &eth).await);

        // Routed here, then the VIP is deleted: no fence for an address pgvip no longer manages.
        agent
            .handle(applied(vip("a", "10.0.1.100", None, Some(NODE), Some(T2))))
            .await;
        assert_eq!(fenced(&metrics), "pgvip_agent_fenced_addresses 1");
        agent
            .handle(Input::Deleted {
                key: vip("a", "10.0.1.100", None, None, None).key,
                received: Instant::now(),
            })
            .await;
        assert_eq!(fenced(&metrics), "pgvip_agent_fenced_addresses 0");
    })
}

/// What the local member said about `v`, now.
fn local(v: &pgvip_node_agent::model::VipView, primary: bool, api: Option<bool>) -> Input {
    Input::Local(pgvip_node_agent::local::LocalAnswer {
        key: v.key.clone(),
        primary,
        api_reachable: api,
        at: Instant::now(),
    })
}

#[test]
fn a_demoted_local_member_out_of_contact_drops_the_address_at_once_until_contact() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let (agent, _reports, metrics) =
            new_agent(Duration::from_secs(30), Duration::from_millis(100), false);
        let (targets_tx, mut targets) = tokio::sync::watch::channel(Default::default());
        let running = start(agent.with_local_targets(targets_tx));
        let mut v = vip("b", "10.0.1.100", Some(NODE), Some(NODE), Some(T1));
        v.local_primary_url = Some("http://10.0.1.1:8008/primary".into());
        running.send(relisted(vec![v.clone()])).await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        targets.changed().await.unwrap();
        assert_eq!(
            targets.borrow_and_update().get(&v.key).map(String::as_str),
            Some("http://10.0.1.1:8008/primary"),
            "the held VIP is published for the local check"
        );

        // Demoted while the API server answers: the controller's business, nothing changes.
        running.send(local(&v, false, Some(true))).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(owned_on(&net, "10.0.1.100", &eth).await);

        // One slow answer with the API server out of reach: a busy member, not a demotion.
        running.send(local(&v, true, None)).await;
        running.send(local(&v, false, Some(false))).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            owned_on(&net, "10.0.1.100", &eth).await,
            "one answer is not enough"
        );

        // A second one in a row: removed long before the 30 s hold.
        let t = Instant::now();
        running.send(local(&v, false, Some(false))).await;
        assert!(becomes_absent(&net, "10.0.1.100", Duration::from_secs(1)).await);
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(metrics.encode().contains("pgvip_agent_fail_closed_total 1"));
        // Resyncs (every 100 ms here) do not bring it back while out of contact.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(find(&net, "10.0.1.100").await.is_empty());

        // Contact again: the last known state (this node holds it) is re-applied.
        running.send(Input::ProbeOk(Instant::now())).await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        running.abort();
    })
}

#[test]
fn past_the_hold_a_vip_stays_while_its_local_member_is_the_primary() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let hold = Duration::from_millis(400);
        let (agent, _reports, metrics) = new_agent(hold, Duration::from_millis(100), false);
        let running = start(agent);
        let mut checked = vip("b", "10.0.1.100", Some(NODE), Some(NODE), Some(T1));
        checked.local_primary_url = Some("http://10.0.1.1:8008/primary".into());
        let unchecked = vip("c", "10.0.1.101", Some(NODE), Some(NODE), Some(T1));
        running
            .send(relisted(vec![checked.clone(), unchecked.clone()]))
            .await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        assert!(becomes_owned(&net, "10.0.1.101", &eth, Duration::from_secs(1)).await);

        // The API goes quiet; the local member keeps answering 200 every 100 ms.
        let quiet = Instant::now();
        while quiet.elapsed() < hold * 3 {
            running.send(local(&checked, true, None)).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            owned_on(&net, "10.0.1.100", &eth).await,
            "vouched for by its primary"
        );
        assert!(
            find(&net, "10.0.1.101").await.is_empty(),
            "no local member to ask: the hold decides; {}",
            metrics.encode()
        );

        // The member stops being the primary (two answers in a row): the address goes at once.
        running.send(local(&checked, false, Some(false))).await;
        running.send(local(&checked, false, Some(false))).await;
        assert!(becomes_absent(&net, "10.0.1.100", Duration::from_secs(1)).await);

        // The watch returns: both are re-applied.
        running.send(relisted(vec![checked, unchecked])).await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        assert!(becomes_owned(&net, "10.0.1.101", &eth, Duration::from_secs(1)).await);
        running.abort();
    })
}

#[test]
fn fails_closed_even_while_other_inputs_keep_the_loop_busy() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = setup(&net).await;
        let hold = Duration::from_millis(300);
        // A resync every millisecond keeps the loop busy reading netlink state, so the hold
        // is bound to run out while it is handling one.
        let (agent, _reports, metrics) = new_agent(hold, Duration::from_millis(1), false);
        let running = start(agent);
        let v = vip("b", "10.0.1.100", Some(NODE), Some(NODE), Some(T1));
        running.send(relisted(vec![v])).await;
        assert!(becomes_owned(&net, "10.0.1.100", &eth, Duration::from_secs(1)).await);
        tokio::time::sleep(hold * 3).await;
        assert!(
            find(&net, "10.0.1.100").await.is_empty(),
            "the hold ran out while the loop was busy: {}",
            metrics.encode()
        );
        running.abort();
    })
}
