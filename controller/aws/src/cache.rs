//! Which interface a node uses in a subnet, remembered with the instant it was looked up, and a
//! gate per node so that concurrent misses cost one `DescribeNetworkInterfaces`.
//!
//! Data flow: `ensure_assigned` (any age) and `node_eni` (its `max_age`) ask [`EniCache::get`];
//! on a miss they take [`EniCache::gate`], ask again (a concurrent caller may just have looked
//! it up), look it up through EC2 and [`EniCache::put`] it. A mutation that finds the interface
//! gone calls [`EniCache::forget`]. At start-up hundreds of VIPs share a few nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (instance id, subnet id).
pub(crate) type NodeKey = (String, String);

/// Pure: whether an answer fetched at `at` may serve at `now` a caller accepting `max_age`
/// (`None`: any age).
pub(crate) fn fresh(at: Instant, now: Instant, max_age: Option<Duration>) -> bool {
    max_age.is_none_or(|m| now.saturating_duration_since(at) <= m)
}

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct EniCache {
    entries: Mutex<HashMap<NodeKey, (String, Instant)>>,
    gates: Mutex<HashMap<NodeKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl EniCache {
    /// The interface for `key`, if looked up no longer than `max_age` ago.
    pub fn get(&self, key: &NodeKey, max_age: Option<Duration>) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| fresh(*at, Instant::now(), max_age))
            .map(|(v, _)| v.clone())
    }

    /// Remembers `eni_id` for `key`, looked up now.
    pub fn put(&self, key: NodeKey, eni_id: String) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, (eni_id, Instant::now()));
    }

    /// Drops the entry for `key` (EC2 no longer knows the interface).
    pub fn forget(&self, key: &NodeKey) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }

    /// The lock one lookup of `key` holds.
    pub fn gate(&self, key: &NodeKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(key.clone()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_table() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        for (age, max_age, want) in [
            (s(0), None, true),
            (s(900), None, true),
            (s(10), Some(s(30)), true),
            (s(30), Some(s(30)), true),
            (s(31), Some(s(30)), false),
        ] {
            assert_eq!(fresh(t0, t0 + age, max_age), want, "{age:?} {max_age:?}");
        }
    }

    #[tokio::test]
    async fn entries_and_gates_per_node() {
        let c = EniCache::default();
        let k = |i: &str| (i.to_string(), "subnet-db".to_string());
        assert_eq!(c.get(&k("i-1"), None), None);
        c.put(k("i-1"), "eni-1".into());
        assert_eq!(c.get(&k("i-1"), None).as_deref(), Some("eni-1"));
        assert_eq!(
            c.get(&k("i-1"), Some(Duration::ZERO)),
            None,
            "too old for this caller"
        );
        c.forget(&k("i-1"));
        assert_eq!(c.get(&k("i-1"), None), None);
        let g = c.gate(&k("i-1"));
        let held = g.lock().await;
        assert!(c.gate(&k("i-1")).try_lock().is_err());
        assert!(c.gate(&k("i-2")).try_lock().is_ok());
        drop(held);
    }
}
