//! Address safety on the testbed: pgvip must never put an address where it does not belong,
//! and its status and Events must say what is really on the nodes.
//!
//! - conflict: a younger PostgresVip claiming the standard VIP's address gets `AddressConflict`
//!   naming the owner, no node, no cloud call, while the owner keeps failing over; once the
//!   owner is deleted it takes over.
//! - address in use: a PostgresVip whose address is a worker's own IP gets `AddressInUse`, no
//!   node gains a copy, the simulator never sees a move or create for it, and the node keeps
//!   its own address after the PostgresVip is deleted.
//! - refused move: while the cloud refuses the move (OCI `UpdatePrivateIp`, EC2
//!   `AssignPrivateIpAddresses`), a switchover leaves the address on no
//!   node (`CloudMoveFailed`, `AddressWithheld`, the new node's agent reports why); once OCI
//!   accepts, the move completes and the application writes through the VIP.
//! - events: successive failovers each get their own `FailoverStarted`/`FailoverCompleted`
//!   Event with their own note, visible through `kubectl get events` and `kubectl describe`.
use std::{
    collections::BTreeSet,
    net::IpAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams};
use pgvip_api::{condition, PostgresVip};
use pgvip_cloudsim::{faults::Operation, CallRecord};
use pgvip_e2e::{
    app,
    cluster::wait_for,
    layout::{CloudFlavour, NodeLayout},
    pgvip::{self, CloudMode},
    scenario::{self, condition_of, reason, run_failover, Expect, VIP_NAME},
    sim_fault::{CloudCall, SimFault},
    Error, Result, Testbed,
};

mod common;
use common::Suite;

/// The younger PostgresVip that claims the standard VIP's address.
const SHADOW: &str = "orders-rw-shadow";
/// The PostgresVip whose address is a worker node's own IP.
const NODE_IP_VIP: &str = "orders-node-ip";

fn main() -> ExitCode {
    Suite::run(
        "safety",
        |tb: &Testbed, s: &mut Suite| {
            let rt = tokio::runtime::Handle::current();
            let mut started = false;
            s.check("pgvip starts and assigns the VIP to the leader", || {
                rt.block_on(start(tb))?;
                started = true;
                Ok(())
            });
            if !started {
                return;
            }
            if Suite::selected("conflict") {
                s.check(
                    "conflict: a younger PostgresVip with the same address gets AddressConflict and no node, and takes over when the owner is deleted",
                    || rt.block_on(conflict(tb)),
                );
            }
            if Suite::selected("in-use") {
                s.check(
                    "address in use: a PostgresVip for a worker's own IP gets AddressInUse, no copy on any node and no cloud call",
                    || rt.block_on(address_in_use(tb)),
                );
            }
            if Suite::selected("refused") {
                s.check(
                    "refused move: while the cloud refuses the move the address is on no node; once it accepts, the move completes",
                    || rt.block_on(refused_move(tb)),
                );
            }
            if Suite::selected("events") {
                s.check(
                    "events: every failover has its own FailoverStarted/FailoverCompleted Event and note",
                    || rt.block_on(failover_events(tb)),
                );
            }
        },
        common::options_from_env(),
    )
}

async fn start(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        pgvip::start_agent(&tb.layout, n)?;
    }
    pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    tb.kubectl_apply(&scenario::vip_manifest(tb, common::use_endpoints()))?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let node = tb.member_node(&leader)?.name.clone();
    tb.wait_vip_ready_on(&node, Duration::from_secs(60)).await?;
    tb.check_status_matches_nodes(VIP_NAME).await
}

// ---------------------------------------------------------------------------------------------
// a. conflict

async fn conflict(tb: &Testbed) -> Result<()> {
    let res = conflict_inner(tb).await;
    let restored = restore_standard(tb).await;
    res.and(restored)
}

async fn conflict_inner(tb: &Testbed) -> Result<()> {
    let node = ready_leader_node(tb).await?;
    let owner = tb.vip().await?;
    let owner_key = format!("{}/{VIP_NAME}", tb.layout.db_namespace);
    let vip: IpAddr = parse_ip(&tb.layout.vip)?;
    let owner_ip_id = private_ip_id(tb, &owner)?;
    let since = chrono::Utc::now();
    tb.kubectl_apply(&scenario::vip_manifest_named(
        tb,
        SHADOW,
        &tb.layout.vip,
        common::use_endpoints(),
    ))?;
    expect_refused(tb, SHADOW, reason::ADDRESS_CONFLICT, &[&owner_key]).await?;
    expect_warning_event(tb, SHADOW, reason::ADDRESS_CONFLICT, &owner_key).await?;
    // The owner is untouched: Ready on the leader's node, the address there only (not even
    // briefly removed by the conflicting one), the cloud on that node's VNIC.
    steady_on(tb, vip, &node, Duration::from_secs(5)).await?;
    tb.wait_vip_ready_on(&node.name, Duration::from_secs(10))
        .await?;
    expect_cloud_on(tb, &node).await?;
    let owner_events = events_about(tb, VIP_NAME, owner.metadata.uid.as_deref()).await?;
    if let Some(e) = owner_events
        .iter()
        .find(|e| e.reason.as_deref() == Some(reason::ADDRESS_CONFLICT))
    {
        return Err(Error::Other(format!(
            "the owner {owner_key} got an AddressConflict Event itself: {:?}",
            e.note
        )));
    }
    // Nothing moved: the owner is settled, and the conflicting one must not call the cloud.
    let bad = unexpected_calls(tb, since, vip, &owner_ip_id, true).await?;
    if !bad.is_empty() {
        return Err(Error::Other(format!(
            "cloud calls for {vip} while {SHADOW} was in conflict and {VIP_NAME} settled: {bad:?}"
        )));
    }
    // The owner keeps failing over while the conflicting one exists.
    let r = run_failover(
        tb,
        "switchover with a conflicting PostgresVip",
        Expect::NewLeader,
        async |tb, old| switchover(tb, &old.member),
    )
    .await?;
    let node = tb
        .layout
        .node(&r.to)
        .cloned()
        .ok_or_else(|| Error::Other(format!("unknown node {}", r.to)))?;
    expect_refused(tb, SHADOW, reason::ADDRESS_CONFLICT, &[&owner_key]).await?;
    steady_on(tb, vip, &node, Duration::from_secs(3)).await?;
    // The owner goes: the other one takes over on the leader's node.
    delete_vip(tb, VIP_NAME).await?;
    tb.wait_vip_named_ready_on(SHADOW, &node.name, Duration::from_secs(90))
        .await?;
    wait_for(
        &format!("the address on {} only", node.name),
        Duration::from_secs(20),
        || async { (tb.nodes_with_address(vip).ok()? == vec![node.name.clone()]).then_some(()) },
    )
    .await?;
    expect_cloud_on(tb, &node).await?;
    steady_on(tb, vip, &node, Duration::from_secs(3)).await?;
    tb.wait_vip_named_ready_on(SHADOW, &node.name, Duration::from_secs(5))
        .await?;
    tb.check_status_matches_nodes(SHADOW).await
}

/// Deletes every extra PostgresVip the suite may have left, re-applies the standard one if it
/// is gone, and waits until it is Ready on the leader's node.
async fn restore_standard(tb: &Testbed) -> Result<()> {
    for name in [SHADOW, NODE_IP_VIP] {
        delete_vip(tb, name).await?;
    }
    let _ = tb.cloud_fault(SimFault::Clear).await;
    if tb
        .vip_api()
        .get_opt(VIP_NAME)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        tb.kubectl_apply(&scenario::vip_manifest(tb, common::use_endpoints()))?;
    }
    ready_leader_node(tb).await.map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// b. address in use

async fn address_in_use(tb: &Testbed) -> Result<()> {
    let leader = ready_leader_node(tb).await?;
    let target = tb
        .layout
        .nodes
        .iter()
        .find(|n| n.name != leader.name)
        .cloned()
        .ok_or_else(|| Error::Other("no node besides the leader's".into()))?;
    let addr = parse_ip(&target.ip)?;
    let std_ip_id = private_ip_id(tb, &tb.vip().await?)?;
    node_ip_untouched(tb, &target, addr)?;
    let since = chrono::Utc::now();
    tb.kubectl_apply(&scenario::vip_manifest_named(
        tb,
        NODE_IP_VIP,
        &target.ip,
        common::use_endpoints(),
    ))?;
    let res = async {
        let names = [target.name.as_str(), target.member.as_str()];
        let seen = expect_refused(tb, NODE_IP_VIP, reason::ADDRESS_IN_USE, &names).await?;
        tracing::info!(message = %seen, "AddressInUse");
        expect_warning_event_any(tb, NODE_IP_VIP, reason::ADDRESS_IN_USE, &names).await?;
        stays_untouched(tb, &target, addr, Duration::from_secs(3)).await?;
        // The standard VIP keeps working meanwhile.
        run_failover(
            tb,
            "switchover with a PostgresVip for a node's own IP",
            Expect::NewLeader,
            async |tb, old| switchover(tb, &old.member),
        )
        .await?;
        expect_refused(tb, NODE_IP_VIP, reason::ADDRESS_IN_USE, &names).await?;
        stays_untouched(tb, &target, addr, Duration::from_secs(2)).await
    }
    .await;
    let deleted = delete_vip(tb, NODE_IP_VIP).await;
    res?;
    deleted?;
    // Deleting it must not take the node's own address away either.
    stays_untouched(tb, &target, addr, Duration::from_secs(3)).await?;
    let bad = unexpected_calls(tb, since, addr, &std_ip_id, false).await?;
    if !bad.is_empty() {
        return Err(Error::Other(format!(
            "the simulator got calls for {addr} (or a create/delete/another private IP's update; the standard VIP's is {std_ip_id}) while {NODE_IP_VIP} existed: {bad:?}"
        )));
    }
    let assigned = tb.cloud_assignment_of(addr).await?;
    if assigned.is_some() {
        return Err(Error::Other(format!(
            "the simulator lists {addr} as a secondary IP on {assigned:?}"
        )));
    }
    tb.wait_healthy(Duration::from_secs(120)).await?;
    ready_leader_node(tb).await.map(|_| ())
}

/// Fails unless `node` has `addr` exactly once, as its own address (the subnet's prefix), and
/// no other node shows it at all.
fn node_ip_untouched(tb: &Testbed, node: &NodeLayout, addr: IpAddr) -> Result<()> {
    for n in &tb.layout.nodes {
        let found: Vec<(IpAddr, u8)> = tb
            .node_addresses(n)?
            .into_iter()
            .filter(|(a, _)| *a == addr)
            .collect();
        let expected = if n.name == node.name {
            vec![(addr, tb.layout.subnet_prefix)]
        } else {
            vec![]
        };
        if found != expected {
            return Err(Error::Other(format!(
                "{}: ip addr shows {addr} as {:?}, expected {:?}",
                n.name,
                found
                    .iter()
                    .map(|(a, l)| format!("{a}/{l}"))
                    .collect::<Vec<_>>(),
                expected
                    .iter()
                    .map(|(a, l)| format!("{a}/{l}"))
                    .collect::<Vec<_>>()
            )));
        }
    }
    Ok(())
}

/// [`node_ip_untouched`] sampled for `span`.
async fn stays_untouched(
    tb: &Testbed,
    node: &NodeLayout,
    addr: IpAddr,
    span: Duration,
) -> Result<()> {
    let until = Instant::now() + span;
    loop {
        node_ip_untouched(tb, node, addr)?;
        if Instant::now() > until {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `status.cloud.privateIpId` of `vip` (OCI's private IP object; EC2 has none: empty).
fn private_ip_id(tb: &Testbed, vip: &PostgresVip) -> Result<String> {
    let id = vip
        .status
        .clone()
        .and_then(|s| s.cloud)
        .and_then(|c| c.private_ip_id);
    match (id, tb.layout.cloud) {
        (Some(id), _) => Ok(id),
        (None, CloudFlavour::Oci) => Err(Error::Other(
            "the standard VIP has no status.cloud.privateIpId".into(),
        )),
        (None, _) => Ok(String::new()),
    }
}

/// Cloud calls since `since` that no one but a PostgresVip for `addr` would make, given that
/// the only other PostgresVip's private IP is `allowed_update` (its moves and permission
/// checks update it). On OCI: any CreatePrivateIp or DeletePrivateIp, an UpdatePrivateIp of
/// another private IP, any call whose query names `addr`. On EC2, where every call names
/// the address: any call naming `addr`, but when the settled owner shares it (`shared`) only
/// the ones that change something (assign, unassign).
async fn unexpected_calls(
    tb: &Testbed,
    since: chrono::DateTime<chrono::Utc>,
    addr: IpAddr,
    allowed_update: &str,
    shared: bool,
) -> Result<Vec<String>> {
    let after = |ts: &str| chrono::DateTime::parse_from_rfc3339(ts).is_ok_and(|t| t >= since);
    if tb.layout.cloud == CloudFlavour::Aws {
        use pgvip_cloudsim::aws::Action;
        let a = addr.to_string();
        return Ok(tb
            .aws_calls()
            .await?
            .into_iter()
            .filter(|c| after(&c.timestamp))
            .filter(|c| c.params.values().any(|v| *v == a))
            .filter(|c| {
                !shared
                    || matches!(
                        c.action,
                        Action::AssignPrivateIpAddresses | Action::UnassignPrivateIpAddresses
                    )
            })
            .map(|c| format!("{} {:?} {:?}", c.timestamp, c.action, c.params))
            .collect());
    }
    // The simulator stamps each call when it arrives, on this machine's clock.
    Ok(tb
        .oci_calls()
        .await?
        .into_iter()
        .filter(|c| after(&c.timestamp))
        .filter(|c: &CallRecord| match c.operation {
            Operation::CreatePrivateIp | Operation::DeletePrivateIp => true,
            Operation::UpdatePrivateIp => !c.path.contains(allowed_update),
            _ => queries_address(&c.path, addr),
        })
        .map(|c| {
            format!(
                "{} {} {:?} -> {}",
                c.timestamp, c.method, c.operation, c.path
            )
        })
        .collect())
}

/// Whether a request path's query names `addr` (`ipAddress=<addr>`).
fn queries_address(path: &str, addr: IpAddr) -> bool {
    path.split_once('?').is_some_and(|(_, q)| {
        q.split('&').any(|kv| {
            kv.split_once('=').is_some_and(|(_, v)| {
                v.replace("%3A", ":")
                    .replace("%3a", ":")
                    .parse::<IpAddr>()
                    .is_ok_and(|v| v == addr)
            })
        })
    })
}

// ---------------------------------------------------------------------------------------------
// c. refused move

async fn refused_move(tb: &Testbed) -> Result<()> {
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let old = ready_leader_node(tb).await?;
    let vip = parse_ip(&tb.layout.vip)?;
    // The simulator has no validation-error failure kind: an injected `Status { 400 }` answers
    // 400 with OCI's error body for that status (code `InternalServerError`), which the client
    // takes as a 4xx it must not retry.
    tb.cloud_fault(SimFault::Refuse {
        call: CloudCall::Move,
        count: 10_000,
    })
    .await?;
    let res = async {
        switchover(tb, &old.member)?;
        let new_leader = wait_for("a new Patroni leader", Duration::from_secs(90), || async {
            tb.wait_leader(Duration::from_millis(500))
                .await
                .ok()
                .filter(|l| *l != old.member)
        })
        .await?;
        let new = tb.member_node(&new_leader)?.clone();
        let last = std::sync::Mutex::new(String::new());
        let last = &last;
        let seen = wait_for(
            "the refused move to withhold the address from every node",
            Duration::from_secs(60),
            || async {
                let v = tb.vip().await.ok()?;
                let (ok, now) = withheld(tb, &v, &new, vip);
                *lock(last) = now;
                ok.then_some(())
            },
        )
        .await;
        if let Err(e) = seen {
            return Err(Error::Other(format!("{e}; last seen: {}", lock(last))));
        }
        // It stays withheld while OCI refuses: no node, the cloud still on the old VNIC.
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let v = tb.vip().await?;
            let (ok, now) = withheld(tb, &v, &new, vip);
            if !ok {
                return Err(Error::Other(format!(
                    "the address was not kept withheld while OCI refuses the move: {now}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if tb.cloud_assignment().await?.as_deref() != Some(old.vnic_id.as_str()) {
            return Err(Error::Other(format!(
                "the cloud assignment left {} although every UpdatePrivateIp was refused",
                old.vnic_id
            )));
        }
        tb.check_status_matches_nodes(VIP_NAME).await?;
        Ok(new)
    }
    .await;
    tb.cloud_fault(SimFault::Clear).await?;
    let new = res?;
    // OCI accepts again: the move completes.
    tb.wait_vip_ready_on(&new.name, Duration::from_secs(120))
        .await?;
    expect_cloud_on(tb, &new).await?;
    let writer = tb.start_writer()?;
    let wrote = wait_for(
        &format!("writes through the VIP acknowledged by {}", new.member),
        Duration::from_secs(30),
        || async {
            let a = writer.attempts();
            let on_new = app::last_server(&a).is_some_and(|s| app::is_member(&s, &new.member));
            (on_new
                && app::acked(&a).len() >= 5
                && matches!(a.last().map(|x| &x.outcome), Some(app::Outcome::Acked(_))))
            .then_some(())
        },
    )
    .await;
    let attempts = writer.stop();
    wrote?;
    tb.check_acked_on(&new, &attempts).await?;
    let holders = tb.nodes_with_address(vip)?;
    if holders != vec![new.name.clone()] {
        return Err(Error::Other(format!(
            "after the move the address is on {holders:?}, expected only {}",
            new.name
        )));
    }
    tb.check_status_matches_nodes(VIP_NAME).await
}

/// Whether the VIP is withheld as the contract says after a refused move to `new`, and a
/// description of what was seen.
fn withheld(tb: &Testbed, v: &PostgresVip, new: &NodeLayout, vip: IpAddr) -> (bool, String) {
    let st = v.status.clone().unwrap_or_default();
    let c = |t: &str| condition_of(v, t);
    let show = |t: &str| {
        c(t).map(|c| format!("{}={}/{} ({})", t, c.status, c.reason, c.message))
            .unwrap_or_else(|| format!("{t} absent"))
    };
    let is =
        |t: &str, reason: &str| c(t).is_some_and(|c| c.status == "False" && c.reason == reason);
    let holders = tb
        .nodes_with_address(vip)
        .unwrap_or_else(|_| vec!["?".into()]);
    let entry = st.nodes.iter().find(|r| r.node == new.name);
    let ok = st.desired_node.as_deref() == Some(new.name.as_str())
        && is(condition::CLOUD_ASSIGNED, reason::CLOUD_MOVE_FAILED)
        && is(condition::ADDRESS_CONFIGURED, reason::ADDRESS_WITHHELD)
        && c(condition::READY).is_some_and(|c| c.status == "False")
        && holders.is_empty()
        && entry.is_some_and(|r| {
            !r.address_configured && r.last_error.as_deref().is_some_and(|e| !e.is_empty())
        });
    let now = format!(
        "desiredNode={:?}; {}; {}; {}; ip addr shows the VIP on {holders:?}; status.nodes[{}]={:?}",
        st.desired_node,
        show(condition::CLOUD_ASSIGNED),
        show(condition::ADDRESS_CONFIGURED),
        show(condition::READY),
        new.name,
        entry.map(|r| (r.address_configured, r.last_error.clone())),
    );
    (ok, now)
}

// ---------------------------------------------------------------------------------------------
// d. events

async fn failover_events(tb: &Testbed) -> Result<()> {
    // (from, to, status.lastFailover.durationMillis) of each failover.
    let mut runs: Vec<(String, String, Option<u64>)> = vec![];
    for i in 1..=3 {
        let r = run_failover(
            tb,
            &format!("switchover {i} for the Events"),
            Expect::NewLeader,
            async |tb, old| switchover(tb, &old.member),
        )
        .await?;
        runs.push((r.from, r.to, r.pgvip_total_millis));
    }
    let uid = tb.vip().await?.metadata.uid;
    let last = std::sync::Mutex::new(vec![]);
    let last = &last;
    let matched = wait_for(
        "a FailoverStarted and a FailoverCompleted Event per failover, each with its own note naming from and to",
        Duration::from_secs(30),
        || async {
            let evs = events_about(tb, VIP_NAME, uid.as_deref()).await.ok()?;
            let problems = match_failover_events(&evs, &runs);
            let done = problems.is_empty();
            *lock_vec(last) = problems;
            done.then_some(())
        },
    )
    .await;
    let mut problems = match matched {
        Ok(()) => vec![],
        Err(e) => {
            let mut p = vec![e.to_string()];
            p.extend(lock_vec(last).iter().cloned());
            p
        }
    };
    // Whatever the notes say, each must be visible where an operator looks.
    let evs = events_about(tb, VIP_NAME, uid.as_deref()).await?;
    let notes: BTreeSet<String> = evs
        .iter()
        .filter(|e| {
            matches!(
                e.reason.as_deref(),
                Some("FailoverStarted" | "FailoverCompleted")
            )
        })
        .filter_map(|e| e.note.clone())
        .collect();
    let ns = tb.layout.db_namespace.as_str();
    let events = tb.kubectl(&["get", "events", "-n", ns])?;
    let describe = tb.kubectl(&["describe", "postgresvip", VIP_NAME, "-n", ns])?;
    for (what, out) in [
        (format!("kubectl get events -n {ns}"), &events),
        (
            format!("kubectl describe postgresvip {VIP_NAME} -n {ns}"),
            &describe,
        ),
    ] {
        let missing: Vec<&String> = notes.iter().filter(|n| !out.contains(n.as_str())).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "`{what}` does not show the notes {missing:?}:\n{out}"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(problems.join("; ")))
    }
}

/// What is wrong with the failover Events `evs` of one PostgresVip for the failovers `runs`
/// (from, to, measured duration): each failover needs a FailoverStarted and a FailoverCompleted
/// Event of its own whose notes name its from and to, and no two completions share a note.
fn match_failover_events(evs: &[Event], runs: &[(String, String, Option<u64>)]) -> Vec<String> {
    let mut problems = vec![];
    for kind in ["FailoverStarted", "FailoverCompleted"] {
        let of: Vec<(String, String)> = evs
            .iter()
            .filter(|e| e.reason.as_deref() == Some(kind))
            .map(|e| {
                (
                    e.metadata.name.clone().unwrap_or_default(),
                    e.note.clone().unwrap_or_default(),
                )
            })
            .collect();
        let notes: Vec<&String> = of.iter().map(|(_, n)| n).collect();
        // A completion's note carries its duration, so no two are alike. A start's note
        // (from, to) may repeat an earlier start's; it still needs an Event of its own.
        let distinct: BTreeSet<&String> = notes.iter().copied().collect();
        if kind == "FailoverCompleted" && distinct.len() != of.len() {
            problems.push(format!("{kind} Events repeat a note: {notes:?}"));
        }
        let mut used = BTreeSet::new();
        for (from, to, ms) in runs {
            let free = |(id, n): &&(String, String)| !used.contains(id) && mentions(n, to);
            // The completion of this failover is the one with its duration, if the note
            // has it; else any unused one naming its target.
            let by_ms = ms.and_then(|ms| {
                of.iter()
                    .filter(free)
                    .find(|(_, n)| mentions(n, &ms.to_string()))
            });
            let pick = by_ms.or_else(|| {
                of.iter()
                    .filter(free)
                    .find(|(_, n)| mentions(n, from))
                    .or_else(|| of.iter().find(|e| free(e)))
            });
            match pick {
                Some((id, n)) => {
                    used.insert(id.clone());
                    if !mentions(n, from) {
                        problems.push(format!(
                            "the {kind} Event of {from} -> {to} ({ms:?} ms) does not name {from}: {n:?}"
                        ));
                    }
                }
                None => problems.push(format!(
                    "no {kind} Event of its own for {from} -> {to} ({ms:?} ms); notes: {notes:?}"
                )),
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// shared helpers

fn switchover(tb: &Testbed, from: &str) -> Result<()> {
    tb.patronictl(&["switchover", "--force", "--primary", from])
        .map(|_| ())
}

/// Whether `text` names `name` as a whole name (`db/orders-rw` is not named by
/// `db/orders-rw-shadow`).
fn mentions(text: &str, name: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(name_char) && !after.is_some_and(name_char)
    })
}

fn parse_ip(s: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| Error::Other(format!("{s:?} is not an IP address")))
}

fn lock(m: &std::sync::Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_vec(m: &std::sync::Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The leader's node, once the standard VIP is Ready there.
async fn ready_leader_node(tb: &Testbed) -> Result<NodeLayout> {
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    let node = tb.member_node(&leader)?.clone();
    tb.wait_vip_ready_on(&node.name, Duration::from_secs(90))
        .await?;
    Ok(node)
}

/// Waits until PostgresVip `name` is refused with `why` on both `Ready` and `LeaderConfirmed`
/// (messages naming one of `names`), and checks it has no desired or assigned node. Returns
/// the LeaderConfirmed message.
async fn expect_refused(tb: &Testbed, name: &str, why: &str, names: &[&str]) -> Result<String> {
    let last = std::sync::Mutex::new(String::from("nothing yet"));
    let last = &last;
    let seen = wait_for(
        &format!("{name}: Ready and LeaderConfirmed False/{why} naming one of {names:?}"),
        Duration::from_secs(45),
        || async {
            let v = tb.vip_named(name).await.ok()?;
            let show = |t: &str| {
                condition_of(&v, t)
                    .map(|c| format!("{t}={}/{}: {}", c.status, c.reason, c.message))
                    .unwrap_or_else(|| format!("{t} absent"))
            };
            *lock(last) = format!(
                "{}; {}",
                show(condition::READY),
                show(condition::LEADER_CONFIRMED)
            );
            let ok = |t: &str| {
                condition_of(&v, t).is_some_and(|c| {
                    c.status == "False"
                        && c.reason == why
                        && names.iter().any(|n| mentions(&c.message, n))
                })
            };
            (ok(condition::READY) && ok(condition::LEADER_CONFIRMED)).then(|| {
                let msg = condition_of(&v, condition::LEADER_CONFIRMED)
                    .map(|c| c.message)
                    .unwrap_or_default();
                (v, msg)
            })
        },
    )
    .await;
    let (v, msg) = match seen {
        Ok(x) => x,
        Err(e) => return Err(Error::Other(format!("{e}; last seen: {}", lock(last)))),
    };
    let st = v.status.unwrap_or_default();
    if st.desired_node.is_some() || st.assigned_node.is_some() {
        return Err(Error::Other(format!(
            "{name} is refused ({why}) but has desiredNode {:?}, assignedNode {:?}",
            st.desired_node, st.assigned_node
        )));
    }
    Ok(msg)
}

/// Events (events.k8s.io/v1) regarding PostgresVip `name` in the database namespace; of the
/// object with `uid` when given (a re-created object has the same name).
async fn events_about(tb: &Testbed, name: &str, uid: Option<&str>) -> Result<Vec<Event>> {
    let api: kube::Api<Event> = kube::Api::namespaced(tb.client.clone(), &tb.layout.db_namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::Other(format!("listing Events: {e}")))?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("PostgresVip")
                    && r.name.as_deref() == Some(name)
                    && uid.is_none_or(|u| r.uid.as_deref() == Some(u))
            })
        })
        .collect())
}

/// Waits for a Warning Event `reason` regarding PostgresVip `name` whose note names `needle`.
async fn expect_warning_event(tb: &Testbed, name: &str, reason: &str, needle: &str) -> Result<()> {
    expect_warning_event_any(tb, name, reason, &[needle]).await
}

/// Waits for a Warning Event `reason` regarding PostgresVip `name` whose note names one of
/// `needles`.
async fn expect_warning_event_any(
    tb: &Testbed,
    name: &str,
    reason: &str,
    needles: &[&str],
) -> Result<()> {
    let uid = tb.vip_named(name).await?.metadata.uid;
    let res = wait_for(
        &format!("a Warning Event {reason} regarding {name} naming one of {needles:?}"),
        Duration::from_secs(30),
        || async {
            let evs = events_about(tb, name, uid.as_deref()).await.ok()?;
            evs.iter()
                .any(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.reason.as_deref() == Some(reason)
                        && e.note
                            .as_deref()
                            .is_some_and(|n| needles.iter().any(|x| mentions(n, x)))
                })
                .then_some(())
        },
    )
    .await;
    if res.is_err() {
        let evs = events_about(tb, name, None).await.unwrap_or_default();
        let seen: Vec<String> = evs
            .iter()
            .map(|e| {
                format!(
                    "{}/{}: {}",
                    e.type_.as_deref().unwrap_or("?"),
                    e.reason.as_deref().unwrap_or("?"),
                    e.note.as_deref().unwrap_or("")
                )
            })
            .collect();
        return Err(Error::Other(format!(
            "no Warning Event {reason} regarding {name} naming one of {needles:?}; Events regarding it: {seen:?}"
        )));
    }
    Ok(())
}

/// Checks for `span` that `ip addr` shows `vip` on `node` and on no other node, every sample.
async fn steady_on(tb: &Testbed, vip: IpAddr, node: &NodeLayout, span: Duration) -> Result<()> {
    let until = Instant::now() + span;
    loop {
        let holders = tb.nodes_with_address(vip)?;
        if holders != vec![node.name.clone()] {
            return Err(Error::Other(format!(
                "ip addr shows {vip} on {holders:?}, expected only {}",
                node.name
            )));
        }
        if Instant::now() > until {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits (briefly) until the simulator assigns the VIP to `node`'s VNIC.
async fn expect_cloud_on(tb: &Testbed, node: &NodeLayout) -> Result<()> {
    let res = wait_for(
        &format!("the cloud to assign the VIP to {}'s VNIC", node.name),
        Duration::from_secs(15),
        || async {
            (tb.cloud_assignment().await.ok()?.as_deref() == Some(node.vnic_id.as_str()))
                .then_some(())
        },
    )
    .await;
    if res.is_err() {
        return Err(Error::Other(format!(
            "the cloud assigns the VIP to {:?}, expected {} ({})",
            tb.cloud_assignment().await?,
            node.vnic_id,
            node.name
        )));
    }
    Ok(())
}

/// Deletes PostgresVip `name` (if present) and waits until it is gone (finalizer done).
async fn delete_vip(tb: &Testbed, name: &str) -> Result<()> {
    let api = tb.vip_api();
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(Error::Other(format!("deleting PostgresVip {name}: {e}"))),
    }
    wait_for(
        &format!("PostgresVip {name} to be gone"),
        Duration::from_secs(60),
        || async { matches!(api.get_opt(name).await, Ok(None)).then_some(()) },
    )
    .await
}
