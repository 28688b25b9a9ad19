//! Fault injection, driven by tests through [`Faults`] or by another process through the
//! admin endpoint (same [`FaultCommand`] JSON).
//!
//! Each request asks [`Faults::plan`] what to do before it runs: extra latency, and maybe
//! an injected failure (429 with or without `Retry-After`, a 5xx, holding the connection,
//! dropping it). Rules for "the next N calls" are consumed in the order they were added,
//! by the front-agnostic engine in [`rules`] (the AWS front uses it too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::inventory::Permissions;
use crate::ratelimit::{RateLimit, TokenBucket};

#[path = "fault_rules.rs"]
pub mod rules;
use rules::Rules;

/// The operations the simulator serves (OCI's operation names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// `GET /instances/{id}`.
    GetInstance,
    /// `GET /vnicAttachments`.
    ListVnicAttachments,
    /// `GET /vnics/{id}`.
    GetVnic,
    /// `GET /privateIps`.
    ListPrivateIps,
    /// `GET /privateIps/{id}`.
    GetPrivateIp,
    /// `POST /privateIps`.
    CreatePrivateIp,
    /// `PUT /privateIps/{id}`.
    UpdatePrivateIp,
    /// `DELETE /privateIps/{id}`.
    DeletePrivateIp,
    /// `GET /ipv6`.
    ListIpv6s,
    /// `GET /ipv6/{id}`.
    GetIpv6,
    /// `POST /ipv6`.
    CreateIpv6,
    /// `PUT /ipv6/{id}`.
    UpdateIpv6,
    /// `DELETE /ipv6/{id}`.
    DeleteIpv6,
    /// `POST /v1/x509` (instance principal federation).
    X509Federation,
    /// `POST /resourcePrincipalSessionTokens` (OKE workload identity).
    OkeWorkloadToken,
    /// Any IMDS request.
    Imds,
    /// A path the simulator does not serve.
    Unknown,
    /// The admin endpoint (never faulted, never logged).
    Admin,
}

/// What an injected failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Failure {
    /// 429 TooManyRequests, with `Retry-After` when given.
    #[serde(rename_all = "camelCase")]
    Throttle {
        /// Seconds for `Retry-After`.
        retry_after_seconds: Option<u64>,
    },
    /// A 5xx (500 InternalServerError, 503 ServiceUnavailable, …) or any other status.
    Status {
        /// HTTP status.
        status: u16,
    },
    /// Hold the connection without answering (until the client gives up or shutdown).
    Timeout,
    /// Close the connection without an answer.
    Drop,
    /// Serve the call (its effect happens at once) and hold its answer this long: the window
    /// between a change in the cloud and the client learning of it.
    AnswerLate {
        /// Milliseconds.
        millis: u64,
    },
}

/// A change to the fault configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultCommand {
    /// Add latency to one operation (or to all when `operation` is absent); 0 removes it.
    Latency {
        /// Operation, or every one.
        #[serde(default)]
        operation: Option<Operation>,
        /// Milliseconds.
        millis: u64,
    },
    /// Fail the next `count` calls of `operation` (or of any operation).
    Fail {
        /// Operation, or every one.
        #[serde(default)]
        operation: Option<Operation>,
        /// How many calls.
        count: u32,
        /// How they fail.
        failure: Failure,
    },
    /// Every authenticated call answers 401 while enabled.
    AuthOutage {
        /// On or off.
        enabled: bool,
    },
    /// Replace a principal's permissions (user OCID, instance OCID or workload name).
    Permissions {
        /// The principal.
        principal: String,
        /// New permissions.
        permissions: Permissions,
    },
    /// Delay between a control-plane change and the fabric applying it.
    FabricDelay {
        /// Milliseconds.
        millis: u64,
    },
    /// Change (or remove) the per-tenancy rate limit.
    #[serde(rename_all = "camelCase")]
    RateLimit {
        /// New limit; absent = unlimited.
        #[serde(default)]
        rate_limit: Option<RateLimit>,
    },
    /// Remove latency, pending failures, the auth outage and permission overrides.
    Clear,
}

/// What to do with one OCI call.
pub type Plan = rules::Plan<Failure>;

#[derive(Debug)]
struct FaultState {
    rules: Rules<Operation, Failure>,
    auth_outage: bool,
    permissions: HashMap<String, Permissions>,
    fabric_delay: Duration,
    rate_limit: Option<RateLimit>,
    buckets: HashMap<String, TokenBucket>,
}

/// Shared fault configuration (cheap to clone).
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
    changed: Arc<tokio::sync::Notify>,
}

impl Faults {
    /// Starts with no faults, the given fabric delay and rate limit.
    pub fn new(fabric_delay: Duration, rate_limit: Option<RateLimit>) -> Self {
        Faults {
            inner: Arc::new(Mutex::new(FaultState {
                rules: Rules::default(),
                auth_outage: false,
                permissions: HashMap::new(),
                fabric_delay,
                rate_limit,
                buckets: HashMap::new(),
            })),
            changed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a command.
    pub fn apply(&self, cmd: FaultCommand) {
        let mut s = self.lock();
        match cmd {
            FaultCommand::Latency { operation, millis } => s
                .rules
                .set_latency(operation, Duration::from_millis(millis)),
            FaultCommand::Fail {
                operation,
                count,
                failure,
            } => s.rules.fail_next(operation, count, failure),
            FaultCommand::AuthOutage { enabled } => s.auth_outage = enabled,
            FaultCommand::Permissions {
                principal,
                permissions,
            } => {
                s.permissions.insert(principal, permissions);
            }
            FaultCommand::FabricDelay { millis } => s.fabric_delay = Duration::from_millis(millis),
            FaultCommand::RateLimit { rate_limit } => {
                s.rate_limit = rate_limit;
                s.buckets.clear();
            }
            FaultCommand::Clear => {
                s.rules.clear();
                s.auth_outage = false;
                s.permissions.clear();
            }
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// Adds `latency` to `op` (all operations when `None`).
    pub fn set_latency(&self, op: Option<Operation>, latency: Duration) {
        self.apply(FaultCommand::Latency {
            operation: op,
            millis: latency.as_millis() as u64,
        });
    }

    /// Fails the next `count` calls of `op` (any operation when `None`).
    pub fn fail_next(&self, op: Option<Operation>, count: u32, failure: Failure) {
        self.apply(FaultCommand::Fail {
            operation: op,
            count,
            failure,
        });
    }

    /// Turns the authentication outage on or off.
    pub fn set_auth_outage(&self, enabled: bool) {
        self.apply(FaultCommand::AuthOutage { enabled });
    }

    /// Overrides a principal's permissions.
    pub fn set_permissions(&self, principal: &str, permissions: Permissions) {
        self.apply(FaultCommand::Permissions {
            principal: principal.into(),
            permissions,
        });
    }

    /// Sets the fabric propagation delay.
    pub fn set_fabric_delay(&self, delay: Duration) {
        self.apply(FaultCommand::FabricDelay {
            millis: delay.as_millis() as u64,
        });
    }

    /// Decides latency and failure for one call, consuming a pending failure.
    pub fn plan(&self, op: Operation) -> Plan {
        self.lock().rules.plan(op)
    }

    /// Whether the authentication outage is on.
    pub fn auth_outage(&self) -> bool {
        self.lock().auth_outage
    }

    /// The override for a principal, if any.
    pub fn permissions_override(&self, principal: &str) -> Option<Permissions> {
        self.lock().permissions.get(principal).copied()
    }

    /// The current fabric propagation delay.
    pub fn fabric_delay(&self) -> Duration {
        self.lock().fabric_delay
    }

    /// Takes a rate-limit token for `tenancy`; `false` means 429.
    pub fn take_token(&self, tenancy: &str, now: Instant) -> bool {
        let mut s = self.lock();
        let Some(limit) = s.rate_limit else {
            return true;
        };
        s.buckets
            .entry(tenancy.to_string())
            .or_insert_with(|| TokenBucket::new(limit, now))
            .take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_failures_are_consumed_in_order_and_per_operation() {
        let f = Faults::new(Duration::ZERO, None);
        f.fail_next(
            Some(Operation::UpdatePrivateIp),
            2,
            Failure::Throttle {
                retry_after_seconds: Some(1),
            },
        );
        f.fail_next(None, 1, Failure::Status { status: 503 });
        f.set_latency(Some(Operation::GetVnic), Duration::from_millis(50));
        let table = [
            (
                Operation::GetVnic,
                Duration::from_millis(50),
                Some(Failure::Status { status: 503 }),
            ),
            (
                Operation::UpdatePrivateIp,
                Duration::ZERO,
                Some(Failure::Throttle {
                    retry_after_seconds: Some(1),
                }),
            ),
            (Operation::GetVnic, Duration::from_millis(50), None),
            (
                Operation::UpdatePrivateIp,
                Duration::ZERO,
                Some(Failure::Throttle {
                    retry_after_seconds: Some(1),
                }),
            ),
            (Operation::UpdatePrivateIp, Duration::ZERO, None),
        ];
        for (op, latency, failure) in table {
            assert_eq!(f.plan(op), Plan { latency, failure }, "{op:?}");
        }
        f.apply(FaultCommand::Clear);
        assert_eq!(f.plan(Operation::GetVnic), Plan::default());
    }

    #[test]
    fn commands_round_trip_as_json() {
        let cmd: FaultCommand = serde_json::from_str(
            r#"{"kind":"fail","operation":"UpdatePrivateIp","count":3,"failure":{"type":"throttle","retryAfterSeconds":2}}"#,
        )
        .unwrap();
        assert_eq!(
            cmd,
            FaultCommand::Fail {
                operation: Some(Operation::UpdatePrivateIp),
                count: 3,
                failure: Failure::Throttle {
                    retry_after_seconds: Some(2)
                }
            }
        );
        let cmd: FaultCommand =
            serde_json::from_str(r#"{"kind":"rateLimit","rateLimit":{"perSecond":1.5,"burst":2}}"#)
                .unwrap();
        assert_eq!(
            cmd,
            FaultCommand::RateLimit {
                rate_limit: Some(RateLimit {
                    per_second: 1.5,
                    burst: 2
                })
            }
        );
    }
}
