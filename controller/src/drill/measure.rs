//! Pure: the probe's log turned into the numbers a drill reports.
//!
//! Data flow: the probe ([`crate::drill::probe`]) appends one [`Sample`] per attempt, timed
//! from the probe's start; [`outage`] gives the longest stretch without a success from the
//! switchover request on (the same definition as the testbed's independent writer), and
//! [`resumed`] says when the measurement may stop.

use std::time::Duration;

/// One probe attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it finished, from the probe's start.
    pub at: Duration,
    /// Whether it succeeded (a write committed, or `GET /primary` answered 200).
    pub ok: bool,
    /// The member that answered, when the probe can tell (`rest`).
    pub member: Option<String>,
    /// The error of a failed attempt.
    pub error: Option<String>,
}

/// The longest stretch without a success between `from` and the last sample, and the number
/// of attempts and failures in that window.
pub fn outage(samples: &[Sample], from: Duration) -> (Duration, u64, u64) {
    let mut last_ok = from;
    let mut worst = Duration::ZERO;
    let (mut attempts, mut failed) = (0, 0);
    for s in samples.iter().filter(|s| s.at >= from) {
        attempts += 1;
        if s.ok {
            worst = worst.max(s.at.saturating_sub(last_ok));
            last_ok = s.at;
        } else {
            failed += 1;
        }
    }
    (worst, attempts, failed)
}

/// True when the last `n` samples after `after` all succeeded and, where they name a member,
/// name `member`: writes have resumed on the new primary.
pub fn resumed(samples: &[Sample], after: Duration, n: usize, member: &str) -> bool {
    let tail: Vec<&Sample> = samples.iter().filter(|s| s.at >= after).collect();
    tail.len() >= n
        && tail[tail.len() - n..]
            .iter()
            .all(|s| s.ok && s.member.as_deref().is_none_or(|m| m == member))
}

/// True when the last `n` samples all succeeded: the probe gets through before the drill.
pub fn steady(samples: &[Sample], n: usize) -> bool {
    samples.len() >= n && samples[samples.len() - n..].iter().all(|s| s.ok)
}

/// The probe's story from `from` on, for the log: each change between success and a distinct
/// error, with its time in milliseconds (`+120ms ok`, `+170ms connect: refused`).
pub fn timeline(samples: &[Sample], from: Duration) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<Option<&str>> = None;
    for s in samples.iter().filter(|s| s.at >= from) {
        let what = if s.ok { None } else { s.error.as_deref() };
        if last != Some(what) {
            let ms = s.at.saturating_sub(from).as_millis();
            out.push(format!("+{ms}ms {}", what.unwrap_or("ok")));
            last = Some(what);
        }
    }
    out.join("; ")
}

/// The error of the last failed sample, for messages.
pub fn last_error(samples: &[Sample]) -> Option<&str> {
    samples.iter().rev().find_map(|s| s.error.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ms: u64, ok: bool, member: Option<&str>) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            ok,
            member: member.map(str::to_string),
            error: (!ok).then(|| "refused".to_string()),
        }
    }

    #[test]
    fn outage_is_the_longest_gap_from_the_request() {
        let log = vec![
            s(0, true, None),
            s(50, true, None),
            s(100, false, None),
            s(1100, false, None),
            s(2300, true, None),
            s(2350, true, None),
        ];
        // Request at 60 ms: last success before it does not count; gap 60 → 2300.
        assert_eq!(
            outage(&log, Duration::from_millis(60)),
            (Duration::from_millis(2240), 4, 2)
        );
        // No failure at all: the gap is the attempt period.
        let fine = vec![s(0, true, None), s(50, true, None), s(100, true, None)];
        assert_eq!(outage(&fine, Duration::ZERO).0, Duration::from_millis(50));
        // Nothing after the request: no outage measured, no attempts.
        assert_eq!(
            outage(&fine, Duration::from_secs(9)),
            (Duration::ZERO, 0, 0)
        );
    }

    #[test]
    fn resumed_needs_n_successes_on_the_new_member() {
        let log = vec![
            s(0, true, Some("pg-0")),
            s(100, false, None),
            s(200, true, Some("pg-1")),
            s(300, true, Some("pg-1")),
        ];
        assert!(resumed(&log, Duration::from_millis(150), 2, "pg-1"));
        assert!(!resumed(&log, Duration::from_millis(150), 3, "pg-1"));
        assert!(!resumed(&log, Duration::from_millis(150), 2, "pg-2"));
        assert!(
            !resumed(&log, Duration::ZERO, 3, "pg-1"),
            "a failure inside the tail"
        );
        let writes = vec![s(200, true, None), s(300, true, None)];
        assert!(
            resumed(&writes, Duration::ZERO, 2, "pg-1"),
            "write samples name no member"
        );
    }

    #[test]
    fn steady_and_last_error() {
        let log = vec![s(0, false, None), s(50, true, None), s(100, true, None)];
        assert!(steady(&log, 2));
        assert!(!steady(&log, 3));
        assert_eq!(last_error(&log), Some("refused"));
        assert_eq!(timeline(&log, Duration::ZERO), "+0ms refused; +50ms ok");
    }
}
