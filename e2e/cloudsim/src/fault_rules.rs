//! The fault-rule engine both fronts use, generic over the front's operation type `O` and
//! failure type `F` (pure; no clock, no I/O).
//!
//! Flow: commands add latency per operation (or for all) and "fail the next N calls of
//! this operation (or any)" rules; each request asks [`Rules::plan`] once, which returns
//! the latency to add and consumes at most one failure, the oldest rule that matches.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// What to do with one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<F> {
    /// Sleep this long first.
    pub latency: Duration,
    /// Then fail this way instead of serving.
    pub failure: Option<F>,
}

impl<F> Default for Plan<F> {
    fn default() -> Self {
        Plan {
            latency: Duration::ZERO,
            failure: None,
        }
    }
}

/// Latency per operation and pending failures, in the order they were added.
#[derive(Debug, Clone)]
pub struct Rules<O, F> {
    latency: HashMap<Option<O>, Duration>,
    pending: Vec<(Option<O>, F, u32)>,
}

impl<O, F> Default for Rules<O, F> {
    fn default() -> Self {
        Rules {
            latency: HashMap::new(),
            pending: Vec::new(),
        }
    }
}

impl<O: Copy + Eq + Hash, F: Clone> Rules<O, F> {
    /// Sets the latency of `op` (every operation when `None`); zero removes it.
    pub fn set_latency(&mut self, op: Option<O>, latency: Duration) {
        if latency.is_zero() {
            self.latency.remove(&op);
        } else {
            self.latency.insert(op, latency);
        }
    }

    /// Fails the next `count` calls of `op` (of any operation when `None`).
    pub fn fail_next(&mut self, op: Option<O>, count: u32, failure: F) {
        if count > 0 {
            self.pending.push((op, failure, count));
        }
    }

    /// Removes every latency and pending failure.
    pub fn clear(&mut self) {
        self.latency.clear();
        self.pending.clear();
    }

    /// Decides latency and failure for one call of `op`, consuming a pending failure.
    /// An operation's own latency wins over the all-operations one.
    pub fn plan(&mut self, op: O) -> Plan<F> {
        let latency = self
            .latency
            .get(&Some(op))
            .or_else(|| self.latency.get(&None))
            .copied()
            .unwrap_or_default();
        let mut failure = None;
        if let Some(i) = self
            .pending
            .iter()
            .position(|(o, _, n)| *n > 0 && o.is_none_or(|o| o == op))
        {
            let rule = &mut self.pending[i];
            rule.2 -= 1;
            failure = Some(rule.1.clone());
            if rule.2 == 0 {
                self.pending.remove(i);
            }
        }
        Plan { latency, failure }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_matching_rule_is_consumed_first() {
        let mut r: Rules<u8, &str> = Rules::default();
        r.fail_next(Some(1), 1, "one");
        r.fail_next(None, 2, "any");
        r.fail_next(Some(2), 0, "never");
        r.set_latency(None, Duration::from_millis(5));
        r.set_latency(Some(2), Duration::from_millis(9));
        let table = [
            (2, 9, Some("any")),
            (1, 5, Some("one")),
            (1, 5, Some("any")),
            (1, 5, None),
            (2, 9, None),
        ];
        for (op, ms, failure) in table {
            assert_eq!(
                r.plan(op),
                Plan {
                    latency: Duration::from_millis(ms),
                    failure
                },
                "op {op}"
            );
        }
        r.set_latency(Some(2), Duration::ZERO);
        assert_eq!(r.plan(2).latency, Duration::from_millis(5));
        r.clear();
        assert_eq!(r.plan(2), Plan::default());
    }
}
