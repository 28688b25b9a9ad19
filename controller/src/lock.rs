//! The controller's own monotonic record of when each leader lock last changed.
//!
//! Data flow: every watch event of a leader object (and every reconcile, from the store) calls
//! [`LockClock::observe`] with the lock record and `Instant::now()`. The record is fresh while it
//! keeps changing within its `ttl`, measured on this process's monotonic clock — the way Patroni
//! judges the lock, immune to clock skew between nodes. [`advance`] is the pure step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::patroni::LeaderRecord;

/// What is known about one leader lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockObservation {
    /// The record last seen.
    pub record: LeaderRecord,
    /// When the record last changed (or was first seen), on the monotonic clock.
    pub changed_at: Instant,
    /// When the `leader` value last changed (or was first seen): the start of a failover.
    pub leader_changed_at: Instant,
}

impl LockObservation {
    /// Time since the record last changed.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.changed_at)
    }
}

/// Pure step: the observation after seeing `record` at `now`, given the previous one.
pub fn advance(
    prev: Option<&LockObservation>,
    record: LeaderRecord,
    now: Instant,
) -> LockObservation {
    match prev {
        Some(p) if p.record == record => p.clone(),
        Some(p) => LockObservation {
            leader_changed_at: if p.record.leader() == record.leader() {
                p.leader_changed_at
            } else {
                now
            },
            record,
            changed_at: now,
        },
        None => LockObservation {
            record,
            changed_at: now,
            leader_changed_at: now,
        },
    }
}

/// Observations of every leader lock, keyed by `namespace/name` of the lock object.
#[derive(Debug, Default)]
pub struct LockClock {
    inner: Mutex<HashMap<String, LockObservation>>,
    /// Woken whenever any lock's leader changes (see [`LockClock::leader_moves_from`]).
    moved: tokio::sync::Notify,
}

impl LockClock {
    /// Records `record` as seen now for `key` and returns the resulting observation.
    pub fn observe(&self, key: &str, record: LeaderRecord, now: Instant) -> LockObservation {
        let (next, moved) = {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let prev = map.get(key);
            let next = advance(prev, record, now);
            let moved = prev.is_some_and(|p| p.record.leader() != next.record.leader());
            map.insert(key.to_string(), next.clone());
            (next, moved)
        };
        if moved {
            self.moved.notify_waiters();
        }
        next
    }

    /// The leader `key` names now, as last observed.
    fn leader_of(&self, key: &str) -> Option<String> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .and_then(|o| o.record.leader().map(str::to_string))
    }

    /// Resolves once the leader of `key` is no longer `leader`: a reconcile waiting on a probe
    /// of the old holder (a lost node costs the full REST timeout) races this and starts over
    /// with the new lock at once, instead of making the failover wait out that timeout.
    pub async fn leader_moves_from(&self, key: &str, leader: Option<&str>) {
        loop {
            let notified = self.moved.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.leader_of(key).as_deref() != leader {
                return;
            }
            notified.await;
        }
    }

    /// Forgets a lock whose object was deleted.
    pub fn forget(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// The map key of a lock object.
pub fn lock_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn a_waiter_wakes_when_the_leader_changes_and_not_on_a_renewal() {
        let clock = std::sync::Arc::new(LockClock::default());
        let t0 = Instant::now();
        clock.observe("ns/orders-leader", rec("pg-0", "1"), t0);
        let c = clock.clone();
        let waiter =
            tokio::spawn(
                async move { c.leader_moves_from("ns/orders-leader", Some("pg-0")).await },
            );
        tokio::time::sleep(Duration::from_millis(20)).await;
        clock.observe("ns/orders-leader", rec("pg-0", "2"), t0);
        clock.observe("ns/other-leader", rec("x-1", "1"), t0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "a renewal is not a move");
        clock.observe("ns/orders-leader", rec("pg-1", "3"), t0);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the move")
            .expect("no panic");
        // Already moved: resolves at once.
        tokio::time::timeout(
            Duration::from_millis(100),
            clock.leader_moves_from("ns/orders-leader", Some("pg-0")),
        )
        .await
        .expect("resolves at once");
    }

    fn rec(leader: &str, renew: &str) -> LeaderRecord {
        let mut a = BTreeMap::new();
        a.insert("leader".to_string(), leader.to_string());
        a.insert("renewTime".to_string(), renew.to_string());
        LeaderRecord::from_annotations(&a)
    }

    #[test]
    fn unchanged_record_keeps_its_age() {
        let t0 = Instant::now();
        let o1 = advance(None, rec("a", "1"), t0);
        let o2 = advance(Some(&o1), rec("a", "1"), t0 + Duration::from_secs(20));
        assert_eq!(o2.changed_at, t0);
        assert_eq!(
            o2.age(t0 + Duration::from_secs(31)),
            Duration::from_secs(31)
        );
    }

    #[test]
    fn renewal_refreshes_but_keeps_leader_change_time() {
        let t0 = Instant::now();
        let o1 = advance(None, rec("a", "1"), t0);
        let t1 = t0 + Duration::from_secs(10);
        let o2 = advance(Some(&o1), rec("a", "2"), t1);
        assert_eq!(o2.changed_at, t1);
        assert_eq!(o2.leader_changed_at, t0);
        let t2 = t1 + Duration::from_secs(3);
        let o3 = advance(Some(&o2), rec("b", "3"), t2);
        assert_eq!(o3.leader_changed_at, t2);
    }

    #[test]
    fn clock_is_per_key() {
        let c = LockClock::default();
        let t0 = Instant::now();
        c.observe("ns/a-leader", rec("a", "1"), t0);
        let o = c.observe("ns/b-leader", rec("b", "1"), t0 + Duration::from_secs(5));
        assert_eq!(o.changed_at, t0 + Duration::from_secs(5));
        let o = c.observe("ns/a-leader", rec("a", "1"), t0 + Duration::from_secs(9));
        assert_eq!(o.changed_at, t0);
        c.forget("ns/a-leader");
        let o = c.observe("ns/a-leader", rec("a", "1"), t0 + Duration::from_secs(9));
        assert_eq!(o.changed_at, t0 + Duration::from_secs(9));
    }
}
