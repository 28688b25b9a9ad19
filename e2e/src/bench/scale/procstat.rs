//! Footprint of a process from `/proc`: resident set (`VmRSS`), its high-water mark (`VmHWM`)
//! from `/proc/<pid>/status`, and CPU time (`utime + stime`) from `/proc/<pid>/stat`, sampled
//! on a timer so a phase's peak and CPU share can be read afterwards.
//!
//! Data flow: [`Sampler::start`] → a task reads `/proc` every interval → [`Sample`]s in a
//! shared vector → [`Sampler::window`] summarises a time window. Parsers are pure.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::task::JoinHandle;

/// One reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set so far, KiB.
    pub hwm_kib: u64,
    /// CPU time used so far (user + system), seconds.
    pub cpu_secs: f64,
}

/// Summary of a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Window {
    /// Largest VmRSS seen in the window, MiB.
    pub rss_max_mib: f64,
    /// VmRSS at the end of the window, MiB.
    pub rss_end_mib: f64,
    /// VmHWM at the end of the window, MiB (peak since the process started).
    pub hwm_mib: f64,
    /// CPU used in the window divided by its length (1.0 = one full core).
    pub cpu_cores: f64,
    /// Largest CPU share over any one sampling interval in the window.
    pub cpu_cores_peak: f64,
}

/// Pure: `(VmRSS, VmHWM)` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Pure: `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15 (1-based).
    let utime = f.get(14 - 3)?.parse::<u64>().ok()?;
    let stime = f.get(15 - 3)?.parse::<u64>().ok()?;
    Some(utime + stime)
}

/// Pure: summary of the samples in `[from, to]`.
pub fn summarise(samples: &[Sample], from: Instant, to: Instant) -> Window {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= from && s.at <= to)
        .collect();
    let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
        return Window::default();
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    let span = last.at.saturating_duration_since(first.at).as_secs_f64();
    let cpu_cores_peak = inside
        .windows(2)
        .map(|w| {
            let dt = w[1].at.saturating_duration_since(w[0].at).as_secs_f64();
            if dt > 0.0 {
                (w[1].cpu_secs - w[0].cpu_secs) / dt
            } else {
                0.0
            }
        })
        .fold(0.0, f64::max);
    Window {
        rss_max_mib: mib(inside.iter().map(|s| s.rss_kib).max().unwrap_or(0)),
        rss_end_mib: mib(last.rss_kib),
        hwm_mib: mib(last.hwm_kib),
        cpu_cores: if span > 0.0 {
            (last.cpu_secs - first.cpu_secs) / span
        } else {
            0.0
        },
        cpu_cores_peak,
    }
}

/// Reads one sample of `pid` now.
pub fn read(pid: u32, ticks_per_sec: f64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (rss_kib, hwm_kib) = parse_status(&status)?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(Sample {
        at: Instant::now(),
        rss_kib,
        hwm_kib,
        cpu_secs: ticks as f64 / ticks_per_sec,
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 when unknown).
pub fn ticks_per_sec() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map(|t| t as f64)
        .unwrap_or(100.0)
}

/// A background sampler of one process.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: JoinHandle<()>,
    pid: u32,
    tps: f64,
}

impl Sampler {
    /// Samples `pid` every `every` until dropped.
    pub fn start(pid: u32, every: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let tps = ticks_per_sec();
        let task = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    if let Some(s) = read(pid, tps) {
                        samples.lock().unwrap_or_else(|p| p.into_inner()).push(s);
                    }
                }
            })
        };
        Sampler {
            samples,
            task,
            pid,
            tps,
        }
    }

    /// Takes a sample now (so a window can end exactly at a phase's end) and summarises
    /// `[from, now]`.
    pub fn window(&self, from: Instant) -> Window {
        let mut v = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = read(self.pid, self.tps) {
            v.push(s);
        }
        summarise(&v, from, Instant::now())
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let t = "Name:\tpgvip-controller\nVmPeak:\t  100 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\n";
        assert_eq!(parse_status(t), Some((30720, 40960)));
        assert_eq!(parse_status("Name: x\n"), None);
    }

    #[test]
    fn parses_stat_with_odd_names() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        let t = "4242 (pg vip) (x)) S 1 1 1 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 4 0";
        assert_eq!(parse_stat_ticks(t), Some(300));
        assert_eq!(parse_stat_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn summarises_a_window() {
        let t0 = Instant::now();
        let s = |ms: u64, rss: u64, cpu: f64| Sample {
            at: t0 + Duration::from_millis(ms),
            rss_kib: rss,
            hwm_kib: 9000,
            cpu_secs: cpu,
        };
        let v = vec![
            s(0, 1024, 0.0),
            s(1000, 4096, 0.5),
            s(2000, 2048, 0.6),
            s(3000, 8192, 9.0),
        ];
        let w = summarise(&v, t0, t0 + Duration::from_millis(2000));
        assert_eq!(w.rss_max_mib, 4.0);
        assert_eq!(w.rss_end_mib, 2.0);
        assert!((w.cpu_cores - 0.3).abs() < 1e-9);
        assert!((w.cpu_cores_peak - 0.5).abs() < 1e-9);
        assert_eq!(
            summarise(
                &v,
                t0 + Duration::from_secs(9),
                t0 + Duration::from_secs(10)
            ),
            Window::default()
        );
    }

    #[test]
    fn reads_this_process() {
        let s = read(std::process::id(), ticks_per_sec()).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }
}
