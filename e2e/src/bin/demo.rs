//! `make demo`: a real failover on the local OKE-like testbed. Brings the testbed up, starts
//! pgvip (a node-agent per worker and the controller, with the chart's RBAC, against the OCI
//! simulator), creates a PostgresVip, then performs a planned switchover and a primary crash
//! while an application writes through the VIP, and shows what happened: the application's
//! view, pgvip's measured phases and the PostgresVip status. Tears everything down at the end.
use std::{process::ExitCode, time::Duration};

use pgvip_e2e::{
    pgvip::{start_agent, start_controller, CloudMode},
    scenario::{self, run_failover, Expect},
    Result, Testbed, UpOptions,
};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    println!("== bringing the testbed up (kube-apiserver, etcd, 3 worker namespaces, Patroni 4, OCI simulator)");
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
    println!("== tearing down");
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
    println!("{}", tb.kubectl(&["get", "nodes", "-o", "custom-columns=NODE:.metadata.name,PROVIDER-ID:.spec.providerID,IP:.status.addresses[0].address"])?);
    println!(
        "{}",
        tb.kubectl(&["get", "pods", "-n", "db", "-L", "role", "-o", "wide"])?
    );
    println!("== starting pgvip: one node-agent per worker, the controller (OCI API key, simulator endpoint)");
    for n in &tb.layout.nodes {
        start_agent(&tb.layout, n)?;
    }
    start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    let manifest = scenario::vip_manifest(tb, false);
    println!("== kubectl apply -f -\n{manifest}");
    tb.kubectl_apply(&manifest)?;
    tb.kubectl(&[
        "wait",
        "-n",
        "db",
        "--for=condition=Ready",
        "--timeout=60s",
        &format!("pgvip/{}", scenario::VIP_NAME),
    ])?;
    println!("{}", tb.kubectl(&["get", "pgvip", "-n", "db"])?);

    println!("== planned switchover (patronictl switchover) while the application writes through {} at 20 Hz", tb.layout.vip);
    let a = run_failover(
        tb,
        "planned switchover",
        Expect::NewLeader,
        async |tb, old| {
            tb.patronictl(&["switchover", "--force", "--primary", &old.member])
                .map(|_| ())
        },
    )
    .await?;
    println!("{}", tb.kubectl(&["get", "pgvip", "-n", "db"])?);

    println!("== primary crash (Patroni and PostgreSQL SIGKILLed); Patroni waits for the leader lock's ttl");
    let b = run_failover(tb, "primary killed", Expect::NewLeader, async |tb, old| {
        tb.kill_member(old);
        Ok(())
    })
    .await?;
    println!("{}", tb.kubectl(&["get", "pgvip", "-n", "db"])?);

    println!("== what happened (outage = longest gap between acknowledged writes, as the application saw it)");
    scenario::report(
        &[a, b],
        &std::env::temp_dir().join("pgvip-demo-results.json"),
    )?;
    println!("== PostgresVip status after the failovers");
    let st = tb.kubectl(&[
        "get",
        "pgvip",
        "-n",
        "db",
        scenario::VIP_NAME,
        "-o",
        "jsonpath={.status}",
    ])?;
    let v: serde_json::Value = serde_json::from_str(&st).unwrap_or_default();
    println!("{}", serde_yaml::to_string(&v).unwrap_or(st));
    println!("== Events");
    println!(
        "{}",
        tb.kubectl(&[
            "get",
            "events",
            "-n",
            "db",
            "--sort-by=.metadata.creationTimestamp"
        ])?
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
