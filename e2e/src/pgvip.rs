//! Running pgvip itself on the testbed: the controller in the controller host's namespace and
//! one node-agent per worker namespace, as processes with exactly the credentials the chart gives
//! them (service-account tokens bound to the chart's RBAC) and the flags the chart sets.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{
    cloud::{AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, CONTROLLER_USER},
    cmd::{spawn_detached, stop_pidfile},
    error::{Error, Result},
    layout::{CloudFlavour, Layout, NodeLayout},
};

/// How the controller reaches the cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudMode {
    /// The product's behaviour for the testbed's flavour: through the simulator's OCI front
    /// with an API key, its EC2 front with static keys in the environment (AWS's default
    /// credential chain), or on L2 `--cloud-provider l2` (no cloud call).
    Cloud,
    /// No cloud call whatever the spec says (`none`): the negative control that reproduces the
    /// seed bug on a cloud flavour.
    None,
}

/// A workspace binary (pgvip's, or the testbed's own) built next to the running test or
/// harness binary (`target/<profile>/<name>`).
pub fn binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::Other(format!("current exe: {e}")))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(Error::Other(format!(
            "{} is not built; run `cargo build --workspace --bins` first",
            p.display()
        )))
    }
}

fn agent_pidfile(layout: &Layout, node: &NodeLayout) -> PathBuf {
    layout.path(&format!("agent-{}.pid", node.name))
}

/// Starts the node-agent of `node` inside its namespace.
pub fn start_agent(layout: &Layout, node: &NodeLayout) -> Result<u32> {
    let bin = binary("pgvip-node-agent")?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &node.netns, "env"])
        .arg(format!(
            "KUBECONFIG={}",
            layout.path("kubeconfig-agent").display()
        ))
        .arg(format!("NODE_NAME={}", node.name))
        .arg(format!("POD_NAMESPACE={}", layout.system_namespace))
        .arg("PGVIP_HEARTBEAT_SECONDS=2")
        .arg(log_filter())
        .arg(bin)
        .args([
            "--metrics-addr",
            "127.0.0.1:9101",
            "--log-format",
            "json",
            "--hold-seconds",
            "20",
        ]);
    spawn_detached(
        &mut cmd,
        &agent_pidfile(layout, node),
        &layout.path(&format!("logs/agent-{}.log", node.name)),
    )
}

/// `RUST_LOG` for pgvip's processes: `PGVIP_TESTBED_LOG` when set (say `info,pgvip_controller=debug`
/// to read a failover's timeline), else `info`.
fn log_filter() -> String {
    format!(
        "RUST_LOG={}",
        std::env::var("PGVIP_TESTBED_LOG").unwrap_or_else(|_| "info".into())
    )
}

/// Stops the node-agent of `node` (SIGTERM: it keeps its addresses, as on a plain restart).
pub fn stop_agent(layout: &Layout, node: &NodeLayout) -> Result<()> {
    stop_pidfile(&agent_pidfile(layout, node), Duration::from_secs(5))
}

/// Starts controller replica `id` in the controller host's namespace.
pub fn start_controller(layout: &Layout, id: u32, mode: CloudMode) -> Result<u32> {
    start_controller_with(layout, id, mode, &[])
}

/// Starts controller replica `id` with `extra` flags after the testbed's own.
pub fn start_controller_with(
    layout: &Layout,
    id: u32,
    mode: CloudMode,
    extra: &[&str],
) -> Result<u32> {
    let bin = binary("pgvip-controller")?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &layout.controller_host.netns, "env"])
        .arg(format!(
            "KUBECONFIG={}",
            layout.path("kubeconfig-controller").display()
        ))
        .arg(format!("POD_NAME=pgvip-controller-{id}"))
        .arg(format!("POD_NAMESPACE={}", layout.system_namespace))
        .arg(log_filter())
        .arg(bin)
        .args([
            "--log-format",
            "json",
            "--metrics-addr",
            &format!("127.0.0.1:{}", 8080 + id),
        ])
        .args(["--leader-election-namespace", &layout.system_namespace]);
    match mode {
        CloudMode::None => {
            cmd.args(["--cloud-provider", "none"]);
        }
        CloudMode::Cloud if layout.cloud == CloudFlavour::L2 => {
            cmd.args(["--cloud-provider", "l2"]);
        }
        CloudMode::Cloud if layout.cloud == CloudFlavour::Aws => {
            use crate::aws_identity::{controller_env, AwsCredentials};
            match AwsCredentials::from_env()? {
                AwsCredentials::InstanceProfile => {
                    // The default chain's last link: the first worker's instance profile
                    // through IMDSv2 (temporary credentials with a session token).
                    cmd.arg("--aws-imds-endpoint")
                        .arg(format!("http://127.0.0.1:{}", crate::cloud::imds_port(0)));
                }
                AwsCredentials::Static => {
                    // Static keys through the environment: the first link of the chain.
                    cmd.env("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID)
                        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY);
                }
                // IRSA or EKS Pod Identity: what EKS's webhooks inject into the pod.
                creds => {
                    cmd.envs(controller_env(layout, creds, id));
                }
            }
            cmd.args([
                "--cloud-provider",
                "aws",
                "--aws-region",
                &layout.region,
                "--aws-ec2-endpoint",
                &format!("https://127.0.0.1:{}", layout.oci_port),
            ])
            .arg("--aws-ca-bundle")
            .arg(layout.path("oci/ca.crt"));
        }
        CloudMode::Cloud => {
            let fp = std::fs::read_to_string(layout.path("oci/api-key.fingerprint"))
                .map_err(|e| Error::Other(format!("API key fingerprint: {e}")))?;
            cmd.args([
                "--cloud-provider",
                "oci",
                "--oci-auth",
                "api-key",
                "--oci-region",
                &layout.region,
            ])
            .args([
                "--oci-tenancy",
                &layout.tenancy_id,
                "--oci-user",
                CONTROLLER_USER,
                "--oci-fingerprint",
                fp.trim(),
            ])
            .arg("--oci-private-key-file")
            .arg(layout.path("oci/api-key.pem"))
            .args([
                "--oci-core-endpoint",
                &format!("https://127.0.0.1:{}", layout.oci_port),
            ])
            .arg("--oci-ca-bundle")
            .arg(layout.path("oci/ca.crt"));
        }
    }
    cmd.args(extra);
    spawn_detached(
        &mut cmd,
        &controller_pidfile(layout, id),
        &layout.path(&format!("logs/controller-{id}.log")),
    )
}

fn controller_pidfile(layout: &Layout, id: u32) -> PathBuf {
    layout.path(&format!("controller-{id}.pid"))
}

/// Stops controller replica `id`; `kill` sends SIGKILL at once (a crash), else SIGTERM.
pub fn stop_controller(layout: &Layout, id: u32, kill: bool) -> Result<()> {
    if kill {
        crate::cmd::kill_pidfile(&controller_pidfile(layout, id));
        Ok(())
    } else {
        stop_pidfile(&controller_pidfile(layout, id), Duration::from_secs(5))
    }
}
