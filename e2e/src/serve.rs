//! The testbed supervisor (`testbed serve`), a detached process that lives as long as the
//! testbed: it relays loopback ports into the namespaces and keeps the worker Nodes' Ready
//! condition and Leases fresh, as kubelets would; and it hosts the cloud simulator (its OCI or
//! its EC2 front, by the layout's flavour), which programs the fabric so that VIP traffic
//! reaches only the interface the simulated control plane names. The L2 flavour runs no
//! simulator: its fabric is a plain bridge that delivers by MAC, as a switch does.

use std::{net::SocketAddr, time::Duration};

use tracing::{info, warn};

use pgvip_cloudsim::{FabricConfig, FabricMode, Sim, SimConfig};

use crate::{
    aws_identity, cloud, cluster,
    error::{Context, Error, Result},
    fwd,
    layout::{CloudFlavour, Layout},
};

/// Starts the OCI simulator for the testbed's tenancy on its fixed loopback ports.
async fn start_sim(layout: &Layout) -> Result<pgvip_cloudsim::SimHandle> {
    let fp = std::fs::read_to_string(layout.path("oci/api-key.fingerprint"))
        .ctx("reading API key fingerprint")?;
    let pubpem =
        std::fs::read_to_string(layout.path("oci/api-key.pub")).ctx("reading API public key")?;
    let inv = cloud::inventory(layout, &pubpem, fp.trim(), true);
    let mut cfg = SimConfig::new(inv, layout.path("oci/ca.crt"));
    cfg.listen = ([127, 0, 0, 1], layout.oci_port).into();
    cfg.admin_listen = Some(([127, 0, 0, 1], layout.oci_admin_port).into());
    cfg.imds_ip = Some([127, 0, 0, 1].into());
    cfg.fabric = Some(fabric_config(layout));
    Sim::start(cfg)
        .await
        .map_err(|e| Error::Other(format!("OCI simulator: {e}")))
}

/// Starts the simulator's EC2 front for the AWS flavour on the same fixed ports.
async fn start_aws_sim(layout: &Layout) -> Result<pgvip_cloudsim::aws::AwsSimHandle> {
    use pgvip_cloudsim::aws::{AwsSim, AwsSimConfig};
    // The apiserver's service-account key: the cluster's OIDC issuer key for IRSA and
    // Pod Identity.
    let sa_pub = std::fs::read_to_string(layout.path("pki/sa.pub"))
        .ctx("reading the service-account key")?;
    let inv = aws_identity::with_federation(cloud::aws_inventory(layout), layout, &sa_pub);
    let mut cfg = AwsSimConfig::new(inv);
    cfg.listen = ([127, 0, 0, 1], layout.oci_port).into();
    cfg.sts_listen = Some(([127, 0, 0, 1], aws_identity::STS_PORT).into());
    cfg.pod_identity_listen = Some(([127, 0, 0, 1], aws_identity::POD_IDENTITY_PORT).into());
    cfg.admin_listen = Some(([127, 0, 0, 1], layout.oci_admin_port).into());
    cfg.ca_out = Some(layout.path("oci/ca.crt"));
    cfg.fabric = Some(fabric_config(layout));
    cfg.imds_ip = Some([127, 0, 0, 1].into());
    AwsSim::start(cfg)
        .await
        .map_err(|e| Error::Other(format!("EC2 simulator: {e}")))
}

/// The fabric both fronts program.
fn fabric_config(layout: &Layout) -> FabricConfig {
    let mode = match std::env::var("PGVIP_FABRIC_MODE").as_deref() {
        Ok("assignment-routed") => FabricMode::AssignmentRouted,
        _ => FabricMode::MacSticky,
    };
    FabricConfig {
        netns: layout.fabric_netns.clone(),
        bridge: "br0".into(),
        mode,
        propagation_delay: Duration::ZERO,
    }
}

/// The running front (none on the L2 flavour: the bridge stays plain).
enum Front {
    Oci(pgvip_cloudsim::SimHandle),
    Aws(pgvip_cloudsim::aws::AwsSimHandle),
    None,
}

impl Front {
    async fn start(layout: &Layout) -> Result<Self> {
        Ok(match layout.cloud {
            CloudFlavour::Oci => Front::Oci(start_sim(layout).await?),
            CloudFlavour::Aws => Front::Aws(start_aws_sim(layout).await?),
            CloudFlavour::L2 => Front::None,
        })
    }

    async fn shutdown(self) {
        match self {
            Front::Oci(s) => s.shutdown().await,
            Front::Aws(s) => s.shutdown().await,
            Front::None => {}
        }
    }
}

/// Runs until SIGTERM/SIGINT.
pub async fn run(layout: Layout) -> Result<()> {
    let api: SocketAddr = ([127, 0, 0, 1], layout.apiserver_port).into();
    let oci: SocketAddr = ([127, 0, 0, 1], layout.oci_port).into();
    let client = crate::testbed::admin_client(&layout).await?;
    if layout.cloud == CloudFlavour::Aws {
        // The controller's projected tokens (IRSA, Pod Identity), before anything can use them.
        aws_identity::write_tokens(&client, &layout).await?;
    }
    let sim = Front::start(&layout).await?;
    info!(cloud = layout.cloud.key(), "cloud simulator up");
    let mut tasks = vec![];
    for ns in layout.forwarded_netns() {
        tasks.push(fwd::spawn(&ns, api, api)?);
        tasks.push(fwd::spawn(&ns, oci, oci)?);
    }
    if layout.cloud == CloudFlavour::Aws {
        // The first worker's IMDS, for a controller that takes its instance profile; STS and
        // the Pod Identity agent, for one that takes IRSA or Pod Identity.
        for port in [
            cloud::imds_port(0),
            aws_identity::STS_PORT,
            aws_identity::POD_IDENTITY_PORT,
        ] {
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            tasks.push(fwd::spawn(&layout.controller_host.netns, addr, addr)?);
        }
    }
    info!(namespaces = ?layout.forwarded_netns(), "forwarders up");
    let beat = {
        let layout = layout.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = cluster::heartbeat(&client, &layout).await {
                    warn!(%error, "node heartbeat failed");
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        })
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| crate::Error::Other(e.to_string()))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    beat.abort();
    for t in tasks {
        t.abort();
    }
    sim.shutdown().await;
    Ok(())
}
