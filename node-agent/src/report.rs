//! Writes this node's `status.nodes[]` entry with server-side apply on `/status`, under the
//! field manager `pgvip-node-agent/<node>`, sending only `{apiVersion, kind, status: {nodes:
//! [entry]}}` so agents on different nodes never conflict. Requests for the same VIP are
//! coalesced (only the newest is written); failures are retried with backoff.
//!
//! Data flow: `agent` → `mpsc::UnboundedReceiver<ReportRequest>` → [`run`] → API server.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use pgvip_api::{agent_manager, NodeReport, PostgresVip};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::agent::ReportRequest;
use crate::metrics::Metrics;
use crate::model::VipKey;

/// The apply body: exactly this node's entry of the `nodes` list map.
pub fn status_patch(report: &NodeReport) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": PostgresVip::api_version(&()),
        "kind": PostgresVip::kind(&()),
        "status": { "nodes": [report] },
    })
}

/// Delay before retry number `attempt` (1-based): 250 ms doubling up to 30 s.
pub fn retry_delay(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(7));
    Duration::from_millis(ms.min(30_000))
}

/// Writes queued reports until the channel closes.
pub async fn run(
    client: Client,
    node: String,
    mut rx: mpsc::UnboundedReceiver<ReportRequest>,
    metrics: Metrics,
) {
    let params = PatchParams::apply(&agent_manager(&node)).force();
    let mut pending: BTreeMap<VipKey, NodeReport> = BTreeMap::new();
    let mut attempt = 0u32;
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(r) => {
                    pending.insert(r.key, r.report);
                }
                None => return,
            }
        }
        while let Ok(r) = rx.try_recv() {
            pending.insert(r.key, r.report);
        }
        let Some((key, report)) = pending.pop_first() else {
            continue;
        };
        let api: Api<PostgresVip> = Api::namespaced(client.clone(), &key.namespace);
        match api
            .patch_status(&key.name, &params, &Patch::Apply(status_patch(&report)))
            .await
        {
            Ok(_) => {
                attempt = 0;
                metrics.reports_written.inc();
                debug!(vip = %key, configured = report.address_configured, "status report written");
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                debug!(vip = %key, "VIP gone; report dropped");
            }
            Err(error) => {
                attempt += 1;
                metrics.error("report");
                warn!(vip = %key, %error, attempt, "cannot write status report; retrying");
                // Keep the newest report: one queued meanwhile replaces this one.
                pending.entry(key).or_insert(report);
                tokio::time::sleep(retry_delay(attempt)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_carries_only_this_nodes_entry() {
        let report = NodeReport {
            node: "w1".into(),
            address_configured: true,
            interface: Some("eth0".into()),
            announced_for: Some("2025-05-01T10:00:00.000Z".into()),
            announced_at: Some("2025-05-01T10:00:00.012Z".into()),
            last_error: None,
            updated_at: "2025-05-01T10:00:00.013Z".into(),
        };
        assert_eq!(
            status_patch(&report),
            serde_json::json!({
                "apiVersion": "pgvip.dev/v1alpha1",
                "kind": "PostgresVip",
                "status": {"nodes": [{
                    "node": "w1",
                    "addressConfigured": true,
                    "interface": "eth0",
                    "announcedFor": "2025-05-01T10:00:00.000Z",
                    "announcedAt": "2025-05-01T10:00:00.012Z",
                    "updatedAt": "2025-05-01T10:00:00.013Z"
                }]}
            })
        );
        assert_eq!(agent_manager("w1"), "pgvip-node-agent/w1");
    }

    #[test]
    fn retry_backs_off_to_thirty_seconds() {
        let ms = |n| retry_delay(n).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(8), ms(9), ms(50)],
            [250, 500, 1000, 30_000, 30_000, 30_000]
        );
    }
}
