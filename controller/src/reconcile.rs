//! The reconciler: `reconcile` dispatches through the finalizer to [`apply`] or [`cleanup`];
//! [`apply`] runs the named steps of one pass.
//!
//! Data flow of [`apply`]: validate (pure) → dereference (stores, REST answers) → decide (pure)
//! → publish `leader` + `desiredNode`, and the cloud move alongside → publish `assignedNode` +
//! `cloud` → wait for the agent's report (a status event re-triggers us) → verify the data path
//! → `Ready` and `lastFailover`. Every step is idempotent; a crash anywhere is repaired by the next pass.
//! Status is written only when it changes; Events only on transitions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use pgvip_api::{condition, PostgresVip, PostgresVipStatus, VipRole};
use tracing::{debug, info, warn, Instrument};

use crate::cloud::{CloudAssignment, CloudError, CloudProvider, MoveRequest};
use crate::conditions::{self, reason};
use crate::decide::{decide, probe_targets, Decision, Inputs, ProbeOutcome};
use crate::failover::{instant_of, Start};
use crate::gather::{endpoint_of, gather, judge_data_path, load_ca, provider_id_of, verify_path};
use crate::ownership::{in_use, owner_elsewhere, Claim};
use crate::probe::{url, Wake};
use crate::readiness::{self, check, Candidate};
use crate::status::{
    announced, derive_conditions, drain_node, needs_cloud_move, with_assignment, with_decision,
    DataPath, Facts,
};
use crate::watch::key;
use crate::{Error, Result, FINALIZER};

pub use crate::cleanup::cleanup;
use crate::context::{now_rfc3339, publish, publish_detached, Writer};
pub use crate::context::{Context, Settings, Shared};

/// Reconciles one PostgresVip (entry point for `Controller::run`).
pub async fn reconcile(vip: Arc<PostgresVip>, ctx: Arc<Context>) -> Result<Action> {
    let ns = vip.namespace().unwrap_or_default();
    let k = key(&ns, &vip.name_any());
    let span = tracing::info_span!("reconcile", vip = %k, cluster = tracing::field::Empty);
    async move {
        if !ctx.shared.leadership.is_leader() {
            return Err(Error::NotLeader);
        }
        if tokio::time::timeout(Duration::from_secs(60), ctx.stores.ready()).await != Ok(true) {
            return Err(Error::CachesNotSynced);
        }
        let started = Instant::now();
        let api: Api<PostgresVip> = Api::namespaced(ctx.shared.client.clone(), &ns);
        let res = finalizer(&api, FINALIZER, vip, |ev| async {
            match ev {
                Finalizer::Apply(v) => apply(v, &ctx, &api).await,
                Finalizer::Cleanup(v) => cleanup(v, &ctx, &api).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        ctx.shared.metrics.reconcile(started.elapsed());
        if res.is_ok() {
            ctx.shared.backoffs.reset(&k);
        }
        res
    }
    .instrument(span)
    .await
}

/// Requeue policy: exponential backoff per object (invalid specs never get here: they set a
/// condition and wait for a change).
pub fn error_policy(vip: Arc<PostgresVip>, err: &Error, ctx: Arc<Context>) -> Action {
    let k = key(&vip.namespace().unwrap_or_default(), &vip.name_any());
    ctx.shared.metrics.reconcile_error(err.category());
    let delay = ctx.shared.backoffs.next(&k);
    warn!(vip = %k, error = %err, category = err.category(), retry_in_ms = delay.as_millis() as u64, "reconcile failed");
    Action::requeue(delay)
}

fn validate(vip: &PostgresVip, provider: &dyn CloudProvider) -> Result<std::net::IpAddr, String> {
    let addr: std::net::IpAddr = vip
        .spec
        .address
        .parse()
        .map_err(|_| format!("spec.address {:?} is not an IP address", vip.spec.address))?;
    if vip.spec.patroni.is_some() == vip.spec.labels.is_some() {
        return Err("set exactly one of spec.patroni and spec.labels".into());
    }
    if !provider.accepts_spec(&vip.spec.provider) {
        let kind = provider.spec_key();
        let found = vip
            .spec
            .provider
            .kind()
            .map_or("no provider block".to_string(), |k| {
                format!("spec.provider.{k}")
            });
        return Err(format!(
            "spec.provider.{kind} is required: this controller runs with --cloud-provider {kind} (found {found})"
        ));
    }
    Ok(addr)
}

/// One pass over a live PostgresVip.
pub async fn apply(vip: Arc<PostgresVip>, ctx: &Context, api: &Api<PostgresVip>) -> Result<Action> {
    let sh = ctx.shared.as_ref();
    let (ns, name) = (vip.namespace().unwrap_or_default(), vip.name_any());
    let k = key(&ns, &name);
    let gen = vip.metadata.generation;
    let snapshot = vip.status.clone().unwrap_or_default();
    let mut cur = sh.writes.base(&k, &snapshot);
    let nodes = snapshot.nodes.clone();
    let silent = silent_agents(ctx, &nodes);
    let silent = &silent;
    let mut w = Writer {
        api,
        sh,
        name: name.clone(),
        key: k.clone(),
    };
    if let Some(p) = &vip.spec.patroni {
        tracing::Span::current().record("cluster", p.scope.as_str());
    }

    // 1. validate
    let address = match validate(&vip, sh.provider.as_ref()) {
        Ok(a) => a,
        Err(msg) => {
            let d = Decision::Unconfirmed {
                reason: reason::INVALID_SPEC,
                message: msg.clone(),
            };
            let mut next = with_decision(&cur, &d, false, gen, &now_rfc3339());
            derive_conditions(
                &mut next,
                &nodes,
                &facts(
                    sh,
                    silent,
                    gen,
                    &now_rfc3339(),
                    None,
                    false,
                    DataPath::NotChecked,
                ),
            );
            w.write(&mut cur, next).await?;
            warn!(error = %msg, "invalid PostgresVip; waiting for a change");
            sh.metrics.reconcile_error("invalid_spec");
            return Ok(Action::await_change());
        }
    };

    // 1b. ownership: never act on an address an older PostgresVip owns, or a node or pod uses.
    if let Some((r, msg)) = refusal(&vip, address, &ctx.stores) {
        return refuse(&vip, &mut w, &mut cur, &nodes, gen, r, msg).await;
    }

    // 2. dereference
    let now = Instant::now();
    let g = gather(&vip.spec, &ns, &name, &ctx.stores, &sh.locks, now);
    let (scheme, port, ca_ref) = endpoint_of(&vip.spec);
    let ca = match &ca_ref {
        Some(r) => Some(load_ca(&sh.client, &ns, r).await),
        None => None,
    };
    let client = match ca
        .as_ref()
        .map(|c| c.as_ref().map(|pem| sh.prober.client(Some(pem))))
    {
        None => sh.prober.client(None),
        Some(Ok(c)) => c,
        Some(Err(e)) => Err(e.clone()),
    };
    let lock_leader = g
        .lock
        .as_ref()
        .and_then(|l| l.record.leader())
        .map(str::to_string);
    let targets = probe_targets(&vip.spec, lock_leader.as_deref(), &g.pods);
    let probing_since = Instant::now();
    let probes = match &client {
        Ok(c) => {
            let (trigger, me) = (ctx.trigger.clone(), ObjectRef::from_obj(vip.as_ref()));
            let wake: Wake = Arc::new(move || {
                let _ = trigger.send(me.clone());
            });
            let probing = sh.prober.probe_all(c, scheme, port, &targets, wake);
            match &g.lock_key {
                Some(lk) => tokio::select! {
                    p = probing => p,
                    () = sh.locks.leader_moves_from(lk, lock_leader.as_deref()) => {
                        debug!(lock = ?lock_leader, "the leader lock changed hands while probing; starting over");
                        return Ok(Action::requeue(Duration::ZERO));
                    }
                },
                None => probing.await,
            }
        }
        Err(e) => targets
            .iter()
            .map(|t| (t.pod.clone(), ProbeOutcome::Failed(e.clone())))
            .collect(),
    };

    // 3. decide
    let inputs = Inputs {
        spec: &vip.spec,
        lock: g.lock.clone(),
        config: g.config.clone(),
        pods: g.pods.clone(),
        nodes: g.nodes.clone(),
        probes,
        current_pod: cur.leader.as_ref().map(|l| l.pod.clone()),
        require_provider_id: !sh.provider.l2_only(),
    };
    let decision = decide(&inputs);
    let lock_age_ms = g.lock_obs.as_ref().map(|o| {
        now.saturating_duration_since(o.leader_changed_at)
            .as_millis() as u64
    });
    debug!(lock = ?lock_leader, decision = ?decision, probes = ?inputs.probes, lock_age_ms,
           probe_ms = probing_since.elapsed().as_millis() as u64, "decided");
    // A holder that answers but is not a running primary yet is still promoting: its last
    // such answer splits Patroni's promotion out of the failover's decide phase.
    if let (Some(l), Decision::Unconfirmed { reason: r, .. }) = (lock_leader.as_deref(), &decision)
    {
        if *r == reason::REST_REJECTED && vip.spec.role == VipRole::Primary {
            sh.failovers.holder_not_ready(&k, l, Instant::now());
        }
    }
    let replica = vip.spec.role == VipRole::Replica;

    // 4. publish the decision (leader + desiredNode together)
    let ts = now_rfc3339();
    let was_confirmed = conditions::is_true(&cur.conditions, condition::LEADER_CONFIRMED);
    let mut next = with_decision(&cur, &decision, replica, gen, &ts);
    next.drain_node = drain_node(
        &cur,
        &decision,
        replica,
        &inputs.pods,
        &inputs.probes,
        g.lock_obs
            .as_ref()
            .map(|o| now.saturating_duration_since(o.leader_changed_at)),
    );
    match &decision {
        // A move still pending (e.g. published by a replica that lost leadership before
        // the move) is timed from this replica's first sight of the lock, so the failover
        // it completes is still recorded.
        Decision::Confirmed(m)
            if cur.desired_node.as_deref() != Some(&m.node)
                || cur.leader.as_ref().map(|l| &l.pod) != Some(&m.pod)
                || cur.assigned_node.as_deref() != Some(&m.node) =>
        {
            let seen = g
                .lock_obs
                .as_ref()
                .map(|o| o.leader_changed_at)
                .filter(|_| !replica)
                .unwrap_or(now)
                .min(now);
            let wall = chrono::Utc::now()
                - chrono::Duration::from_std(now.saturating_duration_since(seen))
                    .unwrap_or_default();
            let from = cur.assigned_node.clone();
            let started = sh.failovers.start(
                &k,
                from.clone(),
                (&m.pod, &m.node),
                seen,
                wall.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
            info!(pod = %m.pod, node = %m.node, from = ?from, "new member confirmed");
            if started != Start::Unchanged && from.as_deref() != Some(m.node.as_str()) {
                let note = format!(
                    "{} on {} confirmed; moving the address from {} to {}",
                    m.pod,
                    m.node,
                    from.as_deref().unwrap_or("nowhere"),
                    m.node
                );
                publish_detached(
                    &ctx.shared,
                    &vip,
                    EventType::Normal,
                    "FailoverStarted",
                    "Failover",
                    note,
                );
            }
        }
        Decision::Unconfirmed { reason: r, message } => {
            sh.failovers.forget(&k);
            if was_confirmed {
                warn!(reason = r, message = %message, "member no longer confirmed; releasing the address on every node");
                publish_detached(
                    &ctx.shared,
                    &vip,
                    EventType::Warning,
                    "LeaderLost",
                    "RemoveAddress",
                    message.clone(),
                );
            }
        }
        _ => {}
    }
    derive_conditions(
        &mut next,
        &nodes,
        &facts(sh, silent, gen, &ts, None, false, DataPath::NotChecked),
    );
    if let Some(v) = sh.readiness.verdict(&k) {
        readiness::set_condition(&mut next, &v, gen, &ts);
    }
    // 5. cloud move, alongside the decision's write: the two go to different APIs and each is
    // idempotent, and the agents act only on the assignment written after both, so the move
    // need not wait for the apiserver (a crash in between is repaired by the next pass).
    // A new leadership term confirms the cloud side once before trusting the status: the
    // previous holder may have died between the move and its write, or the assignment may have
    // drifted (moved by hand, or written by an L2-only controller).
    let unconfirmed = !sh.writes.confirmed(&k, next.desired_node.as_deref());
    let is_move = needs_cloud_move(&next);
    let move_to = next.desired_node.clone().filter(|_| is_move || unconfirmed);
    let moving = async {
        match &move_to {
            Some(node) => Some(cloud_call(ctx, &vip, address, node, is_move).await),
            None => None,
        }
    };
    sh.failovers.update(&k, |t| {
        t.decided.get_or_insert_with(Instant::now);
    });
    let writing_since = Instant::now();
    let (written, moved) = tokio::join!(
        async {
            let r = w.write(&mut cur, next.clone()).await;
            (r, writing_since.elapsed())
        },
        moving
    );
    let (written, write_took) = written;
    written?;
    debug!(
        write_ms = write_took.as_millis() as u64,
        "decision published"
    );
    if let (Some(node), Some(moved)) = (move_to, moved) {
        let (res, took) = moved?;
        sh.failovers.update(&k, |t| {
            t.cloud += took;
            if res.is_ok() {
                t.assigned = Some(Instant::now());
            }
        });
        let ts = now_rfc3339();
        match res {
            Ok(a) => {
                info!(node = %node, vnic = a.vnic_id.as_deref().unwrap_or(""), opc_request_id = %a.opc_request_ids.join(","),
                      created = a.created, changed = a.changed, took_ms = took.as_millis() as u64, "cloud assignment confirmed");
                // An unchanged assignment keeps its assignedAt, so agents do not announce again.
                let same = !a.changed && cur.assigned_node.as_deref() == Some(node.as_str());
                let at = match cur.cloud.as_ref().and_then(|c| c.assigned_at.clone()) {
                    Some(prev) if same => prev,
                    _ => ts.clone(),
                };
                let mut next = with_assignment(&cur, &node, &a, &at);
                derive_conditions(
                    &mut next,
                    &nodes,
                    &facts(sh, silent, gen, &ts, None, false, DataPath::NotChecked),
                );
                w.write(&mut cur, next).await?;
                sh.writes.confirm(&k, &node);
            }
            Err(e) => {
                warn!(node = %node, category = e.category, opc_request_id = e.opc_request_id.as_deref().unwrap_or(""), error = %e.message, "cloud move failed");
                let prev = conditions::get(&cur.conditions, condition::CLOUD_ASSIGNED)
                    .map(|c| c.reason.clone());
                let mut next = cur.clone();
                derive_conditions(
                    &mut next,
                    &nodes,
                    &facts(
                        sh,
                        silent,
                        gen,
                        &ts,
                        Some((e.category, e.message.clone())),
                        false,
                        DataPath::NotChecked,
                    ),
                );
                w.write(&mut cur, next).await?;
                if prev.as_deref() != Some(reason::CLOUD_MOVE_FAILED) {
                    let note = format!(
                        "moving {} to {node} failed ({}): {}",
                        vip.spec.address, e.category, e.message
                    );
                    publish(
                        sh,
                        &vip,
                        EventType::Warning,
                        "CloudMoveFailed",
                        "MoveAddress",
                        note,
                    )
                    .await;
                }
                return Err(Error::Cloud(e));
            }
        }
    }

    // 6. wait for the agent, 7. verify the data path
    let mut requeue = sh.settings.resync;
    if cur.desired_node.is_some() && !needs_cloud_move(&cur) {
        let ts = now_rfc3339();
        if announced(&cur, &nodes) {
            let seen = Instant::now();
            let sent = cur
                .desired_node
                .as_ref()
                .and_then(|d| nodes.iter().find(|n| &n.node == d))
                .and_then(|n| n.announced_at.as_deref())
                .and_then(|at| instant_of(at, seen, chrono::Utc::now()));
            sh.failovers.update(&k, |t| {
                if t.reported.is_none() {
                    t.reported = Some(seen);
                    t.announced = sent;
                }
            });
            let dp = verify(sh, &vip, &cur, address, client.as_ref().ok()).await;
            let mut next = cur.clone();
            derive_conditions(
                &mut next,
                &nodes,
                &facts(sh, silent, gen, &ts, None, false, dp.clone()),
            );
            let elsewhere = conditions::get(&next.conditions, condition::ADDRESS_CONFIGURED)
                .is_some_and(|c| c.reason == reason::CONFIGURED_ELSEWHERE);
            if matches!(dp, DataPath::Failed(_)) || elsewhere {
                // A holder that stays silent lapses by time alone: look again soon.
                requeue = requeue.min(Duration::from_secs(2));
            } else if conditions::is_true(&next.conditions, condition::READY) {
                // Keep proving it: an address that stops reaching the primary (a route, a
                // security list, a stale claim) must show without anything else changing.
                if sh.settings.verify_data_path {
                    requeue = requeue.min(sh.settings.data_path_interval);
                }
                if let Some(rec) = sh.failovers.finish(&k, Instant::now()) {
                    sh.metrics.failover(&rec);
                    let note = format!(
                        "the address moved from {} to {} and now reaches {} ({} ms)",
                        rec.from.as_deref().unwrap_or("nowhere"),
                        rec.to,
                        next.leader.as_ref().map(|l| l.pod.as_str()).unwrap_or("?"),
                        rec.duration_millis
                    );
                    info!(node = %rec.to, duration_ms = rec.duration_millis, "failover completed");
                    next.last_failover = Some(rec);
                    publish_detached(
                        &ctx.shared,
                        &vip,
                        EventType::Normal,
                        "FailoverCompleted",
                        "Failover",
                        note,
                    );
                }
            }
            w.write(&mut cur, next).await?;
        } else {
            let (timed_out, remaining) = announce_wait(&cur, sh.settings.announce_timeout);
            let mut next = cur.clone();
            derive_conditions(
                &mut next,
                &nodes,
                &facts(sh, silent, gen, &ts, None, timed_out, DataPath::NotChecked),
            );
            w.write(&mut cur, next).await?;
            // Past the timeout, the agent's report (a status change) triggers the next pass;
            // polling every VIP whose agents are gone would starve the others.
            if !timed_out {
                requeue = requeue.min(remaining.max(Duration::from_millis(500)));
            }
        }
    }

    // A new lock holder that does not answer as primary yet is usually still promoting: ask
    // again soon instead of waiting for the next watch event.
    let changed_ago = g
        .lock_obs
        .as_ref()
        .map(|o| now.saturating_duration_since(o.leader_changed_at));
    if let Some(d) = promotion_poll(&decision, changed_ago) {
        requeue = requeue.min(d);
    }

    // 8. failover readiness, in the background: a failover never waits for it.
    if let Some(wait) = schedule_readiness(ctx, &vip, &k, address, &cur, &g.pods, client) {
        requeue = requeue.min(wait + Duration::from_millis(100));
    }

    // Re-check when the lock would go stale without a renewal event.
    if let (Decision::Confirmed(_), Some(l), false) = (&decision, &g.lock, replica) {
        let ttl = Duration::from_secs(
            l.record
                .ttl_secs(g.config.ttl.unwrap_or(crate::patroni::DEFAULT_TTL_SECS)),
        );
        requeue = requeue.min(ttl.saturating_sub(l.age) + Duration::from_millis(100));
    }
    Ok(Action::requeue(requeue))
}

/// The reporting nodes whose agent's heartbeat Lease has lapsed (or is missing): what they
/// reported last may no longer be true.
fn silent_agents(
    ctx: &Context,
    nodes: &[pgvip_api::NodeReport],
) -> std::collections::BTreeSet<String> {
    let now = chrono::Utc::now();
    let ns = &ctx.shared.settings.agent_namespace;
    nodes
        .iter()
        .filter(|n| {
            let name = pgvip_api::agent::heartbeat_lease_name(&n.node);
            let lease = ctx.stores.agents.get(&ObjectRef::new(&name).within(ns));
            !matches!(
                check::agent_facts(lease.as_deref(), now),
                readiness::AgentFacts::Alive(_)
            )
        })
        .map(|n| n.node.clone())
        .collect()
}

/// How often a refused PostgresVip looks again (an owner's address change, or a node or pod
/// giving the address up, triggers nothing else; an owner's deletion triggers at once).
pub const REFUSED_RECHECK: Duration = Duration::from_secs(10);

/// Why `vip` must not act on `address`, if it must not: (reason, message).
fn refusal(
    vip: &PostgresVip,
    address: std::net::IpAddr,
    stores: &crate::watch::Stores,
) -> Option<(&'static str, String)> {
    let me = Claim::of(vip);
    if let Some(owner) = owner_elsewhere(&me, &stores.claims_on(address)) {
        return Some((
            reason::ADDRESS_CONFLICT,
            format!(
                "address {} is owned by PostgresVip {}, the oldest one claiming it in this subnet; \
                 this one configures and moves nothing, and takes over when {} is deleted or \
                 changes its address",
                vip.spec.address, owner.key, owner.key
            ),
        ));
    }
    let (nodes, pods) = (stores.nodes.state(), stores.pods.state());
    let used = in_use(
        address,
        nodes.iter().map(|n| n.as_ref()),
        pods.iter().map(|p| p.as_ref()),
    )?;
    Some((
        reason::ADDRESS_IN_USE,
        format!(
            "address {} is {used}: a VIP must be a free address of the subnet; pgvip never \
             configures or moves it",
            vip.spec.address
        ),
    ))
}

/// Publishes a refusal: no leader, no desired node (every agent removes the address), no cloud
/// call; a conflict also lets go of the cloud assignment, which now belongs to the owner (so
/// deleting this PostgresVip never releases the owner's private IP). A Warning Event on change.
#[allow(clippy::too_many_arguments)]
async fn refuse(
    vip: &PostgresVip,
    w: &mut Writer<'_>,
    cur: &mut PostgresVipStatus,
    nodes: &[pgvip_api::NodeReport],
    gen: Option<i64>,
    r: &'static str,
    msg: String,
) -> Result<Action> {
    let sh = w.sh;
    let ts = now_rfc3339();
    let prev = conditions::get(&cur.conditions, condition::LEADER_CONFIRMED)
        .map(|c| (c.status.clone(), c.reason.clone()));
    let d = Decision::Unconfirmed {
        reason: r,
        message: msg.clone(),
    };
    let mut next = with_decision(cur, &d, false, gen, &ts);
    if r == reason::ADDRESS_CONFLICT {
        next.assigned_node = None;
        next.cloud = None;
    }
    derive_conditions(
        &mut next,
        nodes,
        &facts(
            sh,
            &crate::status::NO_SILENT_AGENTS,
            gen,
            &ts,
            None,
            false,
            DataPath::NotChecked,
        ),
    );
    w.write(cur, next).await?;
    sh.failovers.forget(&w.key);
    sh.metrics
        .reconcile_error(if r == reason::ADDRESS_CONFLICT {
            "address_conflict"
        } else {
            "address_in_use"
        });
    if prev.as_ref().map(|(s, rr)| (s.as_str(), rr.as_str())) != Some((conditions::FALSE, r)) {
        warn!(reason = r, message = %msg, "refusing the address");
        publish(sh, vip, EventType::Warning, r, "RefuseAddress", msg).await;
    }
    Ok(Action::requeue(REFUSED_RECHECK))
}

/// How old a subnet listing may be to confirm an assignment after a takeover.
pub const CONFIRM_LISTING_AGE: Duration = Duration::from_secs(30);

/// The cloud side of a decision: makes `address` sit on `node`, and how long that took. A
/// confirmation (`moving` false: the status already names this node) first asks the subnet
/// listing that all VIPs confirming after a takeover share; a move always asks for itself.
async fn cloud_call(
    ctx: &Context,
    vip: &PostgresVip,
    address: std::net::IpAddr,
    node: &str,
    moving: bool,
) -> Result<(std::result::Result<CloudAssignment, CloudError>, Duration)> {
    let sh = ctx.shared.as_ref();
    if !sh.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let (ns, name) = (vip.namespace().unwrap_or_default(), vip.name_any());
    let req = MoveRequest {
        address,
        subnet_id: vip
            .spec
            .provider
            .subnet_for(sh.provider.spec_key())
            .unwrap_or_default()
            .to_string(),
        provider_id: provider_id_of(&ctx.stores, node).unwrap_or_default(),
        display_name: Some(format!("pgvip-{ns}-{name}")),
    };
    let t = Instant::now();
    let listed = if moving {
        None
    } else {
        confirm_by_listing(sh, &req).await
    };
    let res = match listed {
        Some(a) => Ok(a),
        None => sh.provider.ensure_assigned(&req).await,
    };
    let took = t.elapsed();
    sh.metrics.cloud_call(
        sh.provider.name(),
        "ensure_assigned",
        took,
        res.as_ref().err().map(|e| e.category),
    );
    Ok((res, took))
}

/// A takeover's confirmation from the provider's shared subnet listing, when it gives one.
async fn confirm_by_listing(sh: &Shared, req: &MoveRequest) -> Option<CloudAssignment> {
    match sh.provider.confirm_assigned(req, CONFIRM_LISTING_AGE).await {
        Ok(a) => a,
        Err(e) => {
            debug!(error = %e, "no confirmation from the subnet listing; asking for this address alone");
            None
        }
    }
}

/// How long the fast re-check of a just-changed lock lasts.
pub const PROMOTION_WINDOW: Duration = Duration::from_secs(15);
/// Re-check interval during that window.
pub const PROMOTION_POLL: Duration = Duration::from_millis(150);
/// The first part of the window, when most promotions finish (Patroni's promote takes well
/// under a second after it took the lock), is re-checked faster: every re-check interval is
/// latency the failover adds after Patroni is done.
pub const PROMOTION_FAST_WINDOW: Duration = Duration::from_secs(3);
/// Re-check interval during the fast part.
pub const PROMOTION_FAST_POLL: Duration = Duration::from_millis(50);

/// Pure: when to re-check a lock holder that is not confirmed yet. Only right after the lock
/// changed hands (`changed_ago`) and only while its REST answer is what a member still
/// promoting gives (not primary yet, or no answer); a cluster that stays broken falls back to
/// the normal requeue.
pub fn promotion_poll(decision: &Decision, changed_ago: Option<Duration>) -> Option<Duration> {
    match decision {
        Decision::Unconfirmed { reason: r, .. }
            if [reason::REST_REJECTED, reason::REST_UNREACHABLE].contains(r)
                && changed_ago.is_some_and(|d| d < PROMOTION_WINDOW) =>
        {
            Some(if changed_ago.is_some_and(|d| d < PROMOTION_FAST_WINDOW) {
                PROMOTION_FAST_POLL
            } else {
                PROMOTION_POLL
            })
        }
        _ => None,
    }
}

/// Starts a failover-readiness check of `vip` when one is due; otherwise the time until it is.
fn schedule_readiness(
    ctx: &Context,
    vip: &Arc<PostgresVip>,
    k: &str,
    address: std::net::IpAddr,
    cur: &PostgresVipStatus,
    pods: &[crate::decide::PodView],
    client: Result<reqwest::Client, String>,
) -> Option<Duration> {
    let candidates: Vec<Candidate> = pods
        .iter()
        .filter(|p| !p.deleting)
        .filter_map(|p| {
            p.node.as_ref().map(|n| Candidate {
                pod: p.name.clone(),
                node: n.clone(),
                ip: p.ip,
            })
        })
        .collect();
    // Never during a failover: the check's no-op update would race the move (if-match keeps
    // it safe, but the move would have to decide again).
    // Nor before this term has confirmed the assignment: at start-up the confirmations of
    // every VIP come first.
    if ctx.shared.failovers.get(k).is_some()
        || needs_cloud_move(cur)
        || !ctx.shared.writes.confirmed(k, cur.desired_node.as_deref())
    {
        return Some(Duration::from_secs(5));
    }
    let fp = readiness::fingerprint(vip.metadata.generation, &candidates);
    match ctx.shared.readiness.begin(k, fp, Instant::now()) {
        Ok(()) => {
            let job = check::Job {
                vip: vip.clone(),
                key: k.to_string(),
                address,
                status: cur.clone(),
                candidates,
                client,
                trigger: ctx.trigger.clone(),
            };
            tokio::spawn(
                check::run(ctx.shared.clone(), ctx.stores.clone(), job)
                    .instrument(tracing::info_span!("readiness", vip = %k)),
            );
            None
        }
        Err(wait) => wait,
    }
}

#[allow(clippy::too_many_arguments)]
fn facts<'a>(
    sh: &Shared,
    silent_agents: &'a std::collections::BTreeSet<String>,
    generation: Option<i64>,
    now: &'a str,
    cloud_error: Option<(&'a str, String)>,
    announce_timed_out: bool,
    data_path: DataPath,
) -> Facts<'a> {
    Facts {
        now,
        generation,
        no_cloud: sh.provider.l2_only(),
        cloud_error,
        announce_timed_out,
        data_path,
        silent_agents,
    }
}

/// (timed out, time left) of the wait for the agent, measured from `cloud.assignedAt`.
pub fn announce_wait(st: &PostgresVipStatus, timeout: Duration) -> (bool, Duration) {
    let at = st
        .cloud
        .as_ref()
        .and_then(|c| c.assigned_at.as_deref())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    let Some(at) = at else {
        return (false, timeout);
    };
    let waited = (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
        .to_std()
        .unwrap_or_default();
    (waited >= timeout, timeout.saturating_sub(waited))
}

async fn verify(
    sh: &Shared,
    vip: &PostgresVip,
    st: &PostgresVipStatus,
    address: std::net::IpAddr,
    client: Option<&reqwest::Client>,
) -> DataPath {
    if !sh.settings.verify_data_path {
        return DataPath::Disabled;
    }
    let (scheme, port, _) = endpoint_of(&vip.spec);
    let u = url(scheme, address, port, &verify_path(&vip.spec));
    let Some(client) = client else {
        return DataPath::Failed(format!(
            "GET {u}: no usable HTTP client (check restApi.caSecretRef)"
        ));
    };
    let started = Instant::now();
    let outcome = sh.prober.get(client, &u, sh.prober.timeout).await;
    let expected = st.leader.as_ref().map(|l| l.pod.as_str()).unwrap_or("");
    let mut dp = judge_data_path(&outcome, expected, &u);
    if let (DataPath::Verified, Some(port)) = (
        &dp,
        vip.spec.data_path.as_ref().and_then(|d| d.postgres_port),
    ) {
        let at = std::net::SocketAddr::new(address, port);
        if let Err(e) = crate::pgwire::ssl_request(at, sh.prober.timeout).await {
            dp = DataPath::Failed(format!(
                "Patroni answered through the VIP, but PostgreSQL on {at} (spec.dataPath.postgresPort) did not: {e}"
            ));
        }
    }
    sh.metrics
        .data_path_probe(started.elapsed(), matches!(dp, DataPath::Verified));
    dp
}

#[cfg(test)]
mod tests;
