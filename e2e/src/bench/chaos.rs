//! `bench chaos`: a soak of the failover suite's nine disturbances. One testbed comes up, pgvip
//! starts as the suite starts it, and every scenario runs `--reps` times, interleaved (round by
//! round over the scenarios, each round's order shuffled when `--seed` is given), each run
//! through [`run_failover`](crate::scenario::run_failover) followed by the scenario's recovery.
//! A run that fails is recorded with its error, not fatal: the testbed is then restored to its
//! standard state ([`scenarios::restore`]) before the next run. Each run records whether it
//! converged, its write outage, the acknowledged writes lost and how many nodes held the VIP
//! after convergence; [`Report`] summarises them per scenario. The testbed is torn down at the
//! end, always.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    scenarios::{self, Scenario},
    Testbed, UpOptions,
};

pub use super::chaos_report::{
    default_path, extra_holders, holders_in, lost_writes, Report, Results, Run, ScenarioSummary,
    Settings,
};

/// Options of `bench chaos`.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// Runs of every scenario.
    #[arg(long, default_value_t = 10)]
    pub reps: u32,
    /// Shuffle the order of the scenarios within every round with this seed (default: the
    /// failover suite's order in every round).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenarios to run (default: all nine).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
    /// Start no new run after this many minutes (0: no limit); the results then say
    /// `"complete": false`.
    #[arg(long, default_value_t = 0)]
    pub max_minutes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reps: 10,
            seed: None,
            scenarios: vec![],
            max_minutes: 0,
        }
    }
}

impl Options {
    /// The scenarios to run: the chosen ones, or all of them.
    pub fn scenarios(&self) -> Vec<Scenario> {
        if self.scenarios.is_empty() {
            Scenario::ALL.to_vec()
        } else {
            self.scenarios.clone()
        }
    }
}

/// Restorations in a row that may fail before the soak gives up on the testbed.
pub const MAX_FAILED_RESTORES: usize = 3;

/// SplitMix64: a small, seedable generator, enough to shuffle a schedule reproducibly.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..=max` (the slight modulo bias does not matter here).
    fn upto(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }
}

/// The order of runs (pure): `reps` rounds, each running every scenario once, in the given
/// order or, with a seed, in an order shuffled per round (Fisher–Yates).
pub fn schedule(scenarios: &[Scenario], reps: u32, seed: Option<u64>) -> Vec<(u32, Scenario)> {
    let mut rng = seed.map(SplitMix64);
    let mut out = Vec::with_capacity(scenarios.len() * reps as usize);
    for rep in 1..=reps {
        let mut round = scenarios.to_vec();
        if let Some(r) = rng.as_mut() {
            for i in (1..round.len()).rev() {
                round.swap(i, r.upto(i));
            }
        }
        out.extend(round.into_iter().map(|s| (rep, s)));
    }
    out
}

/// Runs the soak on a fresh testbed; `checkpoint` gets the report after every run; `stop` ends
/// it early (between runs). Always tears the testbed down. Returns the report so far, and
/// whether the soak and the teardown went through (a failed *run* is not an error).
pub async fn run_with(
    opts: &Options,
    checkpoint: &mut dyn FnMut(&Report),
    stop: &AtomicBool,
) -> (Report, Result<()>) {
    let mut report = Report::default();
    let up = UpOptions::default();
    let tb = match Testbed::up(&up).await {
        Ok(tb) => tb,
        Err(e) => {
            let _ = crate::testbed::down(&crate::Layout::standard(crate::testbed::state_dir()));
            return (report, Err(e));
        }
    };
    let res = soak(&tb, opts, &up, &mut report, checkpoint, stop).await;
    let down = tb.down();
    report.summarise();
    if let Err(e) = &res {
        report.aborted = Some(e.to_string());
    }
    (report, res.and(down))
}

async fn soak(
    tb: &Testbed,
    opts: &Options,
    up: &UpOptions,
    report: &mut Report,
    checkpoint: &mut dyn FnMut(&Report),
    stop: &AtomicBool,
) -> Result<()> {
    let started = Instant::now();
    let scenarios = opts.scenarios();
    report.settings = Settings {
        reps: opts.reps,
        seed: opts.seed,
        scenarios: scenarios.clone(),
        patroni: Some(up.patroni.clone()),
        patroni_version: tb
            .patronictl(&["version"])
            .unwrap_or_default()
            .trim()
            .into(),
        writer: "20 Hz through the VIP, one INSERT per attempt, 1 s connect/write timeout, \
                 reconnect on error"
            .into(),
    };
    scenarios::start_pgvip(tb).await?;
    let plan = schedule(&scenarios, opts.reps, opts.seed);
    let deadline = (opts.max_minutes > 0).then(|| Duration::from_secs(opts.max_minutes * 60));
    let mut failed_restores = 0;
    for (i, (rep, sc)) in plan.iter().copied().enumerate() {
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| started.elapsed() > d) {
            tracing::warn!(done = i, planned = plan.len(), "stopping early");
            return Ok(());
        }
        let t = Instant::now();
        let res = sc.run(tb).await;
        let recovered = sc.recover(tb).await;
        let mut run = Run::of(sc, rep, &res);
        run.recover_error = recovered.err().map(|e| e.to_string());
        if !run.converged || run.recover_error.is_some() {
            match scenarios::restore(tb).await {
                Ok(()) => failed_restores = 0,
                Err(e) => {
                    run.restore_error = Some(e.to_string());
                    failed_restores += 1;
                }
            }
        }
        run.took_millis = t.elapsed().as_millis() as u64;
        println!(
            "[{}/{}] {} rep {rep}: {}",
            i + 1,
            plan.len(),
            sc.name(),
            run.verdict()
        );
        report.runs.push(run);
        report.summarise();
        checkpoint(report);
        if failed_restores >= MAX_FAILED_RESTORES {
            return Err(Error::Other(format!(
                "the testbed did not return to its standard state {MAX_FAILED_RESTORES} times \
                 in a row; stopping after {} of {} runs",
                i + 1,
                plan.len()
            )));
        }
    }
    report.complete = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_round_robin_and_a_seed_shuffles_each_round_reproducibly() {
        let all = Scenario::ALL;
        let n = all.len();
        let plain = schedule(&all, 2, None);
        assert_eq!(plain.len(), 2 * n);
        assert!(plain[..n].iter().all(|(r, _)| *r == 1));
        assert_eq!(
            plain[n..].iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            all.to_vec()
        );
        let a = schedule(&all, 3, Some(7));
        assert_eq!(a, schedule(&all, 3, Some(7)));
        assert_ne!(
            a,
            plain[..]
                .iter()
                .chain(&plain[..n])
                .copied()
                .collect::<Vec<_>>()
        );
        for rep in 1..=3 {
            let mut round: Vec<&str> = a
                .iter()
                .filter(|(r, _)| *r == rep)
                .map(|(_, s)| s.name())
                .collect();
            round.sort_unstable();
            let mut want: Vec<&str> = all.iter().map(|s| s.name()).collect();
            want.sort_unstable();
            assert_eq!(round, want, "round {rep} runs every scenario once");
        }
        assert_ne!(schedule(&all, 3, Some(7)), schedule(&all, 3, Some(8)));
        assert!(schedule(&all, 0, Some(1)).is_empty());
    }

    #[test]
    fn default_options_run_all_nine_ten_times() {
        let o = Options::default();
        assert_eq!(o.reps, 10);
        assert_eq!(o.scenarios(), Scenario::ALL.to_vec());
    }
}
