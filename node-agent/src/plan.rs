//! The per-VIP decision, as a pure function: given the VIP's spec/status view, this node's
//! name, the node's addresses (pgvip-owned ones among them) and the `assignedAt` value last
//! announced for, which addresses to remove, which to add, and whether to announce.
//!
//! Data flow: `agent` snapshots netlink state, calls [`plan`], executes the actions in order
//! (removals first), then builds the report state from the outcome. The desired node holds
//! nothing when the address is one a Node or pod uses, or when the cloud move to it failed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::error::Error;
use crate::model::VipView;
use crate::netstate::{choose_interface, IfAddr, Link, NetState};

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// This node's name.
    pub node: &'a str,
    /// The VIP; `None` when it was deleted or the API hold expired (remove everything).
    pub vip: Option<&'a VipView>,
    /// The address this VIP had when last planned, to remove it after `spec.address` changed.
    pub previous_address: Option<IpAddr>,
    /// The node's links and addresses.
    pub net: &'a NetState,
    /// Addresses another VIP wants on this node (never removed on this VIP's behalf).
    pub keep: &'a BTreeSet<IpAddr>,
    /// The `cloud.assignedAt` this node last announced for.
    pub last_announced: Option<&'a str>,
    /// Addresses Nodes and pods use (canonical), with who uses them: never configured.
    pub reserved: &'a BTreeMap<IpAddr, String>,
}

/// Gap between announcements while the cloud move to this node is under way.
pub const MOVING_ANNOUNCE_INTERVAL: Duration = Duration::from_millis(10);
/// At most this many of them (3 s); the regular announcement follows the assignment.
pub const MOVING_ANNOUNCE_ROUNDS: u32 = 300;

/// After the assignment, announce this often for [`SETTLE_ROUNDS`] rounds before the
/// configured rounds: the cloud's data plane may apply the move a little after its API said so
/// (the simulator's fabric takes tens of milliseconds), and a claim sent before that is dropped.
pub const SETTLE_INTERVAL: Duration = Duration::from_millis(10);
/// Rounds of the settling phase (500 ms).
pub const SETTLE_ROUNDS: u32 = 50;

/// One side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Delete a pgvip-owned address.
    Remove(IfAddr),
    /// Add `address` as a pgvip-owned host address on `link`.
    Add {
        /// Target interface.
        link: Link,
        /// The VIP.
        address: IpAddr,
    },
    /// Announce every [`MOVING_ANNOUNCE_INTERVAL`] while the cloud move to this node is under
    /// way (once per move: the executor does not restart a running burst). The fabric drops a
    /// claim from a port the address is not assigned to, so the first one after the move lands
    /// within an interval of it, instead of after the controller's read-back and status write.
    AnnounceWhileMoving {
        /// Interface to send on.
        link: Link,
        /// The VIP.
        address: IpAddr,
    },
    /// Send `count` announcement rounds, `interval` apart, the first at once.
    Announce {
        /// Interface to send on.
        link: Link,
        /// The VIP.
        address: IpAddr,
        /// The `cloud.assignedAt` this announcement is for.
        assigned_at: String,
        /// Rounds.
        count: u32,
        /// Gap between rounds.
        interval: Duration,
    },
}

/// The decision for one VIP.
#[derive(Debug, Default)]
pub struct Plan {
    /// Side effects in execution order.
    pub actions: Vec<Action>,
    /// The interface the address is (or would be) on, for the report.
    pub interface: Option<String>,
    /// A problem that prevents acting, for the report and the error metric.
    pub error: Option<Error>,
    /// True when this node should hold the address.
    pub wanted: bool,
}

/// Decides what to do for one VIP on this node.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut out = Plan::default();
    let current = input.vip.and_then(|v| v.address.as_ref().ok().copied());

    if let Some(prev) = input.previous_address.filter(|p| Some(*p) != current) {
        remove_owned(&mut out, input, prev, |_| true);
    }
    let Some(vip) = input.vip else {
        return out;
    };
    let address = match &vip.address {
        Ok(a) => *a,
        Err(raw) => {
            out.error = Some(Error::InvalidAddress(raw.clone()));
            return out;
        }
    };
    if vip.desired_node.as_deref() != Some(input.node) {
        // A demoted previous holder keeps what it has until the cloud moved the address away.
        if !vip.drains_on(input.node) {
            remove_owned(&mut out, input, address, |_| true);
        }
        return out;
    }
    // The desired node, but the address is taken, or the cloud refused to move it here:
    // hold nothing (fail closed) and say why in the report.
    if let Some(user) = input.reserved.get(&address.to_canonical()) {
        remove_owned(&mut out, input, address, |_| true);
        out.error = Some(Error::AddressInUse {
            address,
            user: user.clone(),
        });
        return out;
    }
    if let Some(why) = vip.withheld_on(input.node) {
        remove_owned(&mut out, input, address, |_| true);
        out.error = Some(Error::Withheld(why.to_string()));
        return out;
    }
    out.wanted = true;
    let link = match choose_interface(input.net, address, vip.interface.as_deref()) {
        Ok(link) => link.clone(),
        Err(e) => {
            // Leave whatever is there: the node should hold the address, and the error is
            // reported so a person can fix the interface setting.
            out.error = Some(e);
            return out;
        }
    };
    out.interface = Some(link.name.clone());
    // Move the address if it sits on another interface (spec.announce.interface changed).
    remove_owned(&mut out, input, address, |a| a.index != link.index);
    let on_target = input
        .net
        .owned()
        .any(|a| a.address == address && a.index == link.index);
    if !on_target {
        out.actions.push(Action::Add {
            link: link.clone(),
            address,
        });
    }
    if vip.assigned_node.as_deref() != Some(input.node) {
        out.actions.push(Action::AnnounceWhileMoving {
            link: link.clone(),
            address,
        });
    }
    if let Some(at) = announce_for(vip, input.node, input.last_announced) {
        out.actions.push(Action::Announce {
            link,
            address,
            assigned_at: at.to_string(),
            count: vip.garp_count,
            interval: vip.garp_interval,
        });
    }
    out
}

fn remove_owned(
    out: &mut Plan,
    input: &PlanInput<'_>,
    address: IpAddr,
    pick: impl Fn(&IfAddr) -> bool,
) {
    if input.keep.contains(&address) {
        return;
    }
    for a in input
        .net
        .owned()
        .filter(|a| a.address == address && pick(a))
    {
        out.actions.push(Action::Remove(a.clone()));
    }
}

/// The `assignedAt` to announce for: set when `desiredNode == assignedNode == node` and the
/// value differs from the one last announced for (so a move back announces again).
pub fn announce_for<'a>(vip: &'a VipView, node: &str, last: Option<&str>) -> Option<&'a str> {
    let here =
        vip.desired_node.as_deref() == Some(node) && vip.assigned_node.as_deref() == Some(node);
    vip.assigned_at
        .as_deref()
        .filter(|at| here && Some(*at) != last)
}

/// The `(announcedFor, announcedAt)` to start from when a VIP is first seen after start-up:
/// the node's own report, but only when the owned address is still present (after a reboot
/// that lost the address, announce again).
pub fn seed_announced(vip: &VipView, address_present: bool) -> Option<(String, String)> {
    let r = vip.reported.as_ref().filter(|_| address_present)?;
    Some((
        r.announced_for.clone()?,
        r.announced_at.clone().unwrap_or_default(),
    ))
}

/// What the fence (see [`crate::fence`]) should do about one VIP's address on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceWant {
    /// Reset TCP to the address: the cloud routes it here, and this node must not serve it.
    Raise,
    /// No fence, now: this node holds (or is about to hold) the address, or it is not a VIP's.
    Lift,
    /// No reason to fence any more: let an existing fence go after its linger.
    Lapse,
}

/// The fence decision for `vip`'s address on `node`: raised while the cloud still assigns the
/// address here but this node is neither the desired holder nor draining it (the address is
/// then off this node, and what the cloud still delivers would otherwise vanish). Never for an
/// address a Node or pod uses, or one another VIP wants here (`keep`).
pub fn fence_for(
    vip: Option<&VipView>,
    node: &str,
    keep: &BTreeSet<IpAddr>,
    reserved: &BTreeMap<IpAddr, String>,
) -> Option<(IpAddr, FenceWant)> {
    let vip = vip?;
    let address = *vip.address.as_ref().ok()?;
    let want = if keep.contains(&address)
        || reserved.contains_key(&address.to_canonical())
        || vip.desired_node.as_deref() == Some(node)
        || vip.drains_on(node)
    {
        FenceWant::Lift
    } else if vip.assigned_node.as_deref() == Some(node) {
        FenceWant::Raise
    } else {
        FenceWant::Lapse
    };
    Some((address, want))
}

/// Owned addresses that no known VIP has: left over from a deleted VIP or an old address.
pub fn orphans<'a>(net: &'a NetState, known: &BTreeSet<IpAddr>) -> Vec<&'a IfAddr> {
    net.owned()
        .filter(|a| !known.contains(&a.address))
        .collect()
}

#[cfg(test)]
mod tests;
