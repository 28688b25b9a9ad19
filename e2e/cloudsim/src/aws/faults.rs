//! The AWS front's fault injection, driven by tests through [`AwsFaults`] or by another
//! process through the admin endpoint (same [`AwsFaultCommand`] JSON).
//!
//! Each EC2 or IMDS request asks [`AwsFaults::plan`] first: extra latency, and maybe an
//! injected failure (`RequestLimitExceeded` 503, `Throttling` 400, a 5xx, any code, holding
//! or dropping the connection). The rules engine is the front-agnostic
//! [`crate::faults::rules`]; the rest (authentication outage, per-principal action
//! overrides, remap and fabric delays, the account's rate limit) is AWS's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::Ec2Error;
use crate::faults::rules::{Plan, Rules};
use crate::ratelimit::{RateLimit, TokenBucket};

/// The requests the AWS front serves (EC2 action names, IMDS, STS, the Pod Identity agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// `DescribeNetworkInterfaces`.
    DescribeNetworkInterfaces,
    /// `AssignPrivateIpAddresses`.
    AssignPrivateIpAddresses,
    /// `UnassignPrivateIpAddresses`.
    UnassignPrivateIpAddresses,
    /// Any IMDS request.
    Imds,
    /// STS `AssumeRoleWithWebIdentity` (IRSA).
    AssumeRoleWithWebIdentity,
    /// A request to the EKS Pod Identity agent (`GET /v1/credentials`).
    PodIdentityCredentials,
    /// A missing or unknown `Action`.
    Unknown,
}

impl Action {
    /// The EC2 action of an `Action=` value (anything else is `Unknown` to EC2).
    pub fn from_name(name: Option<&str>) -> Action {
        match name {
            Some("DescribeNetworkInterfaces") => Action::DescribeNetworkInterfaces,
            Some("AssignPrivateIpAddresses") => Action::AssignPrivateIpAddresses,
            Some("UnassignPrivateIpAddresses") => Action::UnassignPrivateIpAddresses,
            _ => Action::Unknown,
        }
    }
    /// The action name (for EC2 actions IAM's `ec2:<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Action::DescribeNetworkInterfaces => "DescribeNetworkInterfaces",
            Action::AssignPrivateIpAddresses => "AssignPrivateIpAddresses",
            Action::UnassignPrivateIpAddresses => "UnassignPrivateIpAddresses",
            Action::Imds => "Imds",
            Action::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            Action::PodIdentityCredentials => "PodIdentityCredentials",
            Action::Unknown => "Unknown",
        }
    }
}

/// What an injected failure does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AwsFailure {
    /// 503 `RequestLimitExceeded` (EC2's throttling).
    RequestLimitExceeded,
    /// 400 `Throttling`.
    Throttling,
    /// A 5xx with EC2's code for it (500 `InternalError`, 503 `Unavailable`).
    Status {
        /// HTTP status.
        status: u16,
    },
    /// Any status and code.
    Error {
        /// HTTP status.
        status: u16,
        /// EC2 error code.
        code: String,
    },
    /// Hold the connection without answering (until the client gives up or shutdown).
    Timeout,
    /// Close the connection without an answer.
    Drop,
}

impl AwsFailure {
    /// The error answered, for the failures that answer one.
    pub fn to_ec2(&self) -> Option<Ec2Error> {
        match self {
            AwsFailure::RequestLimitExceeded => Some(Ec2Error::request_limit()),
            AwsFailure::Throttling => Some(Ec2Error::throttling()),
            AwsFailure::Status { status } => Some(Ec2Error::server(*status)),
            AwsFailure::Error { status, code } => {
                Some(Ec2Error::new(*status, code, "Injected by the simulator."))
            }
            AwsFailure::Timeout | AwsFailure::Drop => None,
        }
    }
}

/// A change to the AWS fault configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AwsFaultCommand {
    /// Add latency to one action (or to all when `action` is absent); 0 removes it.
    Latency {
        /// Action, or every one.
        #[serde(default)]
        action: Option<Action>,
        /// Milliseconds.
        millis: u64,
    },
    /// Fail the next `count` calls of `action` (or of any).
    Fail {
        /// Action, or every one.
        #[serde(default)]
        action: Option<Action>,
        /// How many calls.
        count: u32,
        /// How they fail.
        failure: AwsFailure,
    },
    /// Every EC2 call answers `AuthFailure` while enabled.
    AuthOutage {
        /// On or off.
        enabled: bool,
    },
    /// Replace a principal's allowed actions (by principal name).
    Actions {
        /// The principal.
        principal: String,
        /// New allowed action patterns.
        actions: Vec<String>,
    },
    /// Delay before a reassigned address shows on its new interface (Describe, IMDS,
    /// fabric).
    RemapDelay {
        /// Milliseconds.
        millis: u64,
    },
    /// Extra delay between a visible control-plane change and the fabric applying it.
    FabricDelay {
        /// Milliseconds.
        millis: u64,
    },
    /// Change (or remove) the account's rate limit.
    #[serde(rename_all = "camelCase")]
    RateLimit {
        /// New limit; absent = unlimited.
        #[serde(default)]
        rate_limit: Option<RateLimit>,
    },
    /// Remove latency, pending failures, the auth outage and action overrides.
    Clear,
}

#[derive(Debug)]
struct FaultState {
    rules: Rules<Action, AwsFailure>,
    auth_outage: bool,
    actions: HashMap<String, Vec<String>>,
    remap_delay: Duration,
    fabric_delay: Duration,
    rate_limit: Option<RateLimit>,
    bucket: Option<TokenBucket>,
}

/// Shared AWS fault configuration (cheap to clone).
#[derive(Debug, Clone)]
pub struct AwsFaults {
    inner: Arc<Mutex<FaultState>>,
}

impl AwsFaults {
    /// No faults; the given delays and rate limit.
    pub fn new(
        remap_delay: Duration,
        fabric_delay: Duration,
        rate_limit: Option<RateLimit>,
    ) -> Self {
        AwsFaults {
            inner: Arc::new(Mutex::new(FaultState {
                rules: Rules::default(),
                auth_outage: false,
                actions: HashMap::new(),
                remap_delay,
                fabric_delay,
                rate_limit,
                bucket: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a command.
    pub fn apply(&self, cmd: AwsFaultCommand) {
        let mut s = self.lock();
        match cmd {
            AwsFaultCommand::Latency { action, millis } => {
                s.rules.set_latency(action, Duration::from_millis(millis))
            }
            AwsFaultCommand::Fail {
                action,
                count,
                failure,
            } => s.rules.fail_next(action, count, failure),
            AwsFaultCommand::AuthOutage { enabled } => s.auth_outage = enabled,
            AwsFaultCommand::Actions { principal, actions } => {
                s.actions.insert(principal, actions);
            }
            AwsFaultCommand::RemapDelay { millis } => s.remap_delay = Duration::from_millis(millis),
            AwsFaultCommand::FabricDelay { millis } => {
                s.fabric_delay = Duration::from_millis(millis)
            }
            AwsFaultCommand::RateLimit { rate_limit } => {
                s.rate_limit = rate_limit;
                s.bucket = None;
            }
            AwsFaultCommand::Clear => {
                s.rules.clear();
                s.auth_outage = false;
                s.actions.clear();
            }
        }
    }

    /// Fails the next `count` calls of `action` (any when `None`).
    pub fn fail_next(&self, action: Option<Action>, count: u32, failure: AwsFailure) {
        self.apply(AwsFaultCommand::Fail {
            action,
            count,
            failure,
        });
    }

    /// Adds latency to `action` (all when `None`).
    pub fn set_latency(&self, action: Option<Action>, latency: Duration) {
        self.apply(AwsFaultCommand::Latency {
            action,
            millis: latency.as_millis() as u64,
        });
    }

    /// Replaces a principal's allowed actions.
    pub fn set_actions(&self, principal: &str, actions: &[&str]) {
        self.apply(AwsFaultCommand::Actions {
            principal: principal.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        });
    }

    /// Sets the remap delay.
    pub fn set_remap_delay(&self, delay: Duration) {
        self.apply(AwsFaultCommand::RemapDelay {
            millis: delay.as_millis() as u64,
        });
    }

    /// Decides latency and failure for one call, consuming a pending failure.
    pub fn plan(&self, action: Action) -> Plan<AwsFailure> {
        self.lock().rules.plan(action)
    }

    /// Whether the authentication outage is on.
    pub fn auth_outage(&self) -> bool {
        self.lock().auth_outage
    }

    /// The override of a principal's allowed actions, if any.
    pub fn actions_override(&self, principal: &str) -> Option<Vec<String>> {
        self.lock().actions.get(principal).cloned()
    }

    /// The current remap delay.
    pub fn remap_delay(&self) -> Duration {
        self.lock().remap_delay
    }

    /// The current fabric delay.
    pub fn fabric_delay(&self) -> Duration {
        self.lock().fabric_delay
    }

    /// Takes a token from the account's bucket; `false` means `RequestLimitExceeded`.
    pub fn take_token(&self, now: Instant) -> bool {
        let mut s = self.lock();
        let Some(limit) = s.rate_limit else {
            return true;
        };
        s.bucket
            .get_or_insert_with(|| TokenBucket::new(limit, now))
            .take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_apply() {
        let cmd: AwsFaultCommand = serde_json::from_str(
            r#"{"kind":"fail","action":"AssignPrivateIpAddresses","count":2,"failure":{"type":"error","status":400,"code":"Throttling"}}"#,
        )
        .unwrap();
        let f = AwsFaults::new(Duration::from_millis(30), Duration::ZERO, None);
        f.apply(cmd);
        f.apply(
            serde_json::from_str(
                r#"{"kind":"fail","count":1,"failure":{"type":"requestLimitExceeded"}}"#,
            )
            .unwrap(),
        );
        let plans: Vec<Option<u16>> = [
            Action::DescribeNetworkInterfaces,
            Action::AssignPrivateIpAddresses,
            Action::AssignPrivateIpAddresses,
            Action::AssignPrivateIpAddresses,
        ]
        .map(|a| f.plan(a).failure.and_then(|x| x.to_ec2()).map(|e| e.status))
        .to_vec();
        assert_eq!(plans, [Some(503), Some(400), Some(400), None]);
        f.apply(serde_json::from_str(r#"{"kind":"remapDelay","millis":5}"#).unwrap());
        assert_eq!(f.remap_delay(), Duration::from_millis(5));
        f.set_actions("pgvip", &["ec2:Describe*"]);
        assert_eq!(f.actions_override("pgvip").unwrap(), ["ec2:Describe*"]);
        f.apply(AwsFaultCommand::Clear);
        assert!(f.actions_override("pgvip").is_none());
        f.apply(
            serde_json::from_str(r#"{"kind":"rateLimit","rateLimit":{"perSecond":1.0,"burst":1}}"#)
                .unwrap(),
        );
        let t = Instant::now();
        assert!(f.take_token(t));
        assert!(!f.take_token(t));
    }

    #[test]
    fn failures_map_to_ec2_codes() {
        let table = [
            (
                AwsFailure::RequestLimitExceeded,
                Some((503, "RequestLimitExceeded")),
            ),
            (AwsFailure::Throttling, Some((400, "Throttling"))),
            (
                AwsFailure::Status { status: 500 },
                Some((500, "InternalError")),
            ),
            (
                AwsFailure::Status { status: 503 },
                Some((503, "Unavailable")),
            ),
            (AwsFailure::Timeout, None),
            (AwsFailure::Drop, None),
        ];
        for (f, want) in table {
            let got = f.to_ec2().map(|e| (e.status, e.code));
            assert_eq!(got, want.map(|(s, c)| (s, c.to_string())), "{f:?}");
        }
    }
}
