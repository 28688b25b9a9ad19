//! Executing one VIP's plan and queueing its report: the part of the agent loop that turns
//! the pure planner's actions into netlink requests and announcements.
//!
//! Data flow: `Agent::reconcile` → [`Agent::execute`] (plan, netlink, announcer) →
//! [`Agent::report`] → report channel.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use tracing::{debug, info};

use super::{Agent, Outcome, ReportRequest};
use crate::error::Error;
use crate::model::{now_rfc3339, report_needed, ReportState, VipKey};
use crate::netlink::{AddOutcome, DelOutcome};
use crate::netstate::{IfAddr, NetState};
use crate::plan::{
    fence_for, plan, seed_announced, Action, PlanInput, MOVING_ANNOUNCE_INTERVAL,
    MOVING_ANNOUNCE_ROUNDS, SETTLE_INTERVAL, SETTLE_ROUNDS,
};

impl Agent {
    /// Plans and executes one VIP against the snapshot `net`.
    pub(super) async fn execute(
        &mut self,
        key: VipKey,
        net: &NetState,
        received: Instant,
    ) -> Outcome {
        let node = self.cfg.node.as_str();
        // A withdrawn VIP is planned as if deleted: its address goes, nothing is added.
        let withdrawn = self.withdrawn(&key);
        let vip = self.vips.get(&key).filter(|_| !withdrawn);
        let keep: BTreeSet<IpAddr> = self
            .vips
            .values()
            .filter(|v| v.key != key && v.desired_node.as_deref() == Some(node))
            .filter_map(|v| v.address.as_ref().ok().copied())
            .collect();
        // The fence changes before any address does: raised ahead of a removal (no moment in
        // which what the cloud delivers vanishes), lifted ahead of an add.
        let current = vip.and_then(|v| v.address.as_ref().ok().copied());
        let previous = self.memory.get(&key).and_then(|m| m.address);
        if let Some(prev) = previous.filter(|p| Some(*p) != current) {
            self.fence.lift(prev);
        }
        if let Some((address, want)) = fence_for(vip, node, &keep, &self.reserved) {
            self.fence.want(address, want, Instant::now());
        }
        super::sync_fence(&mut self.fence, &self.metrics, node);
        let mem = self.memory.entry(key.clone()).or_default();
        if !mem.seeded {
            if let Some(v) = vip {
                let present = v
                    .address
                    .as_ref()
                    .is_ok_and(|a| net.owned().any(|o| o.address == *a));
                mem.announced = seed_announced(v, present);
                mem.seeded = true;
            }
        }
        let p = plan(&PlanInput {
            node,
            vip,
            previous_address: mem.address,
            net,
            keep: &keep,
            last_announced: mem.announced.as_ref().map(|(at, _)| at.as_str()),
            reserved: &self.reserved,
        });
        let mut errors: Vec<Error> = p.error.into_iter().collect();
        let mut acted = false;
        let mut add_failed = false;
        for action in p.actions {
            match action {
                Action::Remove(a) => match self.net.delete_owned(&a).await {
                    Ok(DelOutcome::Deleted) => {
                        info!(vip = %key, address = %a.address, index = a.index, "address removed");
                        acted = true;
                    }
                    Ok(outcome) => {
                        debug!(vip = %key, address = %a.address, ?outcome, "nothing to remove")
                    }
                    Err(e) => errors.push(e),
                },
                Action::Add { link, address } => match self.net.add_owned(&link, address).await {
                    Ok(AddOutcome::Added) => {
                        self.metrics
                            .configure_seconds
                            .observe(received.elapsed().as_secs_f64());
                        info!(vip = %key, %address, interface = %link.name, "address added");
                        acted = true;
                    }
                    Ok(AddOutcome::AlreadyPresent) => {
                        debug!(vip = %key, %address, interface = %link.name, "address already present")
                    }
                    Err(e) => {
                        add_failed = true;
                        errors.push(e);
                    }
                },
                // Never announce an address this pass failed to configure.
                Action::Announce {
                    link,
                    address,
                    assigned_at,
                    count,
                    interval,
                } if !add_failed => {
                    // Right after a move this agent saw under way, the cloud's data plane
                    // may still lag its API: keep announcing fast for a moment first.
                    let settle = if mem.moving { SETTLE_ROUNDS } else { 0 };
                    mem.stop_announcing();
                    let phases = [(settle, SETTLE_INTERVAL), (count, interval)];
                    match self.announcer.start_phases(&link, address, &phases) {
                        Ok(task) => {
                            self.metrics
                                .announce_seconds
                                .observe(received.elapsed().as_secs_f64());
                            info!(vip = %key, %address, interface = %link.name, %assigned_at, count, "announced");
                            mem.announcing = task;
                            mem.announced = Some((assigned_at, now_rfc3339()));
                        }
                        Err(e) => errors.push(e),
                    }
                }
                Action::Announce { .. } => {}
                Action::AnnounceWhileMoving { link, address } if !add_failed && !mem.moving => {
                    mem.stop_announcing();
                    match self.announcer.start(
                        &link,
                        address,
                        MOVING_ANNOUNCE_ROUNDS,
                        MOVING_ANNOUNCE_INTERVAL,
                    ) {
                        Ok(task) => {
                            debug!(vip = %key, %address, interface = %link.name, "announcing while the cloud move is under way");
                            mem.announcing = task;
                            mem.moving = true;
                        }
                        Err(e) => errors.push(e),
                    }
                }
                Action::AnnounceWhileMoving { .. } => {}
            }
        }
        if !p.wanted {
            mem.stop_announcing();
        }
        mem.address = current;
        // A withdrawn VIP keeps its memory: the withdrawal lasts until API contact.
        if vip.is_none() && !withdrawn {
            if let Some(mut m) = self.memory.remove(&key) {
                m.stop_announcing();
            }
        }
        let mut errors = errors.into_iter();
        let error = errors.next();
        for extra in errors {
            self.count(&extra, "additional error");
        }
        Outcome {
            key,
            acted,
            interface: p.interface,
            error,
        }
    }

    /// Queues this node's report for the outcome's VIP when its state changed.
    pub(super) fn report(&mut self, outcome: Outcome, addrs: &[IfAddr]) {
        if let Some(e) = &outcome.error {
            self.count(e, "cannot apply the VIP on this node");
        }
        let (Some(vip), Some(mem)) = (
            self.vips.get(&outcome.key),
            self.memory.get_mut(&outcome.key),
        ) else {
            return;
        };
        let configured = vip
            .address
            .as_ref()
            .is_ok_and(|a| addrs.iter().any(|x| x.address == *a));
        let state = ReportState {
            address_configured: configured,
            interface: outcome.interface,
            announced_for: mem.announced.as_ref().map(|(f, _)| f.clone()),
            announced_at: mem
                .announced
                .as_ref()
                .map(|(_, a)| a.clone())
                .filter(|a| !a.is_empty()),
            last_error: outcome.error.map(|e| e.to_string()),
        };
        if !report_needed(
            mem.written.as_ref(),
            vip.reported.as_ref(),
            &state,
            outcome.acted,
        ) {
            return;
        }
        let report = state.to_report(&self.cfg.node, now_rfc3339());
        mem.written = Some(state);
        // The reporter lives as long as the process; a closed channel only happens at exit.
        let _ = self.reports.send(ReportRequest {
            key: outcome.key,
            report,
        });
    }
}
