//! In-memory timing of failovers in progress, per PostgresVip, on the monotonic clock.
//!
//! Data flow: the reconciler calls [`Failovers::start`] when it publishes a new member (the start
//! instant is when the leader change was first seen on the watch), marks each phase as it
//! completes, and [`Failovers::finish`] turns the timing into the `status.lastFailover` record
//! once the data path is verified. A controller restart loses timings in progress; the failover
//! still completes, it is just not measured.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pgvip_api::{FailoverPhases, FailoverRecord};

/// One failover being timed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// When the leader change was first seen.
    pub started: Instant,
    /// The same instant as RFC 3339 wall-clock time.
    pub started_wall: String,
    /// Node that held the address before.
    pub from: Option<String>,
    /// Node that gets it.
    pub to: String,
    /// The new holder's last "not primary yet" answer after the change (it was promoting).
    pub promoting_until: Option<Instant>,
    /// Decision made (the move starts then, its status write alongside).
    pub decided: Option<Instant>,
    /// Time spent in cloud calls.
    pub cloud: Duration,
    /// The cloud move returned successfully (the assignment's status write follows).
    pub assigned: Option<Instant>,
    /// The new node's agent sent its first announcement (its `announcedAt`, mapped onto
    /// this clock by [`instant_of`]).
    pub announced: Option<Instant>,
    /// The agent's report of it seen here.
    pub reported: Option<Instant>,
}

/// What [`Failovers::start`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new failover timing began.
    Started,
    /// A failover in progress now goes to another node; its start is kept.
    Retargeted,
    /// This failover is already being timed.
    Unchanged,
}

/// Pure: the record of a completed failover.
pub fn record(t: &Timing, verified: Instant) -> FailoverRecord {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let since = |a: Instant, b: Option<Instant>| {
        b.map(|b| b.saturating_duration_since(a))
            .unwrap_or_default()
    };
    let decided = t.decided.unwrap_or(t.started);
    let assigned = t.assigned.unwrap_or(decided);
    let reported = t.reported.unwrap_or(assigned).max(assigned);
    // An agent's clock a little ahead or behind must not move time across phases.
    let announced = t.announced.unwrap_or(reported).clamp(assigned, reported);
    FailoverRecord {
        from: t.from.clone(),
        to: t.to.clone(),
        at: t.started_wall.clone(),
        duration_millis: ms(verified.saturating_duration_since(t.started)),
        phases: FailoverPhases {
            decide_millis: ms(since(t.started, t.decided)),
            promotion_millis: ms(since(t.started, t.promoting_until)),
            cloud_millis: ms(t.cloud),
            announce_millis: ms(announced.saturating_duration_since(assigned)),
            report_millis: ms(reported.saturating_duration_since(announced)),
            verify_millis: ms(verified.saturating_duration_since(reported)),
        },
    }
}

/// Pure: the instant on this process's monotonic clock of `at`, a wall-clock time another
/// process wrote (RFC 3339), given `now` on both clocks. `None` when `at` does not parse or
/// lies in the future (a skewed clock); [`record`] clamps it into the phases it separates.
pub fn instant_of(at: &str, now: Instant, now_wall: DateTime<Utc>) -> Option<Instant> {
    let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    let ago = now_wall.signed_duration_since(at).to_std().ok()?;
    now.checked_sub(ago)
}

/// Timings of all failovers in progress, keyed by `namespace/name`, and per VIP the last
/// time its lock holder answered that it was not primary yet.
#[derive(Debug, Default)]
pub struct Failovers {
    inner: Mutex<HashMap<String, Timing>>,
    not_ready: Mutex<HashMap<String, (String, Instant)>>,
}

impl Failovers {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Timing>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that `pod`, holding `key`'s lock, answered at `at` that it is not primary yet.
    pub fn holder_not_ready(&self, key: &str, pod: &str, at: Instant) {
        let mut m = self.not_ready.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(key.to_string(), (pod.to_string(), at));
    }

    /// Starts (or retargets) the timing of a failover of `key` towards `pod` on `to`.
    pub fn start(
        &self,
        key: &str,
        from: Option<String>,
        (pod, to): (&str, &str),
        started: Instant,
        started_wall: String,
    ) -> Start {
        let not_ready = self
            .not_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        let promoting_until = not_ready
            .filter(|(p, at)| p == pod && *at >= started)
            .map(|(_, at)| at);
        let mut m = self.map();
        match m.get_mut(key) {
            Some(t) if t.to == to => Start::Unchanged,
            Some(t) => {
                t.to = to.to_string();
                t.promoting_until = promoting_until;
                t.decided = None;
                t.assigned = None;
                t.announced = None;
                t.reported = None;
                Start::Retargeted
            }
            None => {
                m.insert(
                    key.to_string(),
                    Timing {
                        started,
                        started_wall,
                        from,
                        to: to.to_string(),
                        promoting_until,
                        decided: None,
                        cloud: Duration::ZERO,
                        assigned: None,
                        announced: None,
                        reported: None,
                    },
                );
                Start::Started
            }
        }
    }

    /// Applies `f` to the timing of `key`, if one is running.
    pub fn update(&self, key: &str, f: impl FnOnce(&mut Timing)) {
        if let Some(t) = self.map().get_mut(key) {
            f(t);
        }
    }

    /// The timing of `key`, if one is running.
    pub fn get(&self, key: &str) -> Option<Timing> {
        self.map().get(key).cloned()
    }

    /// Ends the timing of `key` at `verified` and returns its record.
    pub fn finish(&self, key: &str, verified: Instant) -> Option<FailoverRecord> {
        self.map().remove(key).map(|t| record(&t, verified))
    }

    /// Drops the timing of `key` (the VIP lost its member). What its holder last answered is
    /// kept: a holder still promoting makes every pass before its confirmation unconfirmed.
    pub fn forget(&self, key: &str) {
        self.map().remove(key);
    }

    /// Drops everything about `key` (the VIP was deleted).
    pub fn forget_all(&self, key: &str) {
        self.forget(key);
        self.not_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_splits_phases() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let t = Timing {
            started: t0,
            started_wall: "2025-01-01T00:00:00.000Z".into(),
            from: Some("n1".into()),
            to: "n2".into(),
            promoting_until: Some(t0 + ms(25)),
            decided: Some(t0 + ms(40)),
            cloud: ms(700),
            assigned: Some(t0 + ms(760)),
            announced: Some(t0 + ms(790)),
            reported: Some(t0 + ms(900)),
        };
        let r = record(&t, t0 + ms(950));
        assert_eq!(r.duration_millis, 950);
        assert_eq!(r.phases.decide_millis, 40);
        assert_eq!(r.phases.promotion_millis, 25);
        assert_eq!(r.phases.cloud_millis, 700);
        assert_eq!(r.phases.announce_millis, 30);
        assert_eq!(r.phases.report_millis, 110);
        assert_eq!(r.phases.verify_millis, 50);
        assert_eq!(r.from.as_deref(), Some("n1"));
    }

    #[test]
    fn an_agents_clock_never_moves_time_across_phases() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // (announced relative to t0) → (announce, report): assigned at 100, reported at 200.
        let cases = [
            (Some(150), (50, 50)),
            (Some(20), (0, 100)), // clock behind: before the assignment it answered
            (Some(260), (100, 0)), // clock ahead: after its own report arrived
            (None, (100, 0)),     // no announcedAt: all of it is announce, as before
        ];
        for (announced, want) in cases {
            let t = Timing {
                started: t0,
                started_wall: String::new(),
                from: None,
                to: "n2".into(),
                promoting_until: None,
                decided: Some(t0 + ms(10)),
                cloud: Duration::ZERO,
                assigned: Some(t0 + ms(100)),
                announced: announced.map(|a| t0 + ms(a)),
                reported: Some(t0 + ms(200)),
            };
            let p = record(&t, t0 + ms(300)).phases;
            assert_eq!((p.announce_millis, p.report_millis), want, "{announced:?}");
            assert_eq!(p.verify_millis, 100);
        }
    }

    #[test]
    fn another_clocks_time_maps_onto_this_one() {
        let now = Instant::now() + Duration::from_secs(10);
        let wall = DateTime::parse_from_rfc3339("2025-05-01T10:00:01.000Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases = [
            (
                "2025-05-01T10:00:00.750Z",
                Some(now - Duration::from_millis(250)),
            ),
            ("2025-05-01T10:00:01.000Z", Some(now)),
            ("2025-05-01T10:00:01.200Z", None), // in the future
            ("not a time", None),
        ];
        for (at, want) in cases {
            assert_eq!(instant_of(at, now, wall), want, "{at}");
        }
    }

    #[test]
    fn start_is_idempotent_and_retarget_keeps_start() {
        let f = Failovers::default();
        let t0 = Instant::now();
        assert_eq!(
            f.start("ns/v", Some("a".into()), ("p1", "b"), t0, "w".into()),
            Start::Started
        );
        assert_eq!(
            f.start(
                "ns/v",
                None,
                ("p1", "b"),
                t0 + Duration::from_secs(1),
                "x".into()
            ),
            Start::Unchanged
        );
        assert_eq!(
            f.start(
                "ns/v",
                None,
                ("p2", "c"),
                t0 + Duration::from_secs(2),
                "x".into()
            ),
            Start::Retargeted
        );
        let t = f.get("ns/v").unwrap();
        assert_eq!(
            (t.started, t.from.as_deref(), t.to.as_str()),
            (t0, Some("a"), "c")
        );
        assert!(f.finish("ns/v", t0 + Duration::from_secs(3)).is_some());
        assert!(f.get("ns/v").is_none());
    }

    #[test]
    fn promotion_counts_only_the_new_holders_answers_after_the_change() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let cases = [
            // (who answered "not yet", when, relative to the change) → promotion ms
            (Some(("p2", 300)), 300),
            (Some(("p1", 300)), 0), // another member (the old holder)
            (None, 0),              // confirmed on its first answer
        ];
        for (not_ready, want) in cases {
            let f = Failovers::default();
            f.holder_not_ready("ns/v", "p2", t0 - ms(500)); // before the change: ignored
            if let Some((pod, after)) = not_ready {
                f.holder_not_ready("ns/v", pod, t0 + ms(after));
            }
            f.forget("ns/v"); // the unconfirmed pass that saw the answer
            f.start("ns/v", None, ("p2", "n2"), t0, "w".into());
            f.update("ns/v", |t| t.decided = Some(t0 + ms(400)));
            let r = f.finish("ns/v", t0 + ms(500)).unwrap();
            assert_eq!(r.phases.promotion_millis, want, "{not_ready:?}");
        }
        let f = Failovers::default();
        f.holder_not_ready("ns/v", "p2", t0 + ms(300));
        f.forget_all("ns/v"); // deleted
        f.start("ns/v", None, ("p2", "n2"), t0, "w".into());
        let r = f.finish("ns/v", t0 + ms(500)).unwrap();
        assert_eq!(r.phases.promotion_millis, 0);
    }
}
