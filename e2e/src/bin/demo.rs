//! `make demo`: brings the testbed up, shows the cluster, performs a planned switchover, shows
//! who is primary afterwards, and tears everything down.
use std::{process::ExitCode, time::Duration};

use pgvip_e2e::{Result, Testbed, UpOptions};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let tb = match Testbed::up(&UpOptions::default()).await {
        Ok(tb) => tb,
        Err(e) => {
            eprintln!("demo: testbed up failed: {e}");
            let _ = pgvip_e2e::testbed::down(&pgvip_e2e::Layout::standard(
                pgvip_e2e::testbed::state_dir(),
            ));
            return ExitCode::FAILURE;
        }
    };
    let res = run(&tb).await;
    let down = tb.down();
    match (res, down) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (r, d) => {
            if let Err(e) = r {
                eprintln!("demo: {e}");
            }
            if let Err(e) = d {
                eprintln!("demo: teardown: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(tb: &Testbed) -> Result<()> {
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    println!("== testbed up; Patroni leader: {leader}");
    println!("{}", tb.kubectl(&["get", "nodes", "-o", "wide"])?);
    println!(
        "{}",
        tb.kubectl(&["get", "pods", "-n", "db", "-L", "role", "-o", "wide"])?
    );
    println!("== planned switchover away from {leader}");
    let out = tb.patronictl(&["switchover", "--force", "--primary", &leader])?;
    println!("{out}");
    let new = pgvip_e2e::cluster::wait_for("a new leader", Duration::from_secs(60), || async {
        tb.wait_leader(Duration::from_secs(1))
            .await
            .ok()
            .filter(|l| *l != leader)
    })
    .await?;
    println!("== new Patroni leader: {new}");
    println!(
        "{}",
        tb.kubectl(&["get", "pods", "-n", "db", "-L", "role"])?
    );
    Ok(())
}
