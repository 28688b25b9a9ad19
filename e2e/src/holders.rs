//! Which nodes hold an address, sampled every [`PERIOD`] on a thread of its own while a scenario
//! runs: a VIP on two nodes at once is what a failover must never cause on one L2 segment
//! (two nodes answer ARP for it), however it converges in the end.
//!
//! Data flow: [`HolderSampler::start`] → a thread reads `ip -br addr` in every node namespace
//! → `(instant, holders)` samples → [`HolderSampler::stop`] → [`longest_overlap`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{cmd, layout::Layout};

/// Gap between samples.
pub const PERIOD: Duration = Duration::from_millis(100);

/// Every address configured in namespace `netns` (any interface) as `(address, prefix
/// length)`, from `ip -br addr show`.
pub fn addresses_in(netns: &str) -> crate::error::Result<Vec<(IpAddr, u8)>> {
    let out = cmd::ip_in(netns, &["-br", "addr", "show"])?;
    Ok(out
        .lines()
        // `<ifname> <state> <addr/len>...`
        .flat_map(|l| l.split_whitespace().skip(2))
        .filter_map(|a| {
            let (ip, len) = a.split_once('/')?;
            Some((ip.parse().ok()?, len.parse().ok()?))
        })
        .collect())
}

/// Nodes of `layout` that have `addr` configured right now (a namespace that cannot be read
/// holds nothing).
pub fn holders(layout: &Layout, addr: IpAddr) -> Vec<String> {
    layout
        .nodes
        .iter()
        .filter(|n| {
            addresses_in(&n.netns)
                .unwrap_or_default()
                .iter()
                .any(|(a, _)| *a == addr)
        })
        .map(|n| n.name.clone())
        .collect()
}

/// The longest stretch in which two or more nodes held the VIP, from the first sample that saw
/// it to the first that did not (zero when no sample saw two).
pub fn longest_overlap(samples: &[(Instant, usize)]) -> Duration {
    let mut longest = Duration::ZERO;
    let mut since: Option<Instant> = None;
    for &(at, count) in samples {
        match (count >= 2, since) {
            (true, None) => since = Some(at),
            (false, Some(s)) => {
                longest = longest.max(at - s);
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(&(last, _))) = (since, samples.last()) {
        longest = longest.max(last - s).max(PERIOD);
    }
    longest
}

/// A running sampler; dropping it stops the thread too (a scenario that failed halfway).
pub struct HolderSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(Instant, usize)>>>,
}

impl HolderSampler {
    /// Starts sampling `layout`'s nodes, leaving out `exclude` (a lost node: its link is down,
    /// so what it holds reaches no one).
    pub fn start(layout: Layout, addr: IpAddr, exclude: Option<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = vec![];
            while !flag.load(Ordering::Relaxed) {
                let at = Instant::now();
                let n = holders(&layout, addr)
                    .iter()
                    .filter(|h| Some(h.as_str()) != exclude.as_deref())
                    .count();
                samples.push((at, n));
                std::thread::sleep(PERIOD.saturating_sub(at.elapsed()));
            }
            samples
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and returns the longest stretch with the VIP on two nodes.
    pub fn stop(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .map(|s| longest_overlap(&s))
            .unwrap_or_default()
    }
}

impl Drop for HolderSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_overlap_table() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let cases: [(&[(Instant, usize)], u64); 5] = [
            (&[], 0),
            (&[(ms(0), 1), (ms(100), 0), (ms(200), 1)], 0),
            (&[(ms(0), 1), (ms(100), 2), (ms(200), 2), (ms(300), 1)], 200),
            (
                &[
                    (ms(0), 2),
                    (ms(100), 1),
                    (ms(200), 2),
                    (ms(300), 2),
                    (ms(400), 2),
                    (ms(500), 1),
                ],
                300,
            ),
            // Still two at the last sample: at least one period.
            (&[(ms(0), 1), (ms(100), 2)], 100),
        ];
        for (samples, want) in cases {
            assert_eq!(
                longest_overlap(samples),
                Duration::from_millis(want),
                "{samples:?}"
            );
        }
    }
}
