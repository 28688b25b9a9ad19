//! Shared pieces of the end-to-end suites: a tiny runner that brings the testbed up once, runs
//! named checks in order, always tears down, and prints `N passed, N failed`.
#![allow(dead_code)]

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use pgvip_e2e::{Result, Testbed, UpOptions};

/// Results of one suite.
pub struct Suite {
    passed: usize,
    failed: Vec<String>,
}

impl Suite {
    /// Brings the testbed up, runs `body`, tears down, prints the summary.
    pub fn run(
        name: &str,
        body: impl FnOnce(&Testbed, &mut Suite) + Send,
        opts: UpOptions,
    ) -> ExitCode {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("{name}: runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let _guard = rt.enter();
        let mut suite = Suite {
            passed: 0,
            failed: vec![],
        };
        let started = Instant::now();
        match rt.block_on(Testbed::up(&opts)) {
            Ok(tb) => {
                println!(
                    "{name}: testbed up in {:.1}s",
                    started.elapsed().as_secs_f32()
                );
                // Checks block on the runtime themselves, so run them off its worker threads.
                let h = rt.handle().clone();
                let (tbr, sr) = (&tb, &mut suite);
                std::thread::scope(|sc| {
                    sc.spawn(move || {
                        let _g = h.enter();
                        body(tbr, sr)
                    });
                });
                if std::env::var_os("PGVIP_E2E_KEEP").is_some() {
                    println!(
                        "{name}: PGVIP_E2E_KEEP set: testbed left up; `testbed down` removes it"
                    );
                } else if let Err(e) = tb.down() {
                    suite.failed.push(format!("teardown: {e}"));
                }
            }
            Err(e) => {
                suite.failed.push(format!("testbed up: {e}"));
                let _ = pgvip_e2e::testbed::down(&pgvip_e2e::Layout::standard(
                    pgvip_e2e::testbed::state_dir(),
                ));
            }
        }
        for f in &suite.failed {
            println!("FAILED: {f}");
        }
        println!("{} passed, {} failed", suite.passed, suite.failed.len());
        if suite.failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// Whether `name` is selected by `PGVIP_E2E_ONLY` (a comma-separated list of substrings;
    /// unset selects everything).
    pub fn selected(name: &str) -> bool {
        match std::env::var("PGVIP_E2E_ONLY") {
            Ok(only) if !only.is_empty() => only.split(',').any(|p| name.contains(p.trim())),
            _ => true,
        }
    }

    /// Runs one named check.
    pub fn check(&mut self, name: &str, f: impl FnOnce() -> Result<()>) {
        let t = Instant::now();
        match f() {
            Ok(()) => {
                self.passed += 1;
                println!("ok   {name} ({:.1}s)", t.elapsed().as_secs_f32());
            }
            Err(e) => {
                println!("FAIL {name} ({:.1}s): {e}", t.elapsed().as_secs_f32());
                self.failed.push(format!("{name}: {e}"));
            }
        }
    }
}

/// Testbed options from the environment: `PGVIP_PATRONI=3` runs Debian's Patroni 3.0.2,
/// `PGVIP_USE_ENDPOINTS=1` Patroni's Endpoints mode.
pub fn options_from_env() -> UpOptions {
    use pgvip_e2e::patroni::{PatroniFlavor, PatroniOptions};
    let flavor = if std::env::var("PGVIP_PATRONI").as_deref() == Ok("3") {
        PatroniFlavor::V3Debian
    } else {
        PatroniFlavor::V4
    };
    UpOptions {
        patroni: PatroniOptions {
            flavor,
            use_endpoints: use_endpoints(),
            ..Default::default()
        },
    }
}

/// Whether the suite runs Patroni in Endpoints mode (`PGVIP_USE_ENDPOINTS=1`).
pub fn use_endpoints() -> bool {
    std::env::var("PGVIP_USE_ENDPOINTS").is_ok_and(|v| v == "1" || v == "true")
}

/// Retries `f` until it succeeds or `limit` passes; returns the last error.
pub fn retry<T>(limit: Duration, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > limit => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// A PostgresVip manifest for the testbed's cluster with extra spec lines.
pub fn vip_yaml(name: &str, address: &str, extra: &str) -> String {
    let has_patroni = extra.starts_with("patroni:");
    let mut spec = format!("  address: \"{address}\"\n  provider: {{oci: {{subnetId: ocid1.subnet.oc1.phx.pgviptestbedmain}}}}\n");
    if !has_patroni {
        spec.push_str("  patroni: {scope: orders}\n");
    }
    if !extra.is_empty() {
        spec.push_str(&format!("  {extra}\n"));
    }
    format!("apiVersion: pgvip.dev/v1alpha1\nkind: PostgresVip\nmetadata: {{name: {name}, namespace: db}}\nspec:\n{spec}")
}
