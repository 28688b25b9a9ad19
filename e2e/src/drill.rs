//! Failover drills on the testbed, driven the way a user drives them: `kubectl pgvip drill`.
//!
//! Data flow: [`healthy`] (with the cloud move taking [`MOVE_LATENCY_MS`], as real moves take
//! their time) starts the independent application writer, runs a drill with a write
//! probe (the probe's login comes from [`PROBE_SECRET`], which the chart's RBAC grants by
//! name), and compares the outage the controller measured with the writer's; [`refused`]
//! breaks one candidate (its node-agent stopped) and checks the drill naming it is refused
//! with FailoverReady's reason and nothing moves.

use std::process::Command;
use std::time::Duration;

use kube::Api;
use pgvip_api::drill::DrillPhase;
use pgvip_api::{condition, PostgresVipDrill};

use crate::cluster::wait_for;
use crate::layout::NodeLayout;
use crate::patroni::SUPERUSER_PASSWORD;
use crate::scenario::{condition_of, VIP_NAME};
use crate::sim_fault::{CloudCall, SimFault};
use crate::{app, pgvip, Error, Result, Testbed};

/// Secret holding the drills' probe login (username/password of the testbed's superuser).
pub const PROBE_SECRET: &str = "pgvip-drill-probe";
/// The largest difference allowed between the drill's outage and the independent writer's.
pub const AGREEMENT: Duration = Duration::from_millis(250);

/// What one `kubectl pgvip drill` run left.
pub struct PluginRun {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output (the rendered result).
    pub stdout: String,
    /// Standard error (the `created` line).
    pub stderr: String,
    /// The drill's name, from the `created` line.
    pub name: Option<String>,
}

/// Runs `kubectl-pgvip drill <args>` with the admin kubeconfig (blocking).
pub fn plugin_drill(tb: &Testbed, args: &[&str]) -> Result<PluginRun> {
    let bin = pgvip::binary("kubectl-pgvip")?;
    let out = Command::new(&bin)
        .arg("drill")
        .args(args)
        .args(["-n", &tb.layout.db_namespace])
        .env("KUBECONFIG", tb.layout.path("kubeconfig-admin"))
        .output()
        .map_err(|e| Error::Other(format!("running {}: {e}", bin.display())))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let name = stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix("postgresvipdrill.pgvip.dev/"))
        .map(str::to_string);
    Ok(PluginRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        name,
    })
}

fn fail(msg: String) -> Error {
    Error::Other(msg)
}

/// Applies the probe Secret (idempotent).
pub fn apply_probe_secret(tb: &Testbed) -> Result<()> {
    tb.kubectl_apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {PROBE_SECRET}, namespace: {}}}\nstringData: {{username: postgres, password: {SUPERUSER_PASSWORD}}}\n",
        tb.layout.db_namespace
    ))
    .map(|_| ())
}

/// Waits until the VIP is Ready and FailoverReady has `status`; returns FailoverReady's reason.
pub async fn wait_failover_ready(tb: &Testbed, status: &str, limit: Duration) -> Result<String> {
    wait_for(
        &format!("Ready and FailoverReady={status}"),
        limit,
        || async {
            let v = tb.vip().await.ok()?;
            let ready = condition_of(&v, condition::READY)?.status == "True";
            let fr = condition_of(&v, condition::FAILOVER_READY)?;
            (ready && fr.status == status).then_some(fr.reason)
        },
    )
    .await
}

async fn drill_named(tb: &Testbed, name: &str) -> Result<PostgresVipDrill> {
    let api: Api<PostgresVipDrill> = Api::namespaced(tb.client.clone(), &tb.layout.db_namespace);
    api.get(name)
        .await
        .map_err(|e| fail(format!("getting drill {name}: {e}")))
}

async fn run_plugin(tb: &Testbed, args: Vec<String>) -> Result<PluginRun> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| plugin_drill(tb, &args))
}

/// A drill on a healthy cluster: it passes, moves the primary, and its measured outage agrees
/// with the independent writer's within [`AGREEMENT`]. Returns a line of figures.
pub async fn healthy(tb: &Testbed) -> Result<String> {
    if !tb.layout.cloud.has_cloud() {
        return measured(tb).await;
    }
    // Real moves take a second or more (the new node's agent has long added the address when
    // the cloud switches). At the simulator's default of 0 ms the fabric can switch before the
    // agent has, and a client's SYN sent in that gap waits for TCP's 1 s retransmission: an
    // artifact that hits the drill's probe or the writer at random and would say nothing
    // about the drill's measurement.
    let move_latency = |millis| SimFault::Latency {
        call: CloudCall::Move,
        millis,
    };
    tb.cloud_fault(move_latency(MOVE_LATENCY_MS)).await?;
    let r = measured(tb).await;
    tb.cloud_fault(move_latency(0)).await?;
    r
}

/// Simulated latency of the cloud move during [`healthy`]'s drill.
pub const MOVE_LATENCY_MS: u64 = 500;

async fn measured(tb: &Testbed) -> Result<String> {
    apply_probe_secret(tb)?;
    wait_failover_ready(tb, "True", Duration::from_secs(60)).await?;
    let old = tb.wait_leader(Duration::from_secs(30)).await?;
    let writer = tb.start_writer()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run = run_plugin(
        tb,
        [
            VIP_NAME,
            "--max-outage-seconds",
            "30",
            "--probe-secret",
            PROBE_SECRET,
        ]
        .map(str::to_string)
        .to_vec(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = writer.stop();
    let run = run?;
    if run.code != Some(0) {
        return Err(fail(format!(
            "drill exited {:?}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        )));
    }
    let name = run
        .name
        .ok_or_else(|| fail(format!("no drill name in: {}", run.stderr)))?;
    let d = drill_named(tb, &name).await?;
    let st = d.status.unwrap_or_default();
    let outage = st
        .outage
        .as_ref()
        .ok_or_else(|| fail(format!("drill {name} recorded no outage: {}", st.message)))?;
    if st.phase != DrillPhase::Succeeded || outage.probe != "write" {
        return Err(fail(format!(
            "drill {name}: {:?}, probe {}: {}",
            st.phase, outage.probe, st.message
        )));
    }
    let new = tb.wait_leader(Duration::from_secs(10)).await?;
    let (from, to) = (
        st.from.map(|m| m.member).unwrap_or_default(),
        st.to.map(|m| m.member).unwrap_or_default(),
    );
    if from != old || to != new || new == old {
        return Err(fail(format!(
            "drill {name} says {from} → {to}; the lock went {old} → {new}"
        )));
    }
    if st.phases.is_none() {
        return Err(fail(format!("drill {name} recorded no pgvip phases")));
    }
    let writer_ms = app::outage(&attempts, Duration::ZERO).as_millis() as i64;
    let drill_ms = outage.millis as i64;
    let line = format!(
        "drill {name}: {from} → {to}, outage {drill_ms} ms by the drill's probe, {writer_ms} ms by the independent writer (difference {} ms)",
        drill_ms - writer_ms
    );
    if (drill_ms - writer_ms).unsigned_abs() > AGREEMENT.as_millis() as u64 {
        return Err(fail(format!(
            "{line}: more than {} ms apart; the writer saw: {}; the controller logged: {}",
            AGREEMENT.as_millis(),
            app::timeline(&attempts),
            probe_log(tb)
        )));
    }
    let node = tb.member_node(&new)?.clone();
    tb.check_acked_on(&node, &attempts).await?;
    Ok(line)
}

/// The controller's last "what the probe saw" log line, for failure messages.
fn probe_log(tb: &Testbed) -> String {
    std::fs::read_to_string(tb.layout.path("logs/controller-0.log"))
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| l.contains("what the probe saw"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no probe timeline in logs/controller-0.log".into())
}

/// A drill naming a candidate whose node-agent is stopped is refused with FailoverReady's
/// reason, and the primary stays where it is. Restores the agent.
pub async fn refused(tb: &Testbed) -> Result<()> {
    wait_failover_ready(tb, "True", Duration::from_secs(60)).await?;
    let leader = tb.wait_leader(Duration::from_secs(30)).await?;
    let primary_node = tb.member_node(&leader)?.name.clone();
    let r: NodeLayout = tb
        .layout
        .nodes
        .iter()
        .find(|n| n.name != primary_node)
        .cloned()
        .ok_or_else(|| fail("no replica node".into()))?;
    pgvip::stop_agent(&tb.layout, &r)?;
    let outcome = async {
        let reason = wait_failover_ready(tb, "False", Duration::from_secs(45)).await?;
        let run = run_plugin(
            tb,
            vec![
                VIP_NAME.to_string(),
                "--candidate".into(),
                r.member.clone(),
                "--max-outage-seconds".into(),
                "30".into(),
            ],
        )
        .await?;
        let wanted = ["Refused", "not FailoverReady", reason.as_str()];
        if run.code != Some(1) || !wanted.iter().all(|w| run.stdout.contains(w)) {
            return Err(fail(format!(
                "expected a refusal naming {wanted:?}, exit 1; got {:?}\nstdout:\n{}\nstderr:\n{}",
                run.code, run.stdout, run.stderr
            )));
        }
        let now = tb.wait_leader(Duration::from_secs(5)).await?;
        if now != leader {
            return Err(fail(format!(
                "a refused drill moved the primary: {leader} → {now}"
            )));
        }
        Ok(())
    }
    .await;
    pgvip::start_agent(&tb.layout, &r)?;
    outcome?;
    wait_failover_ready(tb, "True", Duration::from_secs(60))
        .await
        .map(|_| ())
}
