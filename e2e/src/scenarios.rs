//! The failover suite's disturbances, by name, for the end-to-end suite and the chaos soak alike.
//!
//! Each [`Scenario`] has a stable short name, the label its results carry, what it expects
//! ([`Expect`]), a `disturb` step (handed the old leader's node by
//! [`scenario::run_failover`](crate::scenario::run_failover)) and a `recover` step that brings
//! the testbed back to its standard state: every member running and streaming, no node frozen,
//! cut or partitioned, no cloud fault armed, every node-agent running, and exactly controller
//! replica 0 running with the cloud move. After `recover`, any scenario may follow any other;
//! [`restore`] does every recovery at once after a run that went wrong.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde::Serialize;

use crate::{
    cluster::wait_for,
    cmd,
    error::{Error, Result},
    layout::NodeLayout,
    netns,
    pgvip::{self, CloudMode},
    scenario::{self, run_failover, Expect, ScenarioResult},
    sim_fault::{CloudCall, SimFault},
    Testbed,
};

/// Name of the controllers' leader-election Lease (the controller's default).
pub const CONTROLLER_LEASE: &str = "pgvip-controller";

/// One way of disturbing the cluster, as the failover suite runs it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `patronictl switchover` away from the primary.
    Switchover,
    /// SIGKILL to the primary's Patroni and postmaster.
    Kill,
    /// The primary's node lost: its fabric link cut and every process in it frozen.
    NodeLost,
    /// The old primary cut off from the apiserver, its data path intact.
    Partition,
    /// The node-agent on the primary's node stopped and started again (no leader change).
    Agent,
    /// A switchover while the cloud throttles the move twice, answers one lookup with 503 and
    /// takes 3 s to move.
    CloudFaults,
    /// The controller SIGKILLed mid-move, before the cloud call returns, and restarted.
    CrashBeforeCloud,
    /// The controller SIGKILLed after the cloud moved the IP, before the status write.
    CrashAfterCloud,
    /// A second controller replica started, then the leader killed during a switchover.
    TwoControllers,
    /// Every node-agent cut off from the apiserver for 30 s (longer than their hold), while
    /// Patroni keeps its DCS: the VIP must stay where it is, on that node alone.
    AgentsCut,
}

impl Scenario {
    /// Every scenario, in the failover suite's order.
    pub const ALL: [Scenario; 10] = [
        Scenario::Switchover,
        Scenario::Kill,
        Scenario::NodeLost,
        Scenario::Partition,
        Scenario::Agent,
        Scenario::CloudFaults,
        Scenario::CrashBeforeCloud,
        Scenario::CrashAfterCloud,
        Scenario::TwoControllers,
        Scenario::AgentsCut,
    ];

    /// The stable short name (as on the command line and in results files).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Switchover => "switchover",
            Scenario::Kill => "kill",
            Scenario::NodeLost => "node-lost",
            Scenario::Partition => "partition",
            Scenario::Agent => "agent",
            Scenario::CloudFaults => "cloud-faults",
            Scenario::CrashBeforeCloud => "crash-before-cloud",
            Scenario::CrashAfterCloud => "crash-after-cloud",
            Scenario::TwoControllers => "two-controllers",
            Scenario::AgentsCut => "agents-cut",
        }
    }

    /// The scenario's label in results (the name [`run_failover`] records).
    pub fn label(self) -> &'static str {
        match self {
            Scenario::Switchover => "planned switchover",
            Scenario::Kill => "primary killed",
            Scenario::NodeLost => "primary node lost",
            Scenario::Partition => "old primary partitioned from the apiserver",
            Scenario::Agent => "node-agent restarted on the primary",
            Scenario::CloudFaults => "switchover under cloud throttling, 503 and 3 s moves",
            Scenario::CrashBeforeCloud => {
                "controller killed mid-move, before the cloud call returns"
            }
            Scenario::CrashAfterCloud => {
                "controller killed mid-move, after the cloud call, before the status write"
            }
            Scenario::TwoControllers => "controller leader killed during failover",
            Scenario::AgentsCut => "every agent cut off from the apiserver for 30 s",
        }
    }

    /// Whether the scenario disturbs the cloud's control plane (it cannot run on L2).
    pub fn needs_cloud(self) -> bool {
        matches!(
            self,
            Scenario::CloudFaults | Scenario::CrashBeforeCloud | Scenario::CrashAfterCloud
        )
    }

    /// What the scenario expects of the leader.
    pub fn expect(self) -> Expect {
        match self {
            Scenario::NodeLost => Expect::NewLeaderOldNodeLost,
            Scenario::Agent | Scenario::AgentsCut => Expect::SameLeader,
            _ => Expect::NewLeader,
        }
    }

    /// Disturbs the cluster whose leader runs on `old`.
    pub async fn disturb(self, tb: &Testbed, old: &NodeLayout) -> Result<()> {
        match self {
            Scenario::Switchover => switchover(tb, &old.member),
            Scenario::Kill => {
                tb.kill_member(old);
                Ok(())
            }
            Scenario::NodeLost => {
                netns::set_fabric_port(&tb.layout, &old.fabric_port, false)?;
                tb.freeze_node(old, true)
            }
            Scenario::Partition => tb.partition_from_api(old, true),
            Scenario::Agent => {
                pgvip::stop_agent(&tb.layout, old)?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                pgvip::start_agent(&tb.layout, old).map(|_| ())
            }
            Scenario::CloudFaults => {
                tb.cloud_fault(SimFault::Throttle {
                    call: CloudCall::Move,
                    count: 2,
                })
                .await?;
                tb.cloud_fault(SimFault::Unavailable {
                    call: CloudCall::Lookup,
                    count: 1,
                })
                .await?;
                tb.cloud_fault(SimFault::Latency {
                    call: CloudCall::Move,
                    millis: 3000,
                })
                .await?;
                switchover(tb, &old.member)
            }
            Scenario::CrashBeforeCloud => {
                crash_mid_move(tb, &old.member, Window::BeforeCloud).await
            }
            Scenario::CrashAfterCloud => crash_mid_move(tb, &old.member, Window::AfterCloud).await,
            Scenario::TwoControllers => {
                pgvip::start_controller(&tb.layout, 1, CloudMode::Cloud)?;
                tokio::time::sleep(Duration::from_secs(3)).await;
                switchover(tb, &old.member)?;
                pgvip::stop_controller(&tb.layout, 0, true)
            }
            Scenario::AgentsCut => agents_cut(tb, old, AGENTS_CUT).await,
        }
    }

    /// Undoes what the scenario's disturbance left (also after it failed halfway) and waits
    /// until the testbed is back in its standard state.
    pub async fn recover(self, tb: &Testbed) -> Result<()> {
        match self {
            Scenario::Switchover => Ok(()),
            Scenario::Kill => rejoin_all(tb).await,
            Scenario::NodeLost => thaw_all(tb).await,
            Scenario::Partition => heal_all(tb).await,
            Scenario::Agent => start_missing_agents(tb),
            Scenario::CloudFaults => tb.cloud_fault(SimFault::Clear).await,
            Scenario::CrashBeforeCloud | Scenario::CrashAfterCloud => {
                tb.cloud_fault(SimFault::Clear).await?;
                standard_controllers(tb).await
            }
            Scenario::TwoControllers => standard_controllers(tb).await,
            Scenario::AgentsCut => {
                for n in &tb.layout.nodes {
                    let _ = tb.cut_agent_from_api(n, false);
                }
                Ok(())
            }
        }
    }

    /// One measured run: [`run_failover`] with this scenario's label, expectation and
    /// disturbance (without its recovery).
    pub async fn run(self, tb: &Testbed) -> Result<ScenarioResult> {
        run_failover(tb, self.label(), self.expect(), async |tb, old| {
            self.disturb(tb, old).await
        })
        .await
    }
}

/// Starts pgvip as the suites run it (a node-agent per node, controller replica 0 with the
/// cloud move), applies the PostgresVip, and waits until it is Ready on the leader's node.
pub async fn start_pgvip(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        pgvip::start_agent(&tb.layout, n)?;
    }
    pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    tb.kubectl_apply(&scenario::vip_manifest(tb, tb.use_endpoints))?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let node = tb.member_node(&leader)?.name.clone();
    tb.wait_vip_ready_on(&node, Duration::from_secs(60))
        .await
        .map(|_| ())
}

/// How long [`Scenario::AgentsCut`] keeps the agents from the apiserver (the 30 s,
/// longer than the testbed agents' 20 s hold).
pub const AGENTS_CUT: Duration = Duration::from_secs(30);

/// Cuts every agent off from the apiserver for `how_long` and checks every 500 ms that the VIP
/// stays on `holder` alone (the local member vouches for it past the hold); then heals.
async fn agents_cut(tb: &Testbed, holder: &NodeLayout, how_long: Duration) -> Result<()> {
    for n in &tb.layout.nodes {
        tb.cut_agent_from_api(n, true)?;
    }
    let started = std::time::Instant::now();
    let mut wrong = None;
    while started.elapsed() < how_long && wrong.is_none() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = tb.nodes_with_vip()?;
        if now != vec![holder.name.clone()] {
            wrong = Some(format!(
                "{} ms into the cut the VIP is on {now:?}, expected {} alone",
                started.elapsed().as_millis(),
                holder.name
            ));
        }
    }
    for n in &tb.layout.nodes {
        tb.cut_agent_from_api(n, false)?;
    }
    if let Some(w) = wrong {
        return Err(Error::Other(w));
    }
    // Back in contact once every agent has renewed its heartbeat (every 10 s).
    wait_for(
        "every node-agent's heartbeat renewed",
        Duration::from_secs(30),
        || async { tb.silent_agents().await.ok()?.is_empty().then_some(()) },
    )
    .await
}

/// `patronictl switchover` away from member `from`.
pub fn switchover(tb: &Testbed, from: &str) -> Result<()> {
    tb.patronictl(&["switchover", "--force", "--primary", from])
        .map(|_| ())
}

/// Where in a move the controller is killed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Window {
    /// The decision is published; the move call is held 4 s by the simulator.
    BeforeCloud,
    /// The cloud has moved the IP; pgvip learns of it 4 s later, so status is not written yet.
    AfterCloud,
}

/// Switches over, kills the only controller (SIGKILL) inside `window`, and restarts it (a
/// container restart: same identity, so it renews its Lease at once). The restarted controller
/// must finish the move from whatever state the crash left, idempotently.
async fn crash_mid_move(tb: &Testbed, from: &str, window: Window) -> Result<()> {
    let fault = match window {
        Window::BeforeCloud => SimFault::Latency {
            call: CloudCall::Move,
            millis: 4000,
        },
        Window::AfterCloud => SimFault::MovedUnseen { millis: 4000 },
    };
    tb.cloud_fault(fault).await?;
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
    tb.cloud_fault(SimFault::Clear).await?;
    pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud).map(|_| ())
}

/// Starts every member whose Patroni is not running; waits for a healthy cluster.
pub async fn rejoin_all(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        if !cmd::alive(&tb.layout.path(&format!("patroni-{}.pid", n.member))) {
            tb.start_member(n)?;
        }
    }
    tb.wait_healthy(Duration::from_secs(120)).await
}

/// Brings lost nodes back; the returning node's agent must drop its stale copy of the address.
pub async fn thaw_all(tb: &Testbed) -> Result<()> {
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

/// Lifts every apiserver partition; waits for a healthy cluster.
pub async fn heal_all(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        let _ = tb.partition_from_api(n, false);
    }
    tb.wait_healthy(Duration::from_secs(120)).await
}

/// The pid file `pgvip::start_agent` writes for `node`'s agent.
fn agent_pidfile(tb: &Testbed, node: &NodeLayout) -> std::path::PathBuf {
    tb.layout.path(&format!("agent-{}.pid", node.name))
}

/// The pid file `pgvip::start_controller` writes for replica `id`.
fn controller_pidfile(tb: &Testbed, id: u32) -> std::path::PathBuf {
    tb.layout.path(&format!("controller-{id}.pid"))
}

/// Starts the node-agent of every node where none runs.
pub fn start_missing_agents(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        if !cmd::alive(&agent_pidfile(tb, n)) {
            pgvip::start_agent(&tb.layout, n)?;
        }
    }
    Ok(())
}

/// The standard controller set-up: replicas 1 and 2 stopped (SIGTERM: they release the Lease),
/// replica 0 running with the cloud move and holding the Lease.
pub async fn standard_controllers(tb: &Testbed) -> Result<()> {
    pgvip::stop_controller(&tb.layout, 1, false)?;
    pgvip::stop_controller(&tb.layout, 2, false)?;
    if !cmd::alive(&controller_pidfile(tb, 0)) {
        pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    }
    let leases: Api<Lease> = Api::namespaced(tb.client.clone(), &tb.layout.system_namespace);
    // A standby waits a full lease duration (15 s) after a holder that died without releasing.
    wait_for(
        "controller replica 0 to hold the leader-election Lease",
        Duration::from_secs(60),
        || async {
            let lease = leases.get_opt(CONTROLLER_LEASE).await.ok().flatten()?;
            (lease.spec?.holder_identity.as_deref() == Some("pgvip-controller-0")).then_some(())
        },
    )
    .await
}

/// Every recovery at once, for a run that went wrong anywhere: thaws and reconnects every node,
/// lifts partitions, clears cloud faults, restarts missing agents and members, restores the
/// standard controllers, then waits for a healthy cluster and the PostgresVip Ready on the
/// leader's node, held by that node alone. Carries on past failed steps; reports them all.
pub async fn restore(tb: &Testbed) -> Result<()> {
    let mut errors = vec![];
    let mut note = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            errors.push(format!("{what}: {e}"));
        }
    };
    for n in &tb.layout.nodes {
        note("thawing", tb.freeze_node(n, false));
        note(
            "reconnecting",
            netns::set_fabric_port(&tb.layout, &n.fabric_port, true),
        );
        // Fails when there is no partition table, which is the normal case.
        let _ = tb.partition_from_api(n, false);
        let _ = tb.cut_agent_from_api(n, false);
    }
    // Likewise for the L2 negative control's block of announcements.
    let _ = netns::block_announcements(&tb.layout, &tb.layout.vip, false);
    let _ = netns::block_announcements(&tb.layout, &tb.layout.vip6, false);
    note(
        "clearing cloud faults",
        tb.cloud_fault(SimFault::Clear).await,
    );
    note("starting agents", start_missing_agents(tb));
    for n in &tb.layout.nodes {
        if !cmd::alive(&tb.layout.path(&format!("patroni-{}.pid", n.member))) {
            note("starting a member", tb.start_member(n));
        }
    }
    note("controllers", standard_controllers(tb).await);
    note(
        "healthy cluster",
        tb.wait_healthy(Duration::from_secs(180)).await,
    );
    let settled = async {
        let leader = tb.wait_leader(Duration::from_secs(60)).await?;
        let node = tb.member_node(&leader)?.name.clone();
        tb.wait_vip_ready_on(&node, Duration::from_secs(90)).await?;
        wait_for(
            "the leader's node alone to hold the address",
            Duration::from_secs(60),
            || async { (tb.nodes_with_vip().ok()? == vec![node.clone()]).then_some(()) },
        )
        .await
    };
    note("PostgresVip settled", settled.await);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_are_stable_unique_and_match_the_command_line() {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "switchover",
                "kill",
                "node-lost",
                "partition",
                "agent",
                "cloud-faults",
                "crash-before-cloud",
                "crash-after-cloud",
                "two-controllers",
                "agents-cut"
            ]
        );
        for s in Scenario::ALL {
            let pv = s.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(pv.as_deref(), Some(s.name()));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.name()))
            );
        }
        assert_eq!(Scenario::value_variants().len(), Scenario::ALL.len());
    }

    #[test]
    fn expectations() {
        assert_eq!(Scenario::NodeLost.expect(), Expect::NewLeaderOldNodeLost);
        assert_eq!(Scenario::Agent.expect(), Expect::SameLeader);
        assert_eq!(Scenario::TwoControllers.expect(), Expect::NewLeader);
    }
}
