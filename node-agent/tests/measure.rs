//! Figures for the report, printed rather than asserted (ignored by default). Run as root:
//! `cargo test -p pgvip-node-agent --release --test measure -- --ignored --nocapture`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{add_foreign, in_netns, link, new_agent, relisted, set_up, test_link, vip, NODE};
use pgvip_node_agent::agent::Input;
use pgvip_node_agent::netlink::Netlink;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Status change received → address configured and first announcement sent, in process.
#[test]
#[ignore]
fn status_change_to_configured_and_announced() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = test_link(&net, "eth0").await;
        add_foreign(&net, &eth, "10.0.1.1", 24).await;
        let (mut agent, _reports, metrics) =
            new_agent(Duration::from_secs(30), Duration::from_secs(30), false);
        agent.handle(relisted(vec![])).await;
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let at = format!("2025-05-01T10:00:{:02}.{:03}Z", i / 1000, i % 1000);
            let mut v = vip("b", "10.0.1.100", Some(NODE), Some(NODE), Some(&at));
            v.garp_count = 1;
            let t = Instant::now();
            agent
                .handle(Input::Applied {
                    vip: Box::new(v),
                    received: t,
                })
                .await;
            up.push(t.elapsed());
            let t = Instant::now();
            agent
                .handle(Input::Applied {
                    vip: Box::new(vip("b", "10.0.1.100", Some("w2"), Some(NODE), Some(&at))),
                    received: t,
                })
                .await;
            down.push(t.elapsed());
        }
        up.sort();
        down.sort();
        let text = metrics.encode();
        let sum = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(&format!("pgvip_agent_{name}_sum")))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        println!(
            "status change → address configured: mean {:.0} µs; → first announcement sent: mean {:.0} µs (200 runs)",
            sum("status_to_configured_seconds") / 200.0 * 1e6,
            sum("status_to_announced_seconds") / 200.0 * 1e6
        );
        println!(
            "whole event handled (add + announce + re-dump + report): p50 {:?} p99 {:?}; removal event: p50 {:?} p99 {:?}",
            percentile(&up, 0.5),
            percentile(&up, 0.99),
            percentile(&down, 0.5),
            percentile(&down, 0.99)
        );
    })
}

/// Idle RSS of the real binary against an unreachable API server, plus its HTTP endpoints.
#[test]
#[ignore]
fn idle_rss_of_the_binary() {
    let kubeconfig = std::env::temp_dir().join(format!(
        "pgvip-agent-measure-{}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: unused\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let path = kubeconfig.clone();
    let (rss, health, ready, status) = in_netns(move || async move {
        let net = Netlink::connect().unwrap();
        set_up(&net, &link(&net, "lo").await).await;
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgvip-node-agent"))
            .args([
                "--node-name",
                "w1",
                "--metrics-addr",
                "127.0.0.1:19101",
                "--log-format",
                "text",
            ])
            .env("KUBECONFIG", &path)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let status_file = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let rss = status_file
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .unwrap_or("VmRSS: ?")
            .to_string();
        let get = |path: &str| {
            let mut s = TcpStream::connect("127.0.0.1:19101").unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out.lines().next().unwrap_or_default().to_string()
        };
        let (health, ready) = (get("/healthz"), get("/readyz"));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = child.wait().unwrap();
        (rss, health, ready, status)
    });
    let _ = std::fs::remove_file(&kubeconfig);
    println!("idle agent, API unreachable for 5 s: {rss}");
    println!("/healthz: {health}; /readyz: {ready}; exit after SIGTERM: {status}");
    assert!(status.success());
}
