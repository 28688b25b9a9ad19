//! Smoke tests of the testbed itself: the real apiserver enforces RBAC and the CRD's validation,
//! Patroni elects a leader and labels its pod, and a client in the client namespace writes to the
//! leader and reads the row back from a replica; then the `kubectl pgvip` plugin against pgvip
//! running on it (`plugin`). Runs as root; always tears the testbed down.
use std::{process::ExitCode, time::Duration};

use pgvip_e2e::{Result, Testbed};

mod chart;
mod common;
mod plugin;
use common::Suite;

fn main() -> ExitCode {
    Suite::run(
        "smoke",
        |tb: &Testbed, s: &mut Suite| {
            s.check("apiserver reports its real version", || {
                let v = tb.kubectl(&["get", "--raw", "/version"])?;
                ensure(
                    v.contains("\"gitVersion\": \"v1.34.4\""),
                    format!("unexpected /version: {v}"),
                )
            });
            s.check("RBAC is enforced for pgvip's service accounts", || {
                let agent = tb.layout.path("kubeconfig-agent");
                let kc = agent.to_string_lossy();
                // The agent reads pods (their IPs are addresses it must never take) but
                // cannot change them, nor read Secrets.
                let forbidden: [&[&str]; 3] = [
                    &["get", "secrets", "-n", "db"],
                    &["delete", "pod", "pg-0", "-n", "db", "--dry-run=server"],
                    &[
                        "label",
                        "pod",
                        "pg-0",
                        "-n",
                        "db",
                        "x=y",
                        "--dry-run=server",
                    ],
                ];
                for args in forbidden {
                    let mut a = vec!["--kubeconfig", kc.as_ref()];
                    a.extend_from_slice(args);
                    let denied = tb.kubectl(&a);
                    ensure(
                        denied
                            .as_ref()
                            .is_err_and(|e| e.to_string().contains("Forbidden")),
                        format!("agent was allowed {args:?}: {denied:?}"),
                    )?;
                }
                tb.kubectl(&["--kubeconfig", &kc, "get", "pods", "-n", "db"])?;
                tb.kubectl(&["--kubeconfig", &kc, "get", "postgresvips", "-A"])
                    .map(|_| ())
            });
            s.check("a valid PostgresVip is accepted", || {
                tb.kubectl_apply(&common::vip_yaml("ok", "10.0.10.200", ""))
                    .map(|_| ())
            });
            for (name, bad, expect) in [
            ("not an IP", r#"address: "10.0.1""#, "address must be a unicast"),
            ("loopback", r#"address: "127.0.0.1""#, "address must be a unicast"),
            ("unknown role", "role: leader", "Unsupported value"),
            ("port out of range", "patroni: {scope: orders, restApi: {port: 70000}}", "65535"),
            ("both leader sources", "labels: {matchLabels: {a: b}, roleLabel: r, primaryValue: p, health: {port: 8008, path: /primary}}", "exactly one leader source"),
            ("GARP count", "announce: {garpCount: 0}", "greater than or equal to 1"),
            ("GARP interval", "announce: {garpIntervalMillis: 60000}", "less than or equal to 10000"),
        ] {
            s.check(&format!("CRD rejects {name}"), || {
                let r = tb.kubectl_apply(&common::vip_yaml("bad", "10.0.10.200", bad));
                ensure(r.as_ref().is_err_and(|e| e.to_string().contains(expect)), format!("expected rejection containing {expect:?}, got {r:?}"))
            });
        }
            chart::checks(tb, s);
            s.check("Patroni elects a leader and labels its pod", || {
                let leader = s_block(tb.wait_leader(Duration::from_secs(60)))?;
                let role = tb.kubectl(&[
                    "get",
                    "pod",
                    &leader,
                    "-n",
                    "db",
                    "-o",
                    "jsonpath={.metadata.labels.role}",
                ])?;
                ensure(
                    role == "primary" || role == "master",
                    format!("leader pod {leader} has role label {role:?}"),
                )
            });
            s.check("client writes to the leader and reads it back from a replica", || {
            let leader = s_block(tb.wait_leader(Duration::from_secs(60)))?;
            let lnode = tb.layout.nodes.iter().find(|n| n.member == leader).ok_or_else(|| pgvip_e2e::Error::Other("leader not a member".into()))?;
            common::retry(Duration::from_secs(60), || tb.psql(&lnode.ip, "CREATE TABLE IF NOT EXISTS smoke(v text); INSERT INTO smoke VALUES ('hello');"))?;
            let replica = tb.layout.nodes.iter().find(|n| n.member != leader).ok_or_else(|| pgvip_e2e::Error::Other("no replica".into()))?;
            let got = common::retry(Duration::from_secs(30), || {
                let v = tb.psql(&replica.ip, "SELECT v FROM smoke")?;
                if v.trim() == "hello" { Ok(v) } else { Err(pgvip_e2e::Error::Other(format!("replica has {v:?}"))) }
            })?;
            ensure(got.trim() == "hello", "replica row")
        });
            plugin::checks(tb, s);
        },
        common::options_from_env(),
    )
}

fn ensure(ok: bool, msg: impl Into<String>) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(pgvip_e2e::Error::Other(msg.into()))
    }
}

fn s_block<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Handle::current().block_on(f)
}
