//! Failover drills (`PostgresVipDrill`): a rehearsed switchover whose app-visible outage is
//! measured through the VIP and judged against the user's objective.
//!
//! Data flow: while this replica leads, [`run`] watches drills; a Pending drill is admitted
//! ([`admit`]: the VIP Ready and FailoverReady, no failover or other drill under way, a
//! healthy candidate from Patroni's `GET /cluster`), its probe ([`probe`]) starts and must get
//! through the VIP before anything changes, the status turns Running, Patroni is asked for the
//! switchover ([`patroni_api`]), and the probe's log ([`measure`]) gives the outage once writes
//! have resumed on the new primary and the PostgresVip follows it. The result ([`report`]) is
//! written once, with an Event on the drill and on the VIP and a metric. A drill found Running
//! that this process is not running was cut short by a restart or a leader change: it is
//! recorded as Interrupted, never run twice.

pub mod admit;
pub mod measure;
pub mod patroni_api;
pub mod probe;
pub mod report;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::{watcher, Controller};
use kube::ResourceExt;
use pgvip_api::drill::{DrillMember, DrillPhase};
use pgvip_api::{PostgresVip, PostgresVipDrill, PostgresVipDrillStatus};
use tracing::{info, warn};

use crate::context::{now_rfc3339, publish, publish_on, Shared};
use crate::drill::admit::{Refusal, VipFacts};
use crate::drill::patroni_api::{Auth, Switchover};
use crate::drill::probe::{AppProbe, Log};
use crate::drill::report::{Ending, Measured};
use crate::gather::{endpoint_of, load_ca, secret_data, secret_key, secret_values};
use crate::watch::key;
use crate::{Error, Result};

/// Successes in a row that prove the probe gets through: before the switchover, and on the
/// new primary after it.
const STEADY: usize = 5;
/// How long the probe may take to get through before the drill is refused.
const BASELINE: Duration = Duration::from_secs(5);
/// How long to wait for the PostgresVip to record the failover after writes resumed.
const RECORD_WAIT: Duration = Duration::from_secs(10);
/// Timeout of Patroni's `GET /cluster`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of `POST /switchover` (Patroni answers within about `max(10 s, loop_wait)`).
const SWITCHOVER_TIMEOUT: Duration = Duration::from_secs(40);

/// The drills this process is running, by PostgresVip key.
#[derive(Default)]
pub struct Running(Mutex<HashMap<String, String>>);

impl Running {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The drill running for `vip`, if any.
    pub fn of(&self, vip: &str) -> Option<String> {
        self.map().get(vip).cloned()
    }

    /// Claims `vip` for `drill`; released when the guard drops.
    fn claim<'a>(&'a self, vip: &str, drill: &str) -> Result<Claim<'a>, String> {
        let mut m = self.map();
        match m.get(vip) {
            Some(other) if other != drill => Err(other.clone()),
            _ => {
                m.insert(vip.to_string(), drill.to_string());
                Ok(Claim {
                    running: self,
                    vip: vip.to_string(),
                })
            }
        }
    }
}

/// A drill's hold on its VIP.
struct Claim<'a> {
    running: &'a Running,
    vip: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.running.map().remove(&self.vip);
    }
}

/// What drill reconciles see.
struct Ctx {
    shared: Arc<Shared>,
    running: Running,
}

/// Runs the drill controller for namespace `ns` (`None`: all) until dropped.
pub async fn run(client: kube::Client, ns: Option<String>, shared: Arc<Shared>) {
    let api: Api<PostgresVipDrill> = match ns.as_deref() {
        Some(n) => Api::namespaced(client, n),
        None => Api::all(client),
    };
    let ctx = Arc::new(Ctx {
        shared,
        running: Running::default(),
    });
    Controller::new(api, watcher::Config::default().any_semantic())
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "drill controller error");
            }
        })
        .await;
}

fn error_policy(drill: Arc<PostgresVipDrill>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.shared.metrics.reconcile_error(err.category());
    warn!(drill = %drill.name_any(), error = %err, "drill reconcile failed; retrying in 5 s");
    Action::requeue(Duration::from_secs(5))
}

/// One drill, identified.
struct Target {
    api: Api<PostgresVipDrill>,
    ns: String,
    name: String,
    vip_key: String,
    generation: Option<i64>,
}

async fn reconcile(drill: Arc<PostgresVipDrill>, ctx: Arc<Ctx>) -> Result<Action> {
    let st = drill.status.clone().unwrap_or_default();
    if st.phase.is_final() {
        return Ok(Action::await_change());
    }
    let ns = drill.namespace().unwrap_or_default();
    let t = Target {
        api: Api::namespaced(ctx.shared.client.clone(), &ns),
        name: drill.name_any(),
        vip_key: key(&ns, &drill.spec.vip_name),
        generation: drill.metadata.generation,
        ns,
    };
    if st.phase == DrillPhase::Running {
        // Reconciles of one object never overlap, so a Running drill seen here is not ours.
        let (next, result) = report::finished(
            st,
            &Ending::Interrupted,
            Measured::default(),
            objective(&drill),
            t.generation,
            &now_rfc3339(),
        );
        conclude(&ctx.shared, &t, &drill, next, result, None).await?;
        return Ok(Action::await_change());
    }
    let plan = match prepare(&drill, &ctx, &t).await {
        Ok(p) => p,
        Err(r) => {
            info!(drill = %t.name, vip = %t.vip_key, reason = r.reason(), message = r.message(), "drill refused");
            let next = report::refused(st, r.reason(), r.message(), t.generation, &now_rfc3339());
            conclude(&ctx.shared, &t, &drill, next, "refused", None).await?;
            return Ok(Action::await_change());
        }
    };
    let Ok(_claim) = ctx.running.claim(&t.vip_key, &t.name) else {
        let r = Refusal::FailoverInProgress(format!(
            "another drill of PostgresVip {} is running",
            t.vip_key
        ));
        let next = report::refused(st, r.reason(), r.message(), t.generation, &now_rfc3339());
        conclude(&ctx.shared, &t, &drill, next, "refused", None).await?;
        return Ok(Action::await_change());
    };
    execute(&ctx.shared, &t, &drill, st, plan).await?;
    Ok(Action::await_change())
}

fn objective(drill: &PostgresVipDrill) -> Duration {
    Duration::from_secs_f64(drill.spec.max_outage_seconds.clamp(0.0, 3600.0))
}

/// Everything a drill needs once admitted.
struct Plan {
    vip: PostgresVip,
    from: DrillMember,
    to: DrillMember,
    rest: reqwest::Client,
    base: String,
    auth: Option<Auth>,
    probe: AppProbe,
}

fn refuse_ask(e: String) -> Refusal {
    Refusal::CannotAsk(e)
}

async fn prepare(drill: &PostgresVipDrill, ctx: &Ctx, t: &Target) -> Result<Plan, Refusal> {
    let sh = &ctx.shared;
    let vips: Api<PostgresVip> = Api::namespaced(sh.client.clone(), &t.ns);
    let vip = vips
        .get_opt(&drill.spec.vip_name)
        .await
        .map_err(|e| refuse_ask(format!("reading PostgresVip {}: {e}", t.vip_key)))?
        .ok_or_else(|| {
            Refusal::VipNotFound(format!(
                "PostgresVip {} does not exist (spec.vipName)",
                t.vip_key
            ))
        })?;
    let facts = VipFacts::of(&vip, sh.failovers.get(&t.vip_key).is_some());
    let other = ctx.running.of(&t.vip_key).filter(|d| *d != t.name);
    let leader = admit::admit(&facts, &t.vip_key, other.as_deref())?;

    let (scheme, port, ca) = endpoint_of(&vip.spec);
    let ca_pem = match &ca {
        Some(c) => Some(load_ca(&sh.client, &t.ns, c).await.map_err(refuse_ask)?),
        None => None,
    };
    let rest = sh.prober.client(ca_pem.as_deref()).map_err(refuse_ask)?;
    let leader_ip: IpAddr = leader.pod_ip.parse().map_err(|_| {
        refuse_ask(format!(
            "the leader's pod IP {:?} is not an address",
            leader.pod_ip
        ))
    })?;
    let base = crate::probe::url(scheme, leader_ip, port, "");
    let auth = match &drill.spec.patroni_auth_secret_name {
        Some(name) => {
            let v = secret_values(
                &sh.client,
                &t.ns,
                name,
                &["username", "password"],
                "spec.patroniAuthSecretName",
            )
            .await
            .map_err(refuse_ask)?;
            Some(Auth {
                username: String::from_utf8_lossy(&v[0]).into_owned(),
                password: String::from_utf8_lossy(&v[1]).into_owned(),
            })
        }
        None => None,
    };
    let members = patroni_api::cluster(&rest, &base, auth.as_ref(), CLUSTER_TIMEOUT)
        .await
        .map_err(refuse_ask)?;
    let sync = patroni_api::synchronous_mode(&rest, &base, auth.as_ref(), CLUSTER_TIMEOUT)
        .await
        .map_err(refuse_ask)?;
    let candidate =
        admit::pick_candidate(&members, &leader.pod, drill.spec.candidate.as_deref(), sync)?;
    let pods: Api<Pod> = Api::namespaced(sh.client.clone(), &t.ns);
    let candidate_node = pods
        .get_opt(&candidate)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.spec.and_then(|s| s.node_name));

    let vip_ip: IpAddr = vip
        .spec
        .address
        .parse()
        .map_err(|_| refuse_ask(format!("spec.address {:?} of the VIP", vip.spec.address)))?;
    let probe = match &drill.spec.probe {
        Some(p) => {
            let field = "spec.probe.secretName";
            let data = secret_data(&sh.client, &t.ns, &p.secret_name, field)
                .await
                .map_err(refuse_ask)?;
            let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
            let key = |k: &str| secret_key(&data, k, &t.ns, &p.secret_name, field).map(text);
            let user = key("username").map_err(refuse_ask)?;
            let password = key("password").map_err(refuse_ask)?;
            let db = key("database").unwrap_or_else(|_| "postgres".to_string());
            AppProbe::write(&vip_ip.to_string(), p.port, &user, &password, &db)
        }
        None => AppProbe::Rest {
            client: rest.clone(),
            url: crate::probe::url(scheme, vip_ip, port, "/primary"),
        },
    };
    Ok(Plan {
        from: DrillMember {
            member: leader.pod.clone(),
            node: Some(leader.node.clone()),
        },
        to: DrillMember {
            member: candidate,
            node: candidate_node,
        },
        vip,
        rest,
        base,
        auth,
        probe,
    })
}

/// Runs an admitted drill to its result.
async fn execute(
    sh: &Shared,
    t: &Target,
    drill: &PostgresVipDrill,
    st: PostgresVipDrillStatus,
    plan: Plan,
) -> Result<()> {
    let log: Log = Arc::default();
    let started = Instant::now();
    let probing = plan.probe.run(&sh.prober, log.clone(), started);
    let driving = drive(sh, t, drill, st, &plan, (&log, started));
    tokio::select! {
        () = probing => Ok(()),
        r = driving => r,
    }
}

fn snapshot(log: &Log) -> Vec<measure::Sample> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

async fn drive(
    sh: &Shared,
    t: &Target,
    drill: &PostgresVipDrill,
    st: PostgresVipDrillStatus,
    plan: &Plan,
    (log, started): (&Log, Instant),
) -> Result<()> {
    let objective = objective(drill);
    // The probe must get through before anything changes: a drill that cannot measure does
    // not switch over.
    let baseline_until = Instant::now() + BASELINE;
    while !measure::steady(&snapshot(log), STEADY) {
        if Instant::now() >= baseline_until {
            let samples = snapshot(log);
            let r = Refusal::ProbeFailing(format!(
                "the {} probe did not get through the VIP {} before the switchover: {}; nothing was changed",
                plan.probe.kind(),
                plan.vip.spec.address,
                measure::last_error(&samples).unwrap_or("no answer")
            ));
            let next = report::refused(st, r.reason(), r.message(), t.generation, &now_rfc3339());
            return conclude(sh, t, drill, next, "refused", None).await;
        }
        tokio::time::sleep(probe::PERIOD).await;
    }

    let running = report::running(
        st,
        plan.from.clone(),
        plan.to.clone(),
        t.generation,
        &now_rfc3339(),
    );
    let started_wall = running.started_at.clone().unwrap_or_default();
    write_status(sh, t, &running).await?;
    info!(drill = %t.name, vip = %t.vip_key, from = %plan.from.member, to = %plan.to.member, "drill: asking Patroni for a switchover");
    publish_on(
        sh,
        drill,
        EventType::Normal,
        "DrillStarted",
        "Drill",
        format!(
            "switching PostgresVip {} over from {} to {}",
            t.vip_key, plan.from.member, plan.to.member
        ),
    )
    .await;

    let requested = started.elapsed();
    let answer = patroni_api::switchover(
        &plan.rest,
        &plan.base,
        plan.auth.as_ref(),
        &plan.from.member,
        &plan.to.member,
        SWITCHOVER_TIMEOUT,
    )
    .await;
    let answered = started.elapsed();
    let vips: Api<PostgresVip> = Api::namespaced(sh.client.clone(), &t.ns);
    let deadline = Instant::now() + Duration::from_secs(u64::from(drill.spec.timeout_seconds));
    let (ending, new_leader) = match &answer {
        Switchover::Rejected(why) => (Ending::Rejected(why.clone()), None),
        Switchover::Done(_) | Switchover::Unknown(_) => {
            // A 200 means the lock changed hands, so the old primary had demoted: successes
            // from then on are the new primary's. Without one, the PostgresVip's new leader is
            // the proof.
            let done = matches!(answer, Switchover::Done(_)).then_some(answered);
            let w = Wait {
                log,
                started,
                requested,
                done,
                deadline,
            };
            wait_resumed(&vips, &drill.spec.vip_name, plan, w).await
        }
    };
    // The failover record comes after the data path is verified; wait a little for it.
    let phases = match &ending {
        Ending::Measured(_) => wait_record(&vips, &drill.spec.vip_name, &started_wall).await,
        _ => None,
    };
    let samples = snapshot(log);
    let (outage_so_far, attempts, failed) = measure::outage(&samples, requested);
    info!(drill = %t.name, vip = %t.vip_key, probe = plan.probe.kind(), answered_ms = answered.saturating_sub(requested).as_millis() as u64, timeline = %measure::timeline(&samples, requested), "drill: what the probe saw from the switchover request on");
    let new_primary = new_leader
        .filter(|l| l.pod != plan.to.member)
        .map(|l| DrillMember {
            member: l.pod,
            node: Some(l.node),
        });
    let m = Measured {
        probe: plan.probe.kind().to_string(),
        attempts,
        failed,
        outage_so_far,
        phases,
        new_primary,
    };
    let outage = match &ending {
        Ending::Measured(o) => Some(*o),
        _ => None,
    };
    let (next, result) =
        report::finished(running, &ending, m, objective, t.generation, &now_rfc3339());
    conclude(sh, t, drill, next, result, outage).await
}

/// The clock and the marks [`wait_resumed`] works with.
struct Wait<'a> {
    log: &'a Log,
    started: Instant,
    requested: Duration,
    done: Option<Duration>,
    deadline: Instant,
}

/// Waits until writes have resumed on a new primary the PostgresVip follows.
async fn wait_resumed(
    vips: &Api<PostgresVip>,
    vip_name: &str,
    plan: &Plan,
    w: Wait<'_>,
) -> (Ending, Option<pgvip_api::LeaderStatus>) {
    let mut moved_at = w.done;
    let mut leader = None;
    loop {
        if leader.is_none() {
            if let Ok(Some(v)) = vips.get_opt(vip_name).await {
                let l = v.status.and_then(|s| s.leader);
                if l.as_ref().is_some_and(|l| l.pod != plan.from.member) {
                    moved_at.get_or_insert(w.started.elapsed());
                    leader = l;
                }
            }
        }
        let samples = snapshot(w.log);
        if let (Some(at), Some(l)) = (moved_at, leader.as_ref()) {
            if measure::resumed(&samples, at, STEADY, &l.pod) {
                return (
                    Ending::Measured(measure::outage(&samples, w.requested).0),
                    leader,
                );
            }
        }
        if Instant::now() >= w.deadline {
            let why = measure::last_error(&samples).unwrap_or("none").to_string();
            return (Ending::TimedOut(why), leader);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The PostgresVip's record of the failover the drill caused (one that began after
/// `started_wall`), waiting up to [`RECORD_WAIT`].
async fn wait_record(
    vips: &Api<PostgresVip>,
    vip_name: &str,
    started_wall: &str,
) -> Option<pgvip_api::FailoverPhases> {
    let until = Instant::now() + RECORD_WAIT;
    loop {
        if let Ok(Some(v)) = vips.get_opt(vip_name).await {
            if let Some(r) = v.status.and_then(|s| s.last_failover) {
                if r.at.as_str() >= started_wall {
                    return Some(r.phases);
                }
            }
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn write_status(sh: &Shared, t: &Target, st: &PostgresVipDrillStatus) -> Result<()> {
    if !sh.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let body = serde_json::json!({ "status": st });
    t.api
        .patch_status(&t.name, &PatchParams::default(), &Patch::Merge(&body))
        .await?;
    Ok(())
}

/// Writes the final status and reports it (Events on the drill and the VIP, metric, log).
async fn conclude(
    sh: &Shared,
    t: &Target,
    drill: &PostgresVipDrill,
    st: PostgresVipDrillStatus,
    result: &'static str,
    outage: Option<Duration>,
) -> Result<()> {
    write_status(sh, t, &st).await?;
    sh.metrics.drill(&t.vip_key, result, outage);
    let (type_, reason) = match result {
        "passed" => (EventType::Normal, "DrillPassed"),
        "refused" => (EventType::Warning, "DrillRefused"),
        _ => (EventType::Warning, "DrillFailed"),
    };
    info!(drill = %t.name, vip = %t.vip_key, result, outage_ms = outage.map(|o| o.as_millis() as u64), message = %st.message, "drill finished");
    let note = format!("drill {}: {}", t.name, st.message);
    publish_on(sh, drill, type_, reason, "Drill", note.clone()).await;
    let vips: Api<PostgresVip> = Api::namespaced(sh.client.clone(), &t.ns);
    if let Ok(Some(vip)) = vips.get_opt(&drill.spec.vip_name).await {
        publish(sh, &vip, type_, reason, "Drill", note).await;
    }
    Ok(())
}
