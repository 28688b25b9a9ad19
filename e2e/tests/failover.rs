//! The end-to-end failover suite: pgvip's controller and node-agents run on the testbed with the
//! chart's RBAC against the cloud simulator (OCI or EC2 front) or, on the L2 flavour, on a plain
//! bridge, while an application writes through the VIP. Every scenario asserts that writes
//! resume through the VIP on the new primary, that no acknowledged write is lost, that exactly
//! one node holds the address and the network delivers it there (the cloud assigns it to that
//! node's VNIC; on L2 the client's neighbour entry names that node's MAC), and that the
//! PostgresVip reports Ready with the failover recorded. The negative control runs pgvip
//! without the cloud move (on L2: with announcements filtered) and shows the application cannot
//! write.
use std::{process::ExitCode, time::Duration};

use pgvip_e2e::{
    app,
    cluster::wait_for,
    layout::CloudFlavour,
    pgvip::{self, CloudMode},
    scenario::{self, ScenarioResult},
    scenarios::{self, switchover, Scenario},
    Error, Result, Testbed,
};

mod common;
use common::Suite;

fn main() -> ExitCode {
    Suite::run(
        "failover",
        |tb: &Testbed, s: &mut Suite| {
            let rt = tokio::runtime::Handle::current();
            let mut results: Vec<ScenarioResult> = vec![];
            let mut record = |s: &mut Suite, name: &str, r: Result<ScenarioResult>| {
                s.check(name, || r.map(|r| results.push(r)));
            };
            s.check("pgvip starts and assigns the VIP to the leader", || {
                rt.block_on(scenarios::start_pgvip(tb))
            });

            // An invalid PGVIP_AWS_CREDENTIALS already failed the start.
            let creds = pgvip_e2e::aws_identity::AwsCredentials::from_env().ok();
            if let Some((creds, name)) = creds
                .and_then(|c| Some((c, c.signer_check()?)))
                .filter(|_| tb.layout.cloud == CloudFlavour::Aws)
            {
                s.check(name, || rt.block_on(signed_by(tb, creds)));
            }
            for sc in Scenario::ALL {
                let names = checks(sc);
                if !Suite::selected(names.selector)
                    || (sc.needs_cloud() && !tb.layout.cloud.has_cloud())
                {
                    continue;
                }
                let r = rt.block_on(sc.run(tb));
                match names.recovery {
                    Some(recovery) => {
                        record(s, names.run, r);
                        s.check(recovery, || rt.block_on(sc.recover(tb)));
                    }
                    None => {
                        // Not a check of its own: puts back what the scenario changed (OCI
                        // faults, the second controller) so later scenarios start from the
                        // standard state.
                        let recovered = rt.block_on(sc.recover(tb));
                        record(s, names.run, r);
                        if let Err(e) = recovered {
                            println!("note: recovering after {}: {e}", sc.name());
                        }
                    }
                }
            }
            if Suite::selected("dual-stack") {
                if tb.layout.cloud == CloudFlavour::Aws {
                    println!("note: dual-stack skipped on the AWS flavour: EC2 cannot reassign an IPv6 address (pgvip refuses IPv6 VIPs there)");
                } else {
                    s.check("dual stack: an IPv4 and an IPv6 PostgresVip on one cluster, switchover and kill with the application writing through both", || rt.block_on(dual_stack(tb)));
                }
            }
            if Suite::selected("negative") && !tb.layout.cloud.has_cloud() {
                s.check("negative control: with announcements filtered the client's stale neighbour entry keeps the application from writing; with them it writes at once", || rt.block_on(negative_control_l2(tb)));
            } else if Suite::selected("negative") {
                s.check("negative control: without the cloud move the application cannot write after failover", || rt.block_on(negative_control(tb)));
            }

            let path = std::env::var_os("PGVIP_RESULTS")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("pgvip-e2e-results.json"));
            if let Err(e) = scenario::report(&results, &path) {
                eprintln!("{e}");
            }
        },
        common::options_from_env(),
    )
}

/// The suite's names around one scenario.
struct Checks {
    /// The `PGVIP_E2E_ONLY` key that selects it.
    selector: &'static str,
    /// The check of the run itself.
    run: &'static str,
    /// The check of its recovery, where the suite has one.
    recovery: Option<&'static str>,
}

fn checks(sc: Scenario) -> Checks {
    let (selector, run, recovery) = match sc {
        Scenario::Switchover => (
            "switchover",
            "planned switchover: writes resume through the VIP on the new primary",
            None,
        ),
        Scenario::Kill => (
            "kill",
            "primary Patroni and PostgreSQL killed",
            Some("killed member rejoins as a replica"),
        ),
        Scenario::NodeLost => (
            "node-lost",
            "primary node lost (link cut, node frozen)",
            Some("lost node comes back and rejoins"),
        ),
        Scenario::Partition => (
            "partition",
            "old primary partitioned from the apiserver but alive",
            Some("partition heals and the old primary rejoins"),
        ),
        Scenario::Agent => (
            "agent",
            "node-agent killed and restarted on the primary's node",
            None,
        ),
        Scenario::CloudFaults => (
            "cloud-faults",
            "cloud faults during the move (throttled twice, a 503, 3 s latency)",
            None,
        ),
        Scenario::CrashBeforeCloud => (
            "controller-crash",
            "controller killed in the middle of a move (before the cloud call returns), restarted",
            None,
        ),
        Scenario::CrashAfterCloud => (
            "controller-crash",
            "controller killed in the middle of a move (after the cloud call, before the status write), restarted",
            None,
        ),
        Scenario::TwoControllers => (
            "two-controllers",
            "two controller replicas: the leader is killed during a failover",
            None,
        ),
        Scenario::AgentsCut => (
            "agents-cut",
            "every node-agent cut off from the apiserver for 30 s: the VIP stays on the primary's node alone",
            None,
        ),
    };
    Checks {
        selector,
        run,
        recovery,
    }
}

/// Every EC2 call the simulator authenticated was signed with credentials from the chosen
/// temporary source (IMDS, STS or the Pod Identity agent), by its role.
async fn signed_by(tb: &Testbed, creds: pgvip_e2e::aws_identity::AwsCredentials) -> Result<()> {
    let calls = tb.aws_calls().await?;
    pgvip_e2e::aws_identity::check_signers(&calls, creds).map_err(Error::Other)
}

/// The IPv6 PostgresVip of the dual-stack check.
const VIP6_NAME: &str = "orders-rw6";

/// An IPv6 PostgresVip next to the IPv4 one, following the same cluster: a switchover, then a
/// kill, each with the application writing through both addresses. Both must move to the new
/// primary, alone on it, with the network delivering there and no acknowledged write lost.
async fn dual_stack(tb: &Testbed) -> Result<()> {
    with_vip6(tb, async || {
        for kill in [false, true] {
            dual_stack_failover(tb, kill).await?;
        }
        Ok(())
    })
    .await
}

/// Runs `body` while the IPv6 PostgresVip exists: applies it, waits until it is Ready on the
/// leader's node, and afterwards (also when something failed) deletes it and waits until no
/// node holds its address.
async fn with_vip6(tb: &Testbed, body: impl AsyncFnOnce() -> Result<()>) -> Result<()> {
    let vip6 = tb.layout.vip6.clone();
    tb.kubectl_apply(&scenario::vip_manifest_named(
        tb,
        VIP6_NAME,
        &vip6,
        tb.use_endpoints,
    ))?;
    let res = async {
        let leader = tb.wait_leader(Duration::from_secs(30)).await?;
        let node = tb.member_node(&leader)?.name.clone();
        tb.wait_vip_named_ready_on(VIP6_NAME, &node, Duration::from_secs(60))
            .await?;
        body().await
    }
    .await;
    let _ = tb.kubectl(&[
        "-n",
        &tb.layout.db_namespace,
        "delete",
        "postgresvip",
        VIP6_NAME,
        "--wait=true",
    ]);
    let addr: std::net::IpAddr = vip6
        .parse()
        .map_err(|e| Error::Other(format!("{vip6}: {e}")))?;
    let gone = wait_for(
        "the IPv6 VIP off every node",
        Duration::from_secs(30),
        || async { tb.nodes_with_address(addr).ok()?.is_empty().then_some(()) },
    )
    .await;
    res.and(gone)
}

/// One leader change (a switchover, or a kill and the rejoin) under writers on both VIPs.
async fn dual_stack_failover(tb: &Testbed, kill: bool) -> Result<()> {
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let old = tb.member_node(&leader)?.clone();
    let writers = [
        (tb.layout.vip.clone(), tb.start_writer()?),
        (tb.layout.vip6.clone(), tb.start_writer_to(&tb.layout.vip6)?),
    ];
    for (addr, w) in &writers {
        wait_for(
            &format!("writes through {addr}"),
            Duration::from_secs(30),
            || async { (app::acked(&w.attempts()).len() >= 10).then_some(()) },
        )
        .await
        .map_err(|e| with_timeline(e, w))?;
    }
    let new_leader = if kill {
        tb.kill_member(&old);
        leader_after(tb, &leader, Duration::from_secs(90)).await?
    } else {
        switched_from(tb, &leader).await?
    };
    let new = tb.member_node(&new_leader)?.clone();
    for (addr, w) in &writers {
        wait_for(
            &format!("writes through {addr} on {}", new.member),
            Duration::from_secs(90),
            || writes_on(w, &new.member),
        )
        .await
        .map_err(|e| with_timeline(e, w))?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (addr, w) in writers {
        let attempts = w.stop();
        tb.check_acked_on(&new, &attempts).await?;
        let ip: std::net::IpAddr = addr
            .parse()
            .map_err(|e| Error::Other(format!("{addr}: {e}")))?;
        let holders = tb.nodes_with_address(ip)?;
        if holders != vec![new.name.clone()] {
            return Err(Error::Other(format!(
                "{addr} is on {holders:?}, expected {} alone",
                new.name
            )));
        }
        let at = tb.cloud_assignment_of(ip).await?;
        if at.as_deref() != Some(new.vnic_id.as_str()) {
            return Err(Error::Other(format!(
                "the network delivers {addr} to {at:?}, expected {}",
                new.vnic_id
            )));
        }
    }
    if kill {
        scenarios::rejoin_all(tb).await?;
    }
    Ok(())
}

/// `e` with what `writer` saw, so that a failure says why writes did not land.
fn with_timeline(e: Error, writer: &app::Writer) -> Error {
    Error::Other(format!(
        "{e}; the writer saw: {}",
        app::timeline(&writer.attempts())
    ))
}

/// The new leader after a switchover away from `leader`.
async fn switched_from(tb: &Testbed, leader: &str) -> Result<String> {
    switchover(tb, leader)?;
    leader_after(tb, leader, Duration::from_secs(60)).await
}

/// Waits up to `limit` for a leader other than `leader`.
async fn leader_after(tb: &Testbed, leader: &str, limit: Duration) -> Result<String> {
    wait_for("a new leader", limit, || async {
        tb.wait_leader(Duration::from_millis(500))
            .await
            .ok()
            .filter(|l| l != leader)
    })
    .await
}

/// `Some` once the writer's last answer came from `member` (for [`wait_for`]).
async fn writes_on(writer: &app::Writer, member: &str) -> Option<()> {
    app::last_server(&writer.attempts())
        .is_some_and(|s| app::is_member(&s, member))
        .then_some(())
}

/// On L2 the announcement is what moves clients: a client keeps sending to the MAC its
/// neighbour entry names. With the fabric dropping gratuitous ARP for the IPv4 VIP and
/// unsolicited neighbour advertisements for the IPv6 VIP, a switchover leaves the application's
/// entries on the old node, and it cannot write through either address for as long as it would
/// take the entry to expire (15 to 45 s of reachable time, then 5 s of delay and 3 probes),
/// while neighbour discovery for other addresses keeps working. With the announcements
/// delivered, the next switchover repairs both entries and writes resume well inside that time.
/// One switchover of each kind serves both addresses.
async fn negative_control_l2(tb: &Testbed) -> Result<()> {
    let vips = [tb.layout.vip.clone(), tb.layout.vip6.clone()];
    with_vip6(tb, async || negative_control_l2_of(tb, &vips).await).await
}

/// [`negative_control_l2`] for the PostgresVips of `vips`, each with its own writer.
async fn negative_control_l2_of(tb: &Testbed, vips: &[String]) -> Result<()> {
    let addrs = parse_addrs(vips)?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let old = tb.member_node(&leader)?.clone();
    let writers = vips
        .iter()
        .map(|v| tb.start_writer_to(v))
        .collect::<Result<Vec<_>>>()?;
    let stop_all = |writers: Vec<app::Writer>| {
        for w in writers {
            w.stop();
        }
    };
    for (v, w) in vips.iter().zip(&writers) {
        let warm = wait_for(
            &format!("writes through {v}"),
            Duration::from_secs(30),
            || async { app::last_server(&w.attempts()).map(|_| ()) },
        )
        .await;
        if let Err(e) = warm {
            stop_all(writers);
            return Err(e);
        }
    }
    let mut blocked = Ok(());
    for v in vips {
        blocked = blocked.and(pgvip_e2e::netns::block_announcements(&tb.layout, v, true));
    }
    let blocked = match blocked {
        Ok(()) => stale_while_blocked(tb, &old, &leader, vips, &addrs, &writers).await,
        Err(e) => Err(e),
    };
    let mut lifted = Ok(());
    for v in vips {
        lifted = lifted.and(pgvip_e2e::netns::block_announcements(&tb.layout, v, false));
    }
    let from = match blocked.and_then(|l| lifted.map(|_| l)) {
        Ok(l) => l,
        Err(e) => {
            stop_all(writers);
            return Err(e);
        }
    };
    // Announcements delivered: the next switchover repairs every entry at once.
    let new_leader = match switched_from(tb, &from).await {
        Ok(l) => l,
        Err(e) => {
            stop_all(writers);
            return Err(e);
        }
    };
    let new = tb.member_node(&new_leader)?.clone();
    let changed = std::time::Instant::now();
    let mut took = vec![];
    let mut res = Ok(());
    for (v, w) in vips.iter().zip(&writers) {
        res = res.and(
            wait_for(
                &format!("writes through {v} on the new primary"),
                Duration::from_secs(12),
                || writes_on(w, &new.member),
            )
            .await,
        );
        took.push(format!("{v} {} ms", changed.elapsed().as_millis()));
    }
    stop_all(writers);
    res?;
    for (v, &addr) in vips.iter().zip(&addrs) {
        let entry = tb.cloud_assignment_of(addr).await?;
        if entry.as_deref() != Some(new.vnic_id.as_str()) {
            return Err(Error::Other(format!(
                "after the announcement the client's entry for {v} names {entry:?}, expected {}",
                new.vnic_id
            )));
        }
    }
    println!(
        "note: with announcements, writes reached the new primary after the leader change: {}",
        took.join(", ")
    );
    Ok(())
}

/// The blocked half of [`negative_control_l2_of`]: a switchover away from `leader` (on `old`)
/// while every announcement of `vips` is filtered. No writer may get a write through for 8 s
/// after the addresses sit on the new node alone, and the client's entry for every address must
/// still name the old node's MAC; neighbour discovery of the new node's own IPv6 address must
/// still work. Returns the new leader.
async fn stale_while_blocked(
    tb: &Testbed,
    old: &pgvip_e2e::layout::NodeLayout,
    leader: &str,
    vips: &[String],
    addrs: &[std::net::IpAddr],
    writers: &[app::Writer],
) -> Result<String> {
    let new_leader = switched_from(tb, leader).await?;
    let new = tb.member_node(&new_leader)?.clone();
    for &addr in addrs {
        wait_for(
            &format!("{addr} on the new node only"),
            Duration::from_secs(60),
            || async {
                (tb.nodes_with_address(addr).ok()? == vec![new.name.clone()]).then_some(())
            },
        )
        .await?;
    }
    let since: Vec<usize> = writers.iter().map(|w| w.attempts().len()).collect();
    ordinary_discovery_works(tb, &new)?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    for (((v, &addr), w), since) in vips.iter().zip(addrs).zip(writers).zip(since) {
        let acked = app::acked(&w.attempts()[since..]).len();
        let entry = tb.cloud_assignment_of(addr).await?;
        if acked > 0 {
            return Err(Error::Other(format!("the application wrote {acked} rows through {v} with announcements filtered (client's entry: {entry:?}); the testbed does not reproduce a stale neighbour entry")));
        }
        if entry.as_deref() != Some(old.vnic_id.as_str()) {
            return Err(Error::Other(format!(
                "with announcements filtered the client's entry for {v} names {entry:?}, expected the old node's {}",
                old.vnic_id
            )));
        }
    }
    Ok(new_leader)
}

/// With the blocks in place, the client resolves `node`'s own IPv6 address afresh (its entry
/// flushed, one connection): solicitations and solicited advertisements for other addresses pass.
fn ordinary_discovery_works(tb: &Testbed, node: &pgvip_e2e::layout::NodeLayout) -> Result<()> {
    let ns = &tb.layout.client.netns;
    pgvip_e2e::cmd::ip_in(ns, &["-6", "neigh", "flush", "to", &node.ip6])?;
    // One connection to the member's REST API over IPv6 (the testbed has no ping).
    let url = format!("http://[{}]:8008/liveness", node.ip6);
    pgvip_e2e::cmd::run_in(
        ns,
        "curl",
        &["-sS", "-g", "--max-time", "2", "-o", "/dev/null", &url],
    )?;
    let addr: std::net::IpAddr = node
        .ip6
        .parse()
        .map_err(|e| Error::Other(format!("{}: {e}", node.ip6)))?;
    let out = pgvip_e2e::cmd::ip_in(ns, &["neigh", "show", &addr.to_string()])?;
    if out.to_lowercase().contains(&node.mac.to_lowercase()) {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "with the announcement blocks in place the client resolved {} to {out:?}, expected {}",
            node.ip6, node.mac
        )))
    }
}

/// pgvip with the cloud move switched off: the agents still move the address at the OS level
/// and announce it, but the fabric keeps delivering the VIP to the old VNIC, so the application
/// cannot write to the new primary. Then pgvip with the cloud move repairs it.
async fn negative_control(tb: &Testbed) -> Result<()> {
    // On OCI the IPv6 VIP of the dual-stack check goes through the same (EC2 cannot move one).
    if tb.layout.cloud == CloudFlavour::Oci {
        let vips = [tb.layout.vip.clone(), tb.layout.vip6.clone()];
        with_vip6(tb, async || negative_control_of(tb, &vips).await).await
    } else {
        negative_control_of(tb, std::slice::from_ref(&tb.layout.vip)).await
    }
}

/// The addresses of `vips`, parsed.
fn parse_addrs(vips: &[String]) -> Result<Vec<std::net::IpAddr>> {
    vips.iter()
        .map(|v| {
            v.parse::<std::net::IpAddr>()
                .map_err(|e| Error::Other(format!("{v}: {e}")))
        })
        .collect()
}

/// [`negative_control`] for the PostgresVips of `vips` (the suite's first).
async fn negative_control_of(tb: &Testbed, vips: &[String]) -> Result<()> {
    let addrs = parse_addrs(vips)?;
    pgvip::stop_controller(&tb.layout, 0, false)?;
    pgvip::stop_controller(&tb.layout, 1, false)?;
    pgvip::start_controller(&tb.layout, 2, CloudMode::None)?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let old = tb.member_node(&leader)?.clone();
    let new_leader = switched_from(tb, &leader).await?;
    let new = tb.member_node(&new_leader)?.clone();
    // The L2-only controller puts the addresses on the new node and the agent announces them.
    for &addr in &addrs {
        wait_for(
            &format!("{addr} on the new node only"),
            Duration::from_secs(60),
            || async {
                (tb.nodes_with_address(addr).ok()? == vec![new.name.clone()]).then_some(())
            },
        )
        .await?;
    }
    let writers = vips
        .iter()
        .map(|v| tb.start_writer_to(v))
        .collect::<Result<Vec<_>>>()?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    for ((w, v), &addr) in writers.into_iter().zip(vips).zip(&addrs) {
        let acked = app::acked(&w.stop());
        let cloud = tb.cloud_assignment_of(addr).await?;
        if !acked.is_empty() {
            return Err(Error::Other(format!("the application wrote {} rows through {v} without the cloud move (cloud on {cloud:?}); the testbed does not reproduce the bug", acked.len())));
        }
        if cloud != Some(old.vnic_id.clone()) {
            return Err(Error::Other(format!(
                "the cloud assignment of {v} moved although the cloud move was off"
            )));
        }
    }
    // pgvip with the cloud move: the application writes again, through every address.
    pgvip::stop_controller(&tb.layout, 2, false)?;
    pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    for v in vips {
        let writer = tb.start_writer_to(v)?;
        let res = wait_for(
            &format!("writes through {v} after pgvip moves the IP"),
            Duration::from_secs(60),
            || writes_on(&writer, &new.member),
        )
        .await;
        writer.stop();
        res?;
    }
    Ok(())
}
