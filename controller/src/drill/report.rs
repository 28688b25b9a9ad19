//! Pure: the drill's status at each step (refused, running, finished) and the verdict against
//! the objective.
//!
//! Data flow: the drill reconcile hands in what it learned; these functions return the next
//! `PostgresVipDrillStatus`, which the reconcile writes as is.

use std::time::Duration;

use pgvip_api::drill::{drill_condition, DrillMember, DrillOutage, DrillPhase};
use pgvip_api::{FailoverPhases, PostgresVipDrillStatus};

use crate::conditions::{set, FALSE, TRUE, UNKNOWN};

/// How a drill that ran ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// Writes resumed on the new primary after `outage`.
    Measured(Duration),
    /// Patroni refused the switchover (the reason's message).
    Rejected(String),
    /// Writes did not resume within the drill's timeout (the last probe error).
    TimedOut(String),
    /// The controller that ran it stopped before it finished.
    Interrupted,
}

/// The status of a drill that will not start.
pub fn refused(
    mut st: PostgresVipDrillStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> PostgresVipDrillStatus {
    st.phase = DrillPhase::Refused;
    st.observed_generation = generation;
    st.finished_at = Some(now.to_string());
    st.message = format!("refused: {message}");
    set(
        &mut st.conditions,
        drill_condition::COMPLETE,
        TRUE,
        "Refused",
        message,
        generation,
        now,
    );
    set(
        &mut st.conditions,
        drill_condition::SUCCEEDED,
        FALSE,
        reason,
        message,
        generation,
        now,
    );
    st
}

/// The status of a drill whose switchover is being asked for.
pub fn running(
    mut st: PostgresVipDrillStatus,
    from: DrillMember,
    to: DrillMember,
    generation: Option<i64>,
    now: &str,
) -> PostgresVipDrillStatus {
    let msg = format!(
        "switching over from {} to {} and measuring through the VIP",
        from.member, to.member
    );
    st.phase = DrillPhase::Running;
    st.observed_generation = generation;
    st.started_at = Some(now.to_string());
    st.from = Some(from);
    st.to = Some(to);
    st.message = msg.clone();
    set(
        &mut st.conditions,
        drill_condition::COMPLETE,
        FALSE,
        "Running",
        &msg,
        generation,
        now,
    );
    set(
        &mut st.conditions,
        drill_condition::SUCCEEDED,
        UNKNOWN,
        "Running",
        &msg,
        generation,
        now,
    );
    st
}

/// What a finished drill measured, besides how it ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// `write` or `rest`.
    pub probe: String,
    /// Attempts and failures from the switchover request on.
    pub attempts: u64,
    /// See `attempts`.
    pub failed: u64,
    /// The outage so far when it did not end with [`Ending::Measured`].
    pub outage_so_far: Duration,
    /// pgvip's phases of the failover, when the PostgresVip recorded it.
    pub phases: Option<FailoverPhases>,
    /// The member that became primary, when it differs from the asked-for candidate.
    pub new_primary: Option<DrillMember>,
}

/// The status of a drill that ran, and the result label for metrics.
pub fn finished(
    mut st: PostgresVipDrillStatus,
    ending: &Ending,
    m: Measured,
    objective: Duration,
    generation: Option<i64>,
    now: &str,
) -> (PostgresVipDrillStatus, &'static str) {
    let objective_ms = objective.as_millis() as u64;
    let outage = match ending {
        Ending::Measured(o) => *o,
        _ => m.outage_so_far,
    };
    let outage_ms = outage.as_millis() as u64;
    if let Some(np) = m.new_primary {
        st.to = Some(np);
    }
    let to = st.to.as_ref().map(|t| t.member.clone()).unwrap_or_default();
    let (passed, reason, message) = match ending {
        Ending::Measured(_) if outage_ms <= objective_ms => (
            true,
            "ObjectiveMet",
            format!("writes through the VIP resumed on {to} after {outage_ms} ms (objective {objective_ms} ms)"),
        ),
        Ending::Measured(_) => (
            false,
            "ObjectiveMissed",
            format!("writes through the VIP resumed on {to} after {outage_ms} ms, over the objective of {objective_ms} ms; see the phases for where the time went"),
        ),
        Ending::Rejected(why) => (
            false,
            "SwitchoverRejected",
            format!("Patroni did not switch over: {why}"),
        ),
        Ending::TimedOut(why) => (
            false,
            "WritesDidNotResume",
            format!("writes through the VIP had not resumed on a new primary {outage_ms} ms after the switchover request (last error: {why}); check the PostgresVip's conditions"),
        ),
        Ending::Interrupted => (
            false,
            "Interrupted",
            "the controller running this drill stopped (restart or leader change) before it finished; the switchover may have happened; create a new drill to measure again".to_string(),
        ),
    };
    st.phase = if passed {
        DrillPhase::Succeeded
    } else {
        DrillPhase::Failed
    };
    st.observed_generation = generation;
    st.finished_at = Some(now.to_string());
    st.objective_millis = Some(objective_ms);
    if *ending != Ending::Interrupted {
        st.outage = Some(DrillOutage {
            millis: outage_ms,
            probe: m.probe,
            attempts: m.attempts,
            failed: m.failed,
        });
        st.phases = m.phases;
    }
    st.message = message.clone();
    let result = if passed { "passed" } else { "failed" };
    set(
        &mut st.conditions,
        drill_condition::COMPLETE,
        TRUE,
        if passed { "Passed" } else { "Failed" },
        &message,
        generation,
        now,
    );
    set(
        &mut st.conditions,
        drill_condition::SUCCEEDED,
        if passed { TRUE } else { FALSE },
        reason,
        &message,
        generation,
        now,
    );
    (st, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::get;

    fn member(m: &str) -> DrillMember {
        DrillMember {
            member: m.into(),
            node: Some(format!("node-of-{m}")),
        }
    }

    fn started() -> PostgresVipDrillStatus {
        running(
            Default::default(),
            member("pg-0"),
            member("pg-1"),
            Some(1),
            "t0",
        )
    }

    #[test]
    fn running_then_passed() {
        let st = started();
        assert_eq!(st.phase, DrillPhase::Running);
        assert_eq!(get(&st.conditions, "Complete").unwrap().status, "False");
        let m = Measured {
            probe: "write".into(),
            attempts: 60,
            failed: 40,
            ..Default::default()
        };
        let (st, result) = finished(
            st,
            &Ending::Measured(Duration::from_millis(2400)),
            m,
            Duration::from_secs(5),
            Some(1),
            "t1",
        );
        assert_eq!(result, "passed");
        assert_eq!(st.phase, DrillPhase::Succeeded);
        assert_eq!(st.outage.as_ref().unwrap().millis, 2400);
        assert_eq!(st.objective_millis, Some(5000));
        let c = get(&st.conditions, "Complete").unwrap();
        assert_eq!(
            (c.status.as_str(), c.last_transition_time.as_str()),
            ("True", "t1")
        );
        assert_eq!(
            get(&st.conditions, "Succeeded").unwrap().reason,
            "ObjectiveMet"
        );
        assert_eq!(st.started_at.as_deref(), Some("t0"));
    }

    #[test]
    fn endings_table() {
        let cases = [
            (
                Ending::Measured(Duration::from_millis(5001)),
                "ObjectiveMissed",
                true,
            ),
            (Ending::Rejected("412".into()), "SwitchoverRejected", true),
            (
                Ending::TimedOut("refused".into()),
                "WritesDidNotResume",
                true,
            ),
            (Ending::Interrupted, "Interrupted", false),
        ];
        for (ending, reason, has_outage) in cases {
            let (st, result) = finished(
                started(),
                &ending,
                Measured::default(),
                Duration::from_secs(5),
                None,
                "t1",
            );
            assert_eq!(result, "failed", "{ending:?}");
            assert_eq!(st.phase, DrillPhase::Failed, "{ending:?}");
            assert_eq!(get(&st.conditions, "Succeeded").unwrap().reason, reason);
            assert_eq!(st.outage.is_some(), has_outage, "{ending:?}");
        }
    }

    #[test]
    fn refused_is_complete_and_not_succeeded() {
        let st = refused(
            Default::default(),
            "FailoverNotReady",
            "agent missing on w2",
            Some(2),
            "t",
        );
        assert_eq!(st.phase, DrillPhase::Refused);
        assert!(st.phase.is_final());
        assert_eq!(get(&st.conditions, "Complete").unwrap().status, "True");
        let s = get(&st.conditions, "Succeeded").unwrap();
        assert_eq!(
            (s.status.as_str(), s.reason.as_str()),
            ("False", "FailoverNotReady")
        );
        assert!(st.message.contains("agent missing"));
    }

    #[test]
    fn a_different_new_primary_is_recorded() {
        let m = Measured {
            new_primary: Some(member("pg-2")),
            ..Default::default()
        };
        let (st, _) = finished(
            started(),
            &Ending::Measured(Duration::from_millis(10)),
            m,
            Duration::from_secs(1),
            None,
            "t",
        );
        assert_eq!(st.to.unwrap().member, "pg-2");
    }
}
