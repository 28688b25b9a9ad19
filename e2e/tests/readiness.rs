//! Failover readiness on the testbed: with a healthy primary, pgvip must find what would break
//! the next failover (a principal that may not move the IP, a node without a VNIC (ENI) in the VIP's
//! subnet, a stopped node-agent, an unreachable Patroni REST port) and say so in
//! `FailoverReady`, while `Ready` (the current primary) stays true; fixing each turns it back.
//! Failover drills run last: one refused for a broken candidate, one measured on a healthy
//! cluster against the independent writer.
use std::{process::ExitCode, time::Duration};

use pgvip_api::{condition, Condition};
use pgvip_cloudsim::{inventory::Permissions, FaultCommand};
use pgvip_e2e::{
    cloud::CONTROLLER_USER,
    cluster::wait_for,
    drill,
    layout::{CloudFlavour, NodeLayout},
    pgvip::{self, CloudMode},
    scenario, Error, Result, Testbed,
};

mod common;
use common::Suite;

/// Seconds between checks in this suite (the default is 300).
const INTERVAL: &str = "3";
/// Seconds between data-path checks in this suite (the default is 10).
const DATA_PATH_INTERVAL: u64 = 3;

fn main() -> ExitCode {
    Suite::run(
        "readiness",
        |tb: &Testbed, s: &mut Suite| {
            let rt = tokio::runtime::Handle::current();
            let mut replica: Option<NodeLayout> = None;
            s.check(
                "pgvip starts; FailoverReady=True once every candidate is checked",
                || {
                    replica = Some(rt.block_on(start(tb))?);
                    Ok(())
                },
            );
            let Some(replica) = replica else { return };
            let r = &replica;
            // What each flavour can prove in advance: OCI the move permission (EC2 has no
            // DryRun for AssignPrivateIpAddresses), a cloud the interface in the subnet.
            let cloud = tb.layout.cloud;
            let mut reasons: Vec<(&str, &str)> = vec![];
            if cloud == CloudFlavour::Oci {
                reasons.push(("CloudPermissionMissing", "use private-ips"));
                s.check(
                    "a principal without update permission: CloudPermissionMissing",
                    || {
                        rt.block_on(break_and_fix(
                            tb,
                            "CloudPermissionMissing",
                            "use private-ips",
                            async || {
                                tb.oci_fault(&FaultCommand::Permissions {
                                    principal: CONTROLLER_USER.into(),
                                    permissions: Permissions {
                                        read: true,
                                        update: false,
                                    },
                                })
                                .await
                            },
                            async || tb.oci_fault(&FaultCommand::Clear).await,
                        ))
                    },
                );
            } else if cloud.has_cloud() {
                println!(
                    "note: the move permission is not provable in advance on {}: skipped",
                    cloud.key()
                );
            } else {
                println!(
                    "note: no cloud on {}: the permission and interface checks do not apply",
                    cloud.key()
                );
            }
            if cloud.has_cloud() {
                reasons.push(("NoVnicInSubnet", r.name.as_str()));
                s.check(
                    "a replica's instance without an interface in the subnet: NoVnicInSubnet",
                    || {
                        rt.block_on(break_and_fix(
                            tb,
                            "NoVnicInSubnet",
                            &r.name,
                            async || tb.detach_interface(r, true).await,
                            async || tb.detach_interface(r, false).await,
                        ))
                    },
                );
            }
            reasons.push(("AgentNotRunning", r.name.as_str()));
            reasons.push(("RestApiUnreachable", r.member.as_str()));
            s.check(
                "the node-agent stopped on a replica's node: AgentNotRunning",
                || {
                    rt.block_on(break_and_fix(
                        tb,
                        "AgentNotRunning",
                        &r.name,
                        async || pgvip::stop_agent(&tb.layout, r),
                        async || pgvip::start_agent(&tb.layout, r).map(|_| ()),
                    ))
                },
            );
            s.check(
                "a replica's Patroni REST port unreachable: RestApiUnreachable",
                || {
                    rt.block_on(break_and_fix(
                        tb,
                        "RestApiUnreachable",
                        &r.member,
                        async || block_rest(tb, r, true),
                        async || block_rest(tb, r, false),
                    ))
                },
            );
            s.check(
                "each problem was published as a Warning Event named by its reason",
                || {
                    let out = tb.kubectl(&[
                        "get",
                        "events.events.k8s.io",
                        "-n",
                        &tb.layout.db_namespace,
                        "--field-selector",
                        "type=Warning",
                        "-o",
                        "jsonpath={range .items[*]}{.reason}{\"\\t\"}{.note}{\"\\n\"}{end}",
                    ])?;
                    for &(reason, needle) in &reasons {
                        let found = out
                            .lines()
                            .any(|l| l.starts_with(&format!("{reason}\t")) && l.contains(needle));
                        if !found {
                            return Err(Error::Other(format!(
                                "no {reason} Event naming {needle}: {out}"
                            )));
                        }
                    }
                    Ok(())
                },
            );
            s.check(
                "the fabric stops delivering the VIP to its holder: DataPathVerified=False within two periods, True once it delivers again",
                || rt.block_on(data_path_lost(tb)),
            );
            s.check(
                "PostgreSQL unreachable through the VIP while Patroni answers: DataPathVerified=False within two periods, True once it answers again",
                || rt.block_on(postgres_lost(tb)),
            );
            s.check(
                "a new leader the controller cannot confirm gets no address until confirmed",
                || rt.block_on(holds_back_until_confirmed(tb)),
            );
            s.check(
                "a drill naming a candidate whose node-agent is stopped is refused with the reason; nothing moves",
                || rt.block_on(drill::refused(tb)),
            );
            s.check(
                "a drill on a healthy cluster passes; its outage agrees with the independent writer within 250 ms",
                || {
                    let line = rt.block_on(drill::healthy(tb))?;
                    println!("{line}");
                    Ok(())
                },
            );
        },
        common::options_from_env(),
    )
}

fn cond(vip: &pgvip_api::PostgresVip, type_: &str) -> Option<Condition> {
    vip.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// Starts pgvip, waits for Ready and FailoverReady; returns a replica's node.
async fn start(tb: &Testbed) -> Result<NodeLayout> {
    for n in &tb.layout.nodes {
        pgvip::start_agent(&tb.layout, n)?;
    }
    pgvip::start_controller_with(
        &tb.layout,
        0,
        CloudMode::Cloud,
        &[
            "--readiness-interval-seconds",
            INTERVAL,
            "--data-path-interval-seconds",
            &DATA_PATH_INTERVAL.to_string(),
        ],
    )?;
    tb.kubectl_apply(&scenario::vip_manifest(tb, common::use_endpoints()))?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let primary = tb.member_node(&leader)?.clone();
    tb.wait_vip_ready_on(&primary.name, Duration::from_secs(60))
        .await?;
    wait_readiness(tb, "True", "AllCandidatesReady", "").await?;
    tb.layout
        .nodes
        .iter()
        .find(|n| n.name != primary.name)
        .cloned()
        .ok_or_else(|| Error::Other("no replica node".into()))
}

/// Waits until FailoverReady has `status`/`reason` and its message contains `needle`, checking
/// that Ready stays True all along.
async fn wait_readiness(tb: &Testbed, status: &str, reason: &str, needle: &str) -> Result<()> {
    let last = std::sync::Mutex::new(String::new());
    let last = &last;
    let res = wait_for(
        &format!("FailoverReady={status}/{reason}"),
        Duration::from_secs(45),
        || async {
            let vip = tb.vip().await.ok()?;
            let ready = cond(&vip, condition::READY).map(|c| c.status);
            let fr = cond(&vip, condition::FAILOVER_READY)?;
            let now = format!(
                "Ready={ready:?} FailoverReady={}/{}: {}",
                fr.status, fr.reason, fr.message
            );
            *last.lock().unwrap() = now.clone();
            if ready.as_deref() != Some("True") {
                return Some(Err(Error::Other(format!("Ready left True: {now}"))));
            }
            (fr.status == status && fr.reason == reason && fr.message.contains(needle))
                .then_some(Ok(()))
        },
    )
    .await;
    match res {
        Ok(r) => r,
        Err(e) => Err(Error::Other(format!(
            "{e}; last seen: {}",
            last.lock().unwrap()
        ))),
    }
}

/// Breaks something, expects `reason` naming `needle`, fixes it, expects True again.
async fn break_and_fix(
    tb: &Testbed,
    reason: &str,
    needle: &str,
    breaks: impl AsyncFnOnce() -> Result<()>,
    fixes: impl AsyncFnOnce() -> Result<()>,
) -> Result<()> {
    breaks().await?;
    let seen = wait_readiness(tb, "False", reason, needle).await;
    fixes().await?;
    seen?;
    wait_readiness(tb, "True", "AllCandidatesReady", "").await
}

/// Switches over while the controller cannot reach the replicas' REST APIs: the lock names
/// the new leader, but pgvip must neither configure nor move the address there (fail closed)
/// until `GET /primary` confirms it; then it completes the failover.
async fn holds_back_until_confirmed(tb: &Testbed) -> Result<()> {
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let replicas: Vec<NodeLayout> = tb
        .layout
        .nodes
        .iter()
        .filter(|n| n.member != leader)
        .cloned()
        .collect();
    for n in &replicas {
        block_rest(tb, n, true)?;
    }
    let res = async {
        tb.patronictl(&["switchover", "--force", "--primary", &leader])?;
        let new = wait_for(
            "a new leader in the lock",
            Duration::from_secs(60),
            || async {
                tb.wait_leader(Duration::from_millis(500))
                    .await
                    .ok()
                    .filter(|l| *l != leader)
            },
        )
        .await?;
        let target = tb.member_node(&new)?.clone();
        let until = std::time::Instant::now() + Duration::from_secs(8);
        let mut seen_unconfirmed = false;
        while std::time::Instant::now() < until {
            let vip = tb.vip().await?;
            let st = vip.status.clone().unwrap_or_default();
            if st.desired_node.as_deref() == Some(target.name.as_str())
                || tb.nodes_with_vip()?.contains(&target.name)
                || tb.cloud_assignment().await?.as_deref() == Some(target.vnic_id.as_str())
            {
                return Err(Error::Other(format!(
                    "the address went to {} before its leader was confirmed: {st:?}",
                    target.name
                )));
            }
            seen_unconfirmed |= cond(&vip, condition::LEADER_CONFIRMED)
                .is_some_and(|c| c.status != "True" && c.reason == "RestApiUnreachable");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if !seen_unconfirmed {
            return Err(Error::Other(
                "LeaderConfirmed never said RestApiUnreachable while the REST port was blocked"
                    .into(),
            ));
        }
        Ok(target)
    }
    .await;
    for n in &replicas {
        block_rest(tb, n, false)?;
    }
    let target = res?;
    tb.wait_vip_ready_on(&target.name, Duration::from_secs(60))
        .await
        .map(|_| ())
}

/// `DataPathVerified`'s (status, reason) now.
async fn data_path_state(tb: &Testbed) -> Option<(String, String)> {
    let vip = tb.vip().await.ok()?;
    let c = cond(&vip, condition::DATA_PATH_VERIFIED)?;
    Some((c.status, c.reason))
}

/// Breaks the fabric's route to the VIP's holder (nothing else changes) and back: the
/// continuous data-path check must notice within two of its periods and recover after.
async fn data_path_lost(tb: &Testbed) -> Result<()> {
    let rule = format!(
        "type filter hook forward priority 0;\n    ip daddr {} drop",
        tb.layout.vip
    );
    data_path_broken(tb, "the route broke", "", |on| {
        pgvip_e2e::netns::nft_table(
            &tb.layout.fabric_netns,
            "bridge",
            "pgvip_path_block",
            on.then_some(rule.as_str()),
        )
    })
    .await
}

/// Drops PostgreSQL's port through the VIP on the holder while Patroni's REST API still
/// answers there: the check's SSLRequest (spec.dataPath.postgresPort) must catch it.
async fn postgres_lost(tb: &Testbed) -> Result<()> {
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let holder = tb.member_node(&leader)?.clone();
    let rule = format!(
        "type filter hook input priority 0;\n    ip saddr {} ip daddr {} tcp dport 5432 drop",
        tb.layout.controller_host.ip, tb.layout.vip
    );
    data_path_broken(tb, "PostgreSQL's port was blocked", "PostgreSQL", |on| {
        pgvip_e2e::testbed::filter_table(&holder, "pgvip_pg_block", on.then_some(rule.as_str()))
    })
    .await
}

/// Breaks something with `block(true)`: DataPathVerified must turn False (reason
/// VerificationFailed, message containing `needle`) within two periods, and True again after
/// `block(false)`.
async fn data_path_broken(
    tb: &Testbed,
    what: &str,
    needle: &str,
    block: impl Fn(bool) -> Result<()>,
) -> Result<()> {
    wait_for("DataPathVerified=True", Duration::from_secs(30), || async {
        (data_path_state(tb).await?.0 == "True").then_some(())
    })
    .await?;
    block(true)?;
    let broke = std::time::Instant::now();
    let bound = Duration::from_secs(2 * DATA_PATH_INTERVAL + 5);
    let seen = wait_for(
        "DataPathVerified=False/VerificationFailed",
        bound,
        || async {
            let vip = tb.vip().await.ok()?;
            let c = cond(&vip, condition::DATA_PATH_VERIFIED)?;
            (c.status == "False" && c.reason == "VerificationFailed" && c.message.contains(needle))
                .then_some(())
        },
    )
    .await;
    let took = broke.elapsed();
    block(false)?;
    seen?;
    println!(
        "note: DataPathVerified turned False {} ms after {what} (period {DATA_PATH_INTERVAL} s)",
        took.as_millis()
    );
    wait_for(
        "DataPathVerified=True again",
        Duration::from_secs(30),
        || async { (data_path_state(tb).await?.0 == "True").then_some(()) },
    )
    .await
}

/// Drops the controller host's packets to the member's REST port (8008) on `node`.
fn block_rest(tb: &Testbed, node: &NodeLayout, block: bool) -> Result<()> {
    let rule = format!(
        "type filter hook input priority 0;\n    ip saddr {} tcp dport 8008 drop",
        tb.layout.controller_host.ip
    );
    pgvip_e2e::testbed::filter_table(node, "pgvip_rest_block", block.then_some(rule.as_str()))
}
