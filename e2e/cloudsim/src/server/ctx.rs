//! The context every handler shares: control-plane state, principals, identities,
//! faults, call log, and the link to the fabric.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tracing::info;

use super::{Handled, Req};
use crate::api_error::ApiError;
use crate::auth::{verify_signed, Principal, Registry, SignedRequest};
use crate::calllog::CallLog;
use crate::fabric::Feed;
use crate::faults::Faults;
use crate::inventory::Permissions;
use crate::pki::InstanceIdentity;
use crate::server::retry::RetryStore;
use crate::state::State;

pub use crate::fabric::{FabricStatus, FabricUpdate};

/// Shared handler context.
pub struct Ctx {
    /// Control-plane state.
    pub state: Mutex<State>,
    /// Principals and token issuer.
    pub registry: Registry,
    /// Fault configuration.
    pub faults: Faults,
    /// Call log.
    pub calls: CallLog,
    /// Instance identities by instance OCID.
    pub identities: HashMap<String, InstanceIdentity>,
    /// Intermediate CA (PEM), served by IMDS.
    pub intermediate_pem: String,
    /// Intermediate CA (DER), expected in federation requests.
    pub intermediate_der: Vec<u8>,
    /// Accepted OKE service-account tokens → principal.
    pub workload_tokens: HashMap<String, String>,
    /// Session token lifetime.
    pub token_ttl: Duration,
    /// Allowed clock skew (`None` disables the check).
    pub max_skew: Option<Duration>,
    /// `opc-retry-token` results.
    pub retry: Mutex<RetryStore>,
    /// Shutdown signal.
    pub shutdown: watch::Receiver<bool>,
    /// The link to the fabric (generations, delayed snapshots, applied status).
    pub fabric: Feed,
}

/// Recovers the guard of a poisoned mutex (a panicked handler must not wedge the sim).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    /// Authenticates a Core Services request; `Err` is the 401 to answer.
    pub fn authenticate_core(&self, req: &Req) -> Result<Principal, Handled> {
        if self.faults.auth_outage() {
            return Err(Handled::anon(ApiError::not_authenticated()));
        }
        let now = SystemTime::now();
        let signed = SignedRequest {
            method: &req.method,
            target: &req.target,
            headers: &req.headers,
            body: &req.body,
            now,
            max_skew: self.max_skew,
            need_host: true,
        };
        verify_signed(&signed, |key_id| self.registry.resolve_core(key_id, now)).map_err(|reason| {
            info!(path = %req.path, %reason, "authentication failed");
            Handled::anon(ApiError::not_authenticated())
        })
    }

    /// Effective permissions: runtime override, else the inventory's.
    pub fn permissions(&self, principal: &str) -> Permissions {
        self.faults
            .permissions_override(principal)
            .unwrap_or_else(|| self.registry.base_permissions(principal))
    }

    /// The per-tenancy rate limit; `Err` is the 429 to answer.
    pub fn rate_limit(&self, principal: &Principal) -> Result<(), Handled> {
        let tenancy = lock(&self.state).tenancy_id.clone();
        if self.faults.take_token(&tenancy, Instant::now()) {
            Ok(())
        } else {
            Err(Handled {
                resp: ApiError::too_many_requests(None).into(),
                principal: Some(principal.name.clone()),
                injected: true,
            })
        }
    }

    /// Tells the fabric about the current assignments (after the propagation delay).
    pub fn assignments_changed(&self, st: &State) {
        self.fabric
            .publish(st.assignments(), self.faults.fabric_delay());
    }

    /// The VNIC currently holding `ip` in the control plane.
    pub fn assignment(&self, ip: IpAddr) -> Option<String> {
        lock(&self.state).assignment(ip)
    }
}
