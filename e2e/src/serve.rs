//! The testbed supervisor (`testbed serve`), a detached process that lives as long as the
//! testbed: it relays loopback ports into the namespaces and keeps the worker Nodes' Ready
//! condition and Leases fresh, as kubelets would.

use std::{net::SocketAddr, time::Duration};

use tracing::{info, warn};

use crate::{cluster, error::Result, fwd, layout::Layout};

/// Runs until SIGTERM/SIGINT.
pub async fn run(layout: Layout) -> Result<()> {
    let api: SocketAddr = ([127, 0, 0, 1], layout.apiserver_port).into();
    let oci: SocketAddr = ([127, 0, 0, 1], layout.oci_port).into();
    let mut tasks = vec![];
    for ns in layout.forwarded_netns() {
        tasks.push(fwd::spawn(&ns, api, api)?);
        tasks.push(fwd::spawn(&ns, oci, oci)?);
    }
    info!(namespaces = ?layout.forwarded_netns(), "forwarders up");
    let client = crate::testbed::admin_client(&layout).await?;
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
    Ok(())
}
