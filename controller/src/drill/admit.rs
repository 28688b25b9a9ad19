//! Pure: may a drill start now, and which member does it switch over to.
//!
//! Data flow: the drill reconcile gathers [`VipFacts`] (the PostgresVip as the API returns it,
//! plus whether this controller is timing a failover of it) and Patroni's `GET /cluster`
//! members; [`admit`] and [`pick_candidate`] turn them into the plan or a [`Refusal`] whose
//! reason and message go into the drill's status unchanged.

use pgvip_api::{condition, Condition, LeaderStatus, PostgresVip, VipRole};

use crate::conditions::{get, TRUE};
use crate::drill::patroni_api::Member;

/// What the drill needs to know about its PostgresVip.
#[derive(Clone, Debug, Default)]
pub struct VipFacts {
    /// The VIP follows the primary (not a replica).
    pub primary: bool,
    /// The VIP follows a Patroni cluster (a label source cannot be switched over).
    pub patroni: bool,
    /// Its `Ready` condition.
    pub ready: Option<Condition>,
    /// Its `FailoverReady` condition.
    pub failover_ready: Option<Condition>,
    /// The confirmed member.
    pub leader: Option<LeaderStatus>,
    /// `desiredNode`, `assignedNode` and `drainNode`.
    pub desired: Option<String>,
    /// See `desired`.
    pub assigned: Option<String>,
    /// See `desired`.
    pub drain: Option<String>,
    /// This controller is timing a failover of the VIP right now.
    pub failover_in_progress: bool,
}

impl VipFacts {
    /// The facts of `vip`.
    pub fn of(vip: &PostgresVip, failover_in_progress: bool) -> Self {
        let st = vip.status.clone().unwrap_or_default();
        Self {
            primary: vip.spec.role == VipRole::Primary,
            patroni: vip.spec.patroni.is_some(),
            ready: get(&st.conditions, condition::READY).cloned(),
            failover_ready: get(&st.conditions, condition::FAILOVER_READY).cloned(),
            leader: st.leader,
            desired: st.desired_node,
            assigned: st.assigned_node,
            drain: st.drain_node,
            failover_in_progress,
        }
    }
}

/// Why a drill does not start. [`Refusal::reason`] is the condition reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The PostgresVip does not exist.
    VipNotFound(String),
    /// The VIP cannot be drilled by design (replica VIP, label source).
    Unsupported(String),
    /// The VIP is not Ready: there is nothing healthy to measure against.
    VipNotReady(String),
    /// FailoverReady is not True: some candidate could not take the address over.
    FailoverNotReady(String),
    /// A failover (or another drill) of this VIP is under way.
    FailoverInProgress(String),
    /// No member may be switched over to, or the named one may not.
    CandidateNotReady(String),
    /// Patroni's REST API or a Secret the drill names could not be used.
    CannotAsk(String),
    /// The probe could not get through the VIP before the switchover.
    ProbeFailing(String),
}

impl Refusal {
    /// CamelCase reason for the `Succeeded` condition and the Event.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::VipNotFound(_) => "VipNotFound",
            Refusal::Unsupported(_) => "Unsupported",
            Refusal::VipNotReady(_) => "VipNotReady",
            Refusal::FailoverNotReady(_) => "FailoverNotReady",
            Refusal::FailoverInProgress(_) => "FailoverInProgress",
            Refusal::CandidateNotReady(_) => "CandidateNotReady",
            Refusal::CannotAsk(_) => "CannotAskPatroni",
            Refusal::ProbeFailing(_) => "ProbeFailing",
        }
    }

    /// What to tell the user.
    pub fn message(&self) -> &str {
        match self {
            Refusal::VipNotFound(m)
            | Refusal::Unsupported(m)
            | Refusal::VipNotReady(m)
            | Refusal::FailoverNotReady(m)
            | Refusal::FailoverInProgress(m)
            | Refusal::CandidateNotReady(m)
            | Refusal::CannotAsk(m)
            | Refusal::ProbeFailing(m) => m,
        }
    }
}

fn is_true(c: &Option<Condition>) -> bool {
    c.as_ref().is_some_and(|c| c.status == TRUE)
}

fn why(c: &Option<Condition>) -> String {
    match c {
        Some(c) => format!("{} ({}): {}", c.status, c.reason, c.message),
        None => "not reported yet".to_string(),
    }
}

/// Whether a drill of the VIP may start; the current leader when it may. `other_drill` names a
/// drill of the same VIP that is running.
pub fn admit(v: &VipFacts, vip: &str, other_drill: Option<&str>) -> Result<LeaderStatus, Refusal> {
    if !v.primary {
        return Err(Refusal::Unsupported(format!(
            "PostgresVip {vip} follows a replica; a drill switches the primary over, so it needs a primary VIP"
        )));
    }
    if !v.patroni {
        return Err(Refusal::Unsupported(format!(
            "PostgresVip {vip} follows label-marked members; a drill asks Patroni's REST API for the switchover, so it needs spec.patroni"
        )));
    }
    if let Some(d) = other_drill {
        return Err(Refusal::FailoverInProgress(format!(
            "drill {d} of PostgresVip {vip} is running; one drill at a time"
        )));
    }
    if v.failover_in_progress || v.drain.is_some() || v.desired != v.assigned {
        return Err(Refusal::FailoverInProgress(format!(
            "a failover of PostgresVip {vip} is under way (desired node {}, assigned node {}); try again when it is Ready",
            v.desired.as_deref().unwrap_or("none"),
            v.assigned.as_deref().unwrap_or("none")
        )));
    }
    if !is_true(&v.ready) {
        return Err(Refusal::VipNotReady(format!(
            "PostgresVip {vip} is not Ready: {}",
            why(&v.ready)
        )));
    }
    if !is_true(&v.failover_ready) {
        return Err(Refusal::FailoverNotReady(format!(
            "PostgresVip {vip} is not FailoverReady: {}",
            why(&v.failover_ready)
        )));
    }
    v.leader
        .clone()
        .ok_or_else(|| Refusal::VipNotReady(format!("PostgresVip {vip} has no confirmed leader")))
}

/// Patroni member states in which a replica can be promoted.
fn healthy(m: &Member) -> bool {
    matches!(m.state.as_str(), "streaming" | "running")
}

/// Roles of synchronous standbys (`sync_standby`; `quorum_standby` in Patroni 4's quorum mode).
fn synchronous(m: &Member) -> bool {
    matches!(m.role.as_str(), "sync_standby" | "quorum_standby")
}

/// The member to switch over to: `requested` when it is a healthy replica that may be
/// promoted, else the healthy replica with the least lag (ties by name). When the cluster has
/// synchronous standbys (`synchronous_mode`), only they may be promoted: Patroni refuses a
/// switchover to any other member (412 "candidate name does not match with sync_standby").
/// `sync_config` is the cluster's `synchronous_mode`: on, with no synchronous standby yet
/// (right after a switchover), nobody may be promoted.
pub fn pick_candidate(
    members: &[Member],
    leader: &str,
    requested: Option<&str>,
    sync_config: bool,
) -> Result<String, Refusal> {
    let sync_mode = sync_config || members.iter().any(synchronous);
    let eligible = |m: &&Member| {
        m.name != leader
            && m.role != "leader"
            && m.role != "standby_leader"
            && healthy(m)
            && !m.nofailover
            && (!sync_mode || synchronous(m))
    };
    if let Some(name) = requested {
        let Some(m) = members.iter().find(|m| m.name == name) else {
            return Err(Refusal::CandidateNotReady(format!(
                "candidate {name} is not a member of the cluster (members: {})",
                names(members)
            )));
        };
        if m.name == leader {
            return Err(Refusal::CandidateNotReady(format!(
                "candidate {name} is the current primary; name a replica"
            )));
        }
        if !eligible(&m) {
            let sync_note = if sync_mode && !synchronous(m) {
                "; the cluster runs synchronous_mode and Patroni switches over only to a synchronous standby"
            } else {
                ""
            };
            return Err(Refusal::CandidateNotReady(format!(
                "candidate {name} cannot be promoted: role {}, state {}{}{sync_note}",
                m.role,
                m.state,
                if m.nofailover {
                    ", tagged nofailover"
                } else {
                    ""
                }
            )));
        }
        return Ok(m.name.clone());
    }
    members
        .iter()
        .filter(eligible)
        .min_by(|a, b| {
            a.lag
                .unwrap_or(u64::MAX)
                .cmp(&b.lag.unwrap_or(u64::MAX))
                .then(a.name.cmp(&b.name))
        })
        .map(|m| m.name.clone())
        .ok_or_else(|| {
            Refusal::CandidateNotReady(format!(
                "no replica can be promoted{} (members: {})",
                if sync_mode {
                    " (synchronous_mode: only a synchronous standby may be, and none is yet; try again in a few seconds)"
                } else {
                    ""
                },
                names(members)
            ))
        })
}

fn names(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| format!("{} {}/{}", m.name, m.role, m.state))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: &str, reason: &str) -> Option<Condition> {
        Some(Condition {
            type_: "X".into(),
            status: status.into(),
            reason: reason.into(),
            message: "m".into(),
            last_transition_time: "t".into(),
            observed_generation: None,
        })
    }

    fn healthy_vip() -> VipFacts {
        VipFacts {
            primary: true,
            patroni: true,
            ready: cond("True", "Verified"),
            failover_ready: cond("True", "AllCandidatesReady"),
            leader: Some(LeaderStatus {
                pod: "pg-0".into(),
                node: "w1".into(),
                pod_ip: "10.0.0.1".into(),
            }),
            desired: Some("w1".into()),
            assigned: Some("w1".into()),
            drain: None,
            failover_in_progress: false,
        }
    }

    #[test]
    fn admission_table() {
        type Edit = fn(&mut VipFacts);
        let cases: &[(&str, Edit, Option<&str>, Option<&str>)] = &[
            ("healthy", |_| {}, None, None),
            (
                "replica VIP",
                |v| v.primary = false,
                None,
                Some("Unsupported"),
            ),
            (
                "label source",
                |v| v.patroni = false,
                None,
                Some("Unsupported"),
            ),
            (
                "other drill",
                |_| {},
                Some("d1"),
                Some("FailoverInProgress"),
            ),
            (
                "timing a failover",
                |v| v.failover_in_progress = true,
                None,
                Some("FailoverInProgress"),
            ),
            (
                "draining",
                |v| v.drain = Some("w0".into()),
                None,
                Some("FailoverInProgress"),
            ),
            (
                "move pending",
                |v| v.desired = Some("w2".into()),
                None,
                Some("FailoverInProgress"),
            ),
            (
                "not ready",
                |v| v.ready = cond("False", "CloudMoveFailed"),
                None,
                Some("VipNotReady"),
            ),
            (
                "ready unknown",
                |v| v.ready = None,
                None,
                Some("VipNotReady"),
            ),
            (
                "not failover ready",
                |v| v.failover_ready = cond("False", "AgentMissing"),
                None,
                Some("FailoverNotReady"),
            ),
            ("no leader", |v| v.leader = None, None, Some("VipNotReady")),
        ];
        for (name, edit, other, want) in cases {
            let mut v = healthy_vip();
            edit(&mut v);
            let got = admit(&v, "db", *other);
            match want {
                None => assert_eq!(got.map(|l| l.pod), Ok("pg-0".into()), "{name}"),
                Some(r) => assert_eq!(got.map_err(|e| e.reason()).err(), Some(*r), "{name}"),
            }
        }
    }

    #[test]
    fn refusal_names_the_failing_condition() {
        let mut v = healthy_vip();
        v.failover_ready = cond("False", "AgentMissing");
        let e = admit(&v, "db", None).unwrap_err();
        assert!(e.message().contains("AgentMissing"), "{}", e.message());
    }

    fn m(name: &str, role: &str, state: &str, lag: Option<u64>, nofailover: bool) -> Member {
        Member {
            name: name.into(),
            role: role.into(),
            state: state.into(),
            host: None,
            lag,
            nofailover,
        }
    }

    #[test]
    fn candidate_table() {
        let members = vec![
            m("pg-0", "leader", "running", None, false),
            m("pg-1", "replica", "streaming", Some(100), false),
            m("pg-2", "replica", "streaming", Some(0), false),
            m("pg-3", "replica", "streaming", Some(0), true),
            m("pg-4", "replica", "stopped", Some(0), false),
        ];
        let cases: &[(Option<&str>, Result<&str, &str>)] = &[
            (None, Ok("pg-2")),
            (Some("pg-1"), Ok("pg-1")),
            (Some("pg-0"), Err("current primary")),
            (Some("pg-3"), Err("nofailover")),
            (Some("pg-4"), Err("state stopped")),
            (Some("pg-9"), Err("not a member")),
        ];
        for (req, want) in cases {
            let got = pick_candidate(&members, "pg-0", *req, false);
            match want {
                Ok(n) => assert_eq!(got, Ok(n.to_string()), "{req:?}"),
                Err(part) => {
                    let e = got.unwrap_err();
                    assert_eq!(e.reason(), "CandidateNotReady");
                    assert!(e.message().contains(part), "{req:?}: {}", e.message());
                }
            }
        }
    }

    #[test]
    fn synchronous_mode_allows_only_the_sync_standby() {
        let members = vec![
            m("pg-0", "leader", "running", None, false),
            m("pg-1", "replica", "streaming", Some(0), false),
            m("pg-2", "sync_standby", "streaming", Some(10), false),
        ];
        assert_eq!(
            pick_candidate(&members, "pg-0", None, false),
            Ok("pg-2".to_string())
        );
        let e = pick_candidate(&members, "pg-0", Some("pg-1"), false).unwrap_err();
        assert!(e.message().contains("synchronous"), "{}", e.message());
        let quorum = vec![
            m("pg-0", "leader", "running", None, false),
            m("pg-1", "quorum_standby", "streaming", Some(0), false),
            m("pg-2", "replica", "streaming", Some(0), false),
        ];
        assert_eq!(
            pick_candidate(&quorum, "pg-0", None, false),
            Ok("pg-1".to_string())
        );
    }

    #[test]
    fn synchronous_mode_without_a_sync_standby_yet() {
        let members = vec![
            m("pg-0", "leader", "running", None, false),
            m("pg-1", "replica", "streaming", Some(0), false),
        ];
        let e = pick_candidate(&members, "pg-0", None, true).unwrap_err();
        assert!(e.message().contains("none is yet"), "{}", e.message());
    }

    #[test]
    fn no_candidate_at_all() {
        let members = vec![
            m("pg-0", "leader", "running", None, false),
            m("pg-1", "replica", "starting", None, false),
        ];
        let e = pick_candidate(&members, "pg-0", None, false).unwrap_err();
        assert!(e.message().contains("no replica"), "{}", e.message());
    }
}
