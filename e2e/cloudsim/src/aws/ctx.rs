//! What every AWS handler shares: the EC2 state, IAM, faults, the call log, IMDS tokens,
//! the temporary credentials STS and Pod Identity issued, and the link to the fabric (including the timers that publish completed remaps).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::info;

use super::faults::{Action, AwsFailure, AwsFaults};
use super::iam::Iam;
use super::sessions::SessionStore;
use super::state::AwsState;
use crate::calllog::Journal;
use crate::fabric::Feed;
use crate::server::ctx::lock;

/// One AWS call (EC2, IMDS, STS or the Pod Identity agent) as the call log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsCallRecord {
    /// The action (`Imds` for metadata requests, `Unknown` for bad `Action`s).
    pub action: Action,
    /// EC2: the access key that signed the request. STS and the Pod Identity agent: the
    /// access key they issued. Access key ids are not secrets (CloudTrail logs them too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Authenticated principal name, if any.
    pub principal: Option<String>,
    /// HTTP status; 0 when the connection was dropped or held without an answer.
    pub status: u16,
    /// EC2 error code for errors.
    pub code: Option<String>,
    /// The request id answered (`x-amzn-requestid`, `<requestId>`).
    pub request_id: String,
    /// When the request arrived, RFC 3339 with milliseconds.
    pub timestamp: String,
    /// Whether `DryRun=true` was asked.
    pub dry_run: bool,
    /// Whether fault injection or the rate limit produced this answer.
    pub injected: bool,
    /// The Query parameters (for IMDS: `method` and `path`).
    pub params: BTreeMap<String, String>,
}

/// The AWS front's call log.
pub type AwsCallLog = Journal<AwsCallRecord>;

/// Shared handler context.
pub struct AwsCtx {
    /// EC2 state.
    pub state: Mutex<AwsState>,
    /// Principals.
    pub iam: Iam,
    /// Fault configuration.
    pub faults: AwsFaults,
    /// Call log.
    pub calls: AwsCallLog,
    /// Link to the fabric.
    pub fabric: Feed,
    /// Allowed client clock skew (`None` disables the check).
    pub max_skew: Option<Duration>,
    /// Shutdown signal.
    pub shutdown: watch::Receiver<bool>,
    /// Temporary credentials issued by STS and the Pod Identity agent.
    pub sessions: SessionStore,
    /// IMDSv2 session tokens → (instance id, expiry).
    pub imds_tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Remap timers not yet fired.
    pub remaps_in_flight: AtomicUsize,
}

/// What [`AwsCtx::injected`] decided for one call.
pub enum Injected {
    /// Close the connection without an answer.
    Drop,
    /// Answer with this injected failure.
    Fail(AwsFailure),
    /// No fault: answer normally.
    Answer,
}

impl AwsCtx {
    /// Applies the fault plan of one call to a credentials front (IMDS, STS, Pod Identity):
    /// sleeps the injected latency, then says whether to drop the request (after waiting for
    /// shutdown on an injected timeout), fail it, or answer it.
    pub async fn injected(&self, action: Action) -> Injected {
        let plan = self.faults.plan(action);
        if !plan.latency.is_zero() {
            tokio::time::sleep(plan.latency).await;
        }
        match plan.failure {
            Some(AwsFailure::Drop) => Injected::Drop,
            Some(AwsFailure::Timeout) => {
                crate::http::until_shutdown(self.shutdown.clone()).await;
                Injected::Drop
            }
            Some(f) => Injected::Fail(f),
            None => Injected::Answer,
        }
    }

    /// Publishes the assignments visible now to the fabric and, when a remap is in flight,
    /// publishes again once it becomes visible.
    pub fn changed(self: &Arc<Self>, st: &AwsState, remap_due: Option<Instant>) {
        self.fabric
            .publish(st.assignments(Instant::now()), self.faults.fabric_delay());
        let Some(due) = remap_due else { return };
        self.remaps_in_flight.fetch_add(1, Ordering::SeqCst);
        let ctx = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            ctx.publish_now();
            ctx.remaps_in_flight.fetch_sub(1, Ordering::SeqCst);
            info!("remap visible");
        });
    }

    fn publish_now(&self) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        st.settle(now);
        self.fabric
            .publish(st.assignments(now), self.faults.fabric_delay());
    }

    /// The ENI an address is visible on now.
    pub fn owner(&self, ip: Ipv4Addr) -> Option<String> {
        lock(&self.state)
            .owner(ip, Instant::now())
            .map(String::from)
    }
}
