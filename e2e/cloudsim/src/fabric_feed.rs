//! The link from a front's control plane to the fabric, the same for every cloud.
//!
//! Flow: a front calls [`Feed::publish`] with the full list of [`Assignment`]s after each
//! change (under its state lock, so generations follow change order); the feed numbers the
//! snapshot, waits the propagation delay, and hands it to the fabric task ([`super::run`]),
//! which applies the newest and publishes a [`FabricStatus`]. Tests and the admin endpoints
//! read that status and wait for a generation to be applied.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{apply_update, run, Assignment, FabricConfig, FabricStatus, FabricUpdate};
use crate::Error;

/// Numbers snapshots and forwards them to the fabric task.
pub struct Feed {
    tx: mpsc::UnboundedSender<FabricUpdate>,
    generation: Mutex<u64>,
    status: watch::Receiver<FabricStatus>,
}

impl Feed {
    /// Applies `initial` (generation 0) synchronously, then spawns the fabric task.
    /// Fails when the initial ruleset cannot be applied.
    pub async fn start(
        cfg: Option<FabricConfig>,
        initial: Vec<Assignment>,
    ) -> Result<(Feed, JoinHandle<()>), Error> {
        let first = FabricUpdate {
            generation: 0,
            assignments: initial,
        };
        let status0 = apply_update(cfg.as_ref(), &first).await;
        if let Some(e) = &status0.error {
            return Err(Error::Fabric(e.clone()));
        }
        let (status_tx, status_rx) = watch::channel(status0);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(cfg, rx, status_tx));
        Ok((
            Feed {
                tx,
                generation: Mutex::new(0),
                status: status_rx,
            },
            task,
        ))
    }

    /// Numbers `assignments` as the next generation and sends it after `delay`.
    pub fn publish(&self, assignments: Vec<Assignment>, delay: Duration) {
        let mut g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        *g += 1;
        let update = FabricUpdate {
            generation: *g,
            assignments,
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(update);
        });
    }

    /// The last generation handed out.
    pub fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the fabric applied last.
    pub fn status(&self) -> FabricStatus {
        self.status.borrow().clone()
    }

    /// A receiver of the fabric status (for waiting on it).
    pub fn watch(&self) -> watch::Receiver<FabricStatus> {
        self.status.clone()
    }

    /// Waits until the fabric has applied every generation handed out so far.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let target = self.generation();
        let mut rx = self.status.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| s.generation >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
