//! Fail-closed timing, as pure functions over timestamps. The agent may keep what it holds
//! while the API server is unreachable for at most the hold time (default 30 s, Patroni's
//! default `ttl`: by then Patroni itself has demoted a primary that cannot reach the DCS);
//! after that it removes every address it owns, and re-applies the last known state when the
//! watch comes back.
//!
//! Data flow: `agent` feeds contact signals (watch events, successful probes, watch errors)
//! into [`ApiContact`] and asks [`ApiContact::verdict`] when to fail closed.

use std::time::{Duration, Instant};

/// What to do about the API server's reachability at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// In contact, or out of contact for less than the hold time; fail closed at `deadline`.
    Hold {
        /// When the hold expires unless contact is re-established.
        deadline: Instant,
    },
    /// Out of contact for longer than the hold time: remove everything.
    Expired,
}

/// The core decision: out of contact since `last_contact` for longer than `hold`?
pub fn verdict(now: Instant, last_contact: Instant, hold: Duration) -> Verdict {
    let deadline = last_contact + hold;
    if now >= deadline {
        Verdict::Expired
    } else {
        Verdict::Hold { deadline }
    }
}

/// When the loop must fail closed, given the verdict at `now` and whether it already did: at
/// the hold's deadline, at once when the deadline passed while the loop was busy with
/// something else (else it would never fire), never again once failed closed.
pub fn fail_closed_at(v: Verdict, already: bool, now: Instant) -> Option<Instant> {
    match v {
        _ if already => None,
        Verdict::Hold { deadline } => Some(deadline),
        Verdict::Expired => Some(now),
    }
}

/// Tracks the last moment the agent knew its view of the API was current.
///
/// Contact is refreshed by any watch event, and by a successful probe of the API server
/// while the watch is healthy. A failing watch stops probes from counting: an API server
/// that answers `/version` but refuses the watch (RBAC, a broken CRD) is no better than an
/// unreachable one.
#[derive(Debug, Clone)]
pub struct ApiContact {
    hold: Duration,
    last: Instant,
    watch_failing: bool,
}

impl ApiContact {
    /// Starts counting at `start` (process start: no contact yet, the hold runs from here).
    pub fn new(hold: Duration, start: Instant) -> Self {
        Self {
            hold,
            last: start,
            watch_failing: false,
        }
    }

    /// A watch event arrived: the watch is healthy and current.
    pub fn on_watch_event(&mut self, now: Instant) {
        self.watch_failing = false;
        self.last = self.last.max(now);
    }

    /// The watch reported an error; contact is not refreshed until it delivers again.
    pub fn on_watch_error(&mut self) {
        self.watch_failing = true;
    }

    /// A probe of the API server succeeded.
    pub fn on_probe_ok(&mut self, now: Instant) {
        if !self.watch_failing {
            self.last = self.last.max(now);
        }
    }

    /// The verdict at `now`.
    pub fn verdict(&self, now: Instant) -> Verdict {
        verdict(now, self.last, self.hold)
    }

    /// The last moment of contact.
    pub fn last(&self) -> Instant {
        self.last
    }

    /// The configured hold time.
    pub fn hold(&self) -> Duration {
        self.hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict "keep holding; fail closed at `deadline`".
    fn hold_until(deadline: Instant) -> Verdict {
        Verdict::Hold { deadline }
    }

    #[test]
    fn verdict_table() {
        let t0 = Instant::now();
        let hold = Duration::from_secs(30);
        let s = Duration::from_secs;
        let cases = [
            (s(0), hold_until(t0 + hold)),
            (s(29), hold_until(t0 + hold)),
            (s(30), Verdict::Expired),
            (s(31), Verdict::Expired),
        ];
        for (elapsed, want) in cases {
            assert_eq!(verdict(t0 + elapsed, t0, hold), want, "{elapsed:?}");
        }
    }

    #[test]
    fn fail_closed_at_table() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let cases = [
            (hold_until(later), false, Some(later)),
            (Verdict::Expired, false, Some(now)),
            (hold_until(later), true, None),
            (Verdict::Expired, true, None),
        ];
        for (v, already, want) in cases {
            assert_eq!(fail_closed_at(v, already, now), want, "{v:?} {already}");
        }
    }

    #[test]
    fn events_and_probes_refresh_contact() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = ApiContact::new(s(30), t0);
        assert_eq!(c.verdict(t0 + s(29)), hold_until(t0 + s(30)));
        assert_eq!(
            c.verdict(t0 + s(30)),
            Verdict::Expired,
            "never in contact since start"
        );

        c.on_watch_event(t0 + s(10));
        assert_eq!(c.verdict(t0 + s(39)), hold_until(t0 + s(40)));
        c.on_probe_ok(t0 + s(35));
        assert_eq!(c.verdict(t0 + s(64)), hold_until(t0 + s(65)));
        // A late-arriving older signal never moves contact backwards.
        c.on_probe_ok(t0 + s(1));
        assert_eq!(c.verdict(t0 + s(64)), hold_until(t0 + s(65)));
    }

    #[test]
    fn probes_do_not_count_while_the_watch_fails() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = ApiContact::new(s(30), t0);
        c.on_watch_event(t0 + s(5));
        c.on_watch_error();
        c.on_probe_ok(t0 + s(20));
        c.on_probe_ok(t0 + s(34));
        assert_eq!(c.verdict(t0 + s(35)), Verdict::Expired);
        // The watch recovers (relist): contact is back.
        c.on_watch_event(t0 + s(40));
        assert_eq!(c.verdict(t0 + s(41)), hold_until(t0 + s(70)));
        c.on_probe_ok(t0 + s(50));
        assert_eq!(c.verdict(t0 + s(79)), hold_until(t0 + s(80)));
    }
}
