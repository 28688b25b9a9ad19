//! Answers remembered with the instant they were fetched, for callers that each say how old an
//! answer they accept, and a gate per key so that concurrent misses cost one fetch.
//!
//! Data flow: a caller asks [`TimedCache::get`]; on a miss it takes the key's
//! [`TimedCache::gate`], asks again (a concurrent caller may just have fetched it), fetches
//! through the API and [`TimedCache::put`]s the answer. Used for a node's VNIC in a subnet
//! (moves accept any age, failover-readiness checks their interval) and for listings of a
//! subnet's addresses (confirmations after a takeover): at start-up hundreds of VIPs share a
//! few nodes and one subnet.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cache.
#[derive(Debug)]
pub(crate) struct TimedCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    gates: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K, V> Default for TimedCache<K, V> {
    fn default() -> Self {
        TimedCache {
            entries: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }
}

/// Pure: whether an answer fetched at `at` may serve at `now` a caller that accepts `max_age`
/// (`None`: any age).
pub(crate) fn fresh(at: Instant, now: Instant, max_age: Option<Duration>) -> bool {
    max_age.is_none_or(|m| now.saturating_duration_since(at) <= m)
}

impl<K: Eq + Hash + Clone, V: Clone> TimedCache<K, V> {
    /// The answer for `key`, if there is one young enough.
    pub fn get(&self, key: &K, max_age: Option<Duration>) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| fresh(*at, Instant::now(), max_age))
            .map(|(v, _)| v.clone())
    }

    /// Remembers `v` for `key`, fetched now.
    pub fn put(&self, key: K, v: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, (v, Instant::now()));
    }

    /// Drops the answer for `key` (it was found wrong).
    pub fn forget(&self, key: &K) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }

    /// Drops every answer for which `f(key, value)` holds.
    pub fn forget_where(&self, f: impl Fn(&K, &V) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|k, (v, _)| !f(k, v));
    }

    /// Any answer, whatever its key and age.
    pub fn any(&self) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.values().next().map(|(v, _)| v.clone())
    }

    /// The lock one fetch of `key` holds, so that concurrent misses wait for it.
    pub fn gate(&self, key: &K) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(key.clone()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_depends_on_what_the_caller_accepts() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let cases = [
            (s(0), None, true),
            (s(900), None, true),
            (s(10), Some(s(150)), true),
            (s(150), Some(s(150)), true),
            (s(151), Some(s(150)), false),
        ];
        for (age, max_age, want) in cases {
            assert_eq!(fresh(t0, t0 + age, max_age), want, "{age:?} {max_age:?}");
        }
    }

    #[test]
    fn answers_are_kept_per_key_and_can_be_forgotten() {
        let c: TimedCache<(String, String), String> = TimedCache::default();
        let k = |i: &str| (i.to_string(), "subnet".to_string());
        assert_eq!(c.get(&k("a"), None), None);
        assert_eq!(c.any(), None);
        c.put(k("a"), "vnic-a".into());
        c.put(k("b"), "vnic-b".into());
        assert_eq!(c.get(&k("a"), None).as_deref(), Some("vnic-a"));
        assert_eq!(
            c.get(&k("a"), Some(Duration::from_secs(60))).as_deref(),
            Some("vnic-a")
        );
        assert_eq!(
            c.get(&k("a"), Some(Duration::ZERO)),
            None,
            "too old for this caller"
        );
        c.forget(&k("a"));
        assert_eq!(c.get(&k("a"), None), None);
        assert_eq!(c.get(&k("b"), None).as_deref(), Some("vnic-b"));
        assert_eq!(c.any().as_deref(), Some("vnic-b"));
        c.put(k("c"), "vnic-c".into());
        c.forget_where(|_, v| v == "vnic-b");
        assert_eq!(c.get(&k("b"), None), None);
        assert_eq!(c.get(&k("c"), None).as_deref(), Some("vnic-c"));
    }

    #[tokio::test]
    async fn one_gate_per_key() {
        let c: TimedCache<&str, ()> = TimedCache::default();
        let g1 = c.gate(&"i");
        let held = g1.lock().await;
        assert!(c.gate(&"i").try_lock().is_err(), "the same key waits");
        assert!(c.gate(&"j").try_lock().is_ok());
        drop(held);
        assert!(c.gate(&"i").try_lock().is_ok());
    }
}
