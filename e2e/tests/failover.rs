//! The end-to-end failover suite: pgvip's controller and node-agents run on the testbed with the
//! chart's RBAC against the OCI simulator, while an application writes through the VIP. Every
//! scenario asserts that writes resume through the VIP on the new primary, that no acknowledged
//! write is lost, that exactly one node holds the address and the cloud assigns it to that
//! node's VNIC, and that the PostgresVip reports Ready with the failover recorded. The negative
//! control runs pgvip without the cloud move and shows the application cannot write.
use std::{process::ExitCode, time::Duration};

use pgvip_e2e::{
    app,
    cluster::wait_for,
    netns,
    pgvip::{self, CloudMode},
    scenario::{self, run_failover, Expect, ScenarioResult},
    Error, Result, Testbed,
};
use pgvip_ocisim::{faults::Operation, Failure, FaultCommand};

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
                rt.block_on(start(tb))
            });

            if Suite::selected("switchover") {
                let r = rt.block_on(run_failover(
                    tb,
                    "planned switchover",
                    Expect::NewLeader,
                    async |tb, old| switchover(tb, &old.member),
                ));
                record(
                    s,
                    "planned switchover: writes resume through the VIP on the new primary",
                    r,
                );
            }
            if Suite::selected("kill") {
                let r = rt.block_on(run_failover(
                    tb,
                    "primary killed",
                    Expect::NewLeader,
                    async |tb, old| {
                        tb.kill_member(old);
                        Ok(())
                    },
                ));
                record(s, "primary Patroni and PostgreSQL killed", r);
                s.check("killed member rejoins as a replica", || {
                    rt.block_on(rejoin_all(tb))
                });
            }
            if Suite::selected("node-lost") {
                let r = rt.block_on(run_failover(
                    tb,
                    "primary node lost",
                    Expect::NewLeaderOldNodeLost,
                    async |tb, old| {
                        netns::set_fabric_port(&tb.layout, &old.fabric_port, false)?;
                        tb.freeze_node(old, true)
                    },
                ));
                record(s, "primary node lost (link cut, node frozen)", r);
                s.check("lost node comes back and rejoins", || {
                    rt.block_on(thaw_all(tb))
                });
            }
            if Suite::selected("partition") {
                let r = rt.block_on(run_failover(
                    tb,
                    "old primary partitioned from the apiserver",
                    Expect::NewLeader,
                    async |tb, old| tb.partition_from_api(old, true),
                ));
                record(s, "old primary partitioned from the apiserver but alive", r);
                s.check("partition heals and the old primary rejoins", || {
                    rt.block_on(heal_all(tb))
                });
            }
            if Suite::selected("agent") {
                let r = rt.block_on(run_failover(
                    tb,
                    "node-agent restarted on the primary",
                    Expect::SameLeader,
                    async |tb, old| {
                        pgvip::stop_agent(&tb.layout, old)?;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        pgvip::start_agent(&tb.layout, old).map(|_| ())
                    },
                ));
                record(
                    s,
                    "node-agent killed and restarted on the primary's node",
                    r,
                );
            }
            if Suite::selected("oci-faults") {
                let r = rt.block_on(run_failover(
                    tb,
                    "switchover under OCI 429/5xx/3s latency",
                    Expect::NewLeader,
                    async |tb, old| {
                        tb.oci_fault(&FaultCommand::Fail {
                            operation: Some(Operation::UpdatePrivateIp),
                            count: 2,
                            failure: Failure::Throttle {
                                retry_after_seconds: Some(1),
                            },
                        })
                        .await?;
                        tb.oci_fault(&FaultCommand::Fail {
                            operation: Some(Operation::ListPrivateIps),
                            count: 1,
                            failure: Failure::Status { status: 503 },
                        })
                        .await?;
                        tb.oci_fault(&FaultCommand::Latency {
                            operation: Some(Operation::UpdatePrivateIp),
                            millis: 3000,
                        })
                        .await?;
                        switchover(tb, &old.member)
                    },
                ));
                let _ = rt.block_on(tb.oci_fault(&FaultCommand::Clear));
                record(
                    s,
                    "OCI faults during the move (429 with Retry-After, 503, 3 s latency)",
                    r,
                );
            }
            if Suite::selected("controller-crash") {
                for (label, window) in [
                    ("before the cloud call returns", Window::BeforeCloud),
                    (
                        "after the cloud call, before the status write",
                        Window::AfterCloud,
                    ),
                ] {
                    let r = rt.block_on(run_failover(
                        tb,
                        &format!("controller killed mid-move, {label}"),
                        Expect::NewLeader,
                        async |tb, old| crash_mid_move(tb, &old.member, window).await,
                    ));
                    record(
                        s,
                        &format!("controller killed in the middle of a move ({label}), restarted"),
                        r,
                    );
                }
            }
            if Suite::selected("two-controllers") {
                let r = rt.block_on(run_failover(
                    tb,
                    "controller leader killed during failover",
                    Expect::NewLeader,
                    async |tb, old| {
                        pgvip::start_controller(&tb.layout, 1, CloudMode::Oci)?;
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        switchover(tb, &old.member)?;
                        pgvip::stop_controller(&tb.layout, 0, true)
                    },
                ));
                record(
                    s,
                    "two controller replicas: the leader is killed during a failover",
                    r,
                );
            }
            if Suite::selected("negative") {
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

async fn start(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        pgvip::start_agent(&tb.layout, n)?;
    }
    pgvip::start_controller(&tb.layout, 0, CloudMode::Oci)?;
    tb.kubectl_apply(&scenario::vip_manifest(tb, common::use_endpoints()))?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let node = tb.member_node(&leader)?.name.clone();
    tb.wait_vip_ready_on(&node, Duration::from_secs(60))
        .await
        .map(|_| ())
}

/// Where in a move the controller is killed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Window {
    /// The decision is published; the UpdatePrivateIp is held 4 s by the simulator.
    BeforeCloud,
    /// The cloud has moved the IP; the read-back is held 4 s, so status is not written yet.
    AfterCloud,
}

/// Switches over, kills the only controller (SIGKILL) inside `window`, and restarts it (a
/// container restart: same identity, so it renews its Lease at once). The restarted controller
/// must finish the move from whatever state the crash left, idempotently.
async fn crash_mid_move(tb: &Testbed, from: &str, window: Window) -> Result<()> {
    let op = match window {
        Window::BeforeCloud => Operation::UpdatePrivateIp,
        Window::AfterCloud => Operation::GetPrivateIp,
    };
    tb.oci_fault(&FaultCommand::Latency {
        operation: Some(op),
        millis: 4000,
    })
    .await?;
    let old_node = tb.member_node(from)?.clone();
    let before = tb.cloud_assignment().await?;
    switchover(tb, from)?;
    let desired = wait_for(
        "the decision published",
        Duration::from_secs(60),
        || async {
            let st = tb.vip().await.ok()?.status?;
            st.desired_node.filter(|d| *d != old_node.name)
        },
    )
    .await?;
    let target = tb
        .layout
        .nodes
        .iter()
        .find(|n| n.name == desired)
        .cloned()
        .ok_or_else(|| Error::Other(format!("unknown node {desired}")))?;
    match window {
        Window::BeforeCloud => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            if tb.cloud_assignment().await? != before {
                return Err(Error::Other("the cloud moved before the kill".into()));
            }
        }
        Window::AfterCloud => {
            wait_for(
                "the cloud to move the IP",
                Duration::from_secs(20),
                || async {
                    (tb.cloud_assignment().await.ok()?.as_deref() == Some(target.vnic_id.as_str()))
                        .then_some(())
                },
            )
            .await?;
            let st = tb.vip().await?.status.unwrap_or_default();
            if st.assigned_node.as_deref() == Some(target.name.as_str()) {
                return Err(Error::Other(
                    "the status already recorded the move; the kill came too late".into(),
                ));
            }
        }
    }
    pgvip::stop_controller(&tb.layout, 0, true)?;
    tb.oci_fault(&FaultCommand::Clear).await?;
    pgvip::start_controller(&tb.layout, 0, CloudMode::Oci).map(|_| ())
}

fn switchover(tb: &Testbed, from: &str) -> Result<()> {
    tb.patronictl(&["switchover", "--force", "--primary", from])
        .map(|_| ())
}

async fn rejoin_all(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        if !pgvip_e2e::cmd::alive(&tb.layout.path(&format!("patroni-{}.pid", n.member))) {
            tb.start_member(n)?;
        }
    }
    tb.wait_healthy(Duration::from_secs(120)).await
}

/// Brings lost nodes back; the returning node's agent must drop its stale copy of the address.
async fn thaw_all(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        tb.freeze_node(n, false)?;
        netns::set_fabric_port(&tb.layout, &n.fabric_port, true)?;
    }
    let holder = tb
        .vip()
        .await?
        .status
        .and_then(|s| s.assigned_node)
        .unwrap_or_default();
    wait_for(
        "the returning node to remove its stale copy of the address",
        Duration::from_secs(60),
        || async { (tb.nodes_with_vip().ok()? == vec![holder.clone()]).then_some(()) },
    )
    .await?;
    tb.wait_healthy(Duration::from_secs(120)).await
}

async fn heal_all(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        let _ = tb.partition_from_api(n, false);
    }
    tb.wait_healthy(Duration::from_secs(120)).await
}

/// pgvip with the cloud move switched off: the agents still move the address at the OS level
/// and announce it, but the fabric keeps delivering the VIP to the old VNIC, so the application
/// cannot write to the new primary. Then pgvip with the cloud move repairs it.
async fn negative_control(tb: &Testbed) -> Result<()> {
    pgvip::stop_controller(&tb.layout, 0, false)?;
    pgvip::stop_controller(&tb.layout, 1, false)?;
    pgvip::start_controller(&tb.layout, 2, CloudMode::None)?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let old = tb.member_node(&leader)?.clone();
    let cloud_before = tb.cloud_assignment().await?;
    switchover(tb, &leader)?;
    let new_leader = wait_for("a new leader", Duration::from_secs(60), || async {
        tb.wait_leader(Duration::from_millis(500))
            .await
            .ok()
            .filter(|l| *l != leader)
    })
    .await?;
    let new = tb.member_node(&new_leader)?.clone();
    // The L2-only controller puts the address on the new node and the agent announces it.
    wait_for(
        "the address on the new node only",
        Duration::from_secs(60),
        || async { (tb.nodes_with_vip().ok()? == vec![new.name.clone()]).then_some(()) },
    )
    .await?;
    let writer = tb.start_writer()?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let attempts = writer.stop();
    let acked = app::acked(&attempts);
    if !acked.is_empty() {
        return Err(Error::Other(format!("the application wrote {} rows through the VIP without the cloud move (cloud still on {cloud_before:?}); the testbed does not reproduce the bug", acked.len())));
    }
    if tb.cloud_assignment().await? != Some(old.vnic_id.clone()) {
        return Err(Error::Other(
            "the cloud assignment moved although the cloud move was off".into(),
        ));
    }
    // pgvip with the cloud move: the application writes again.
    pgvip::stop_controller(&tb.layout, 2, false)?;
    pgvip::start_controller(&tb.layout, 0, CloudMode::Oci)?;
    let writer = tb.start_writer()?;
    let res = wait_for(
        "writes through the VIP after pgvip moves the IP",
        Duration::from_secs(60),
        || async {
            app::last_server(&writer.attempts())
                .is_some_and(|s| app::is_member(&s, &new.member))
                .then_some(())
        },
    )
    .await;
    writer.stop();
    res
}
