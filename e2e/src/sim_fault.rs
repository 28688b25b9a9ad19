//! Faults in the simulated cloud, said once for every flavour of the testbed.
//!
//! The scenarios and the benchmark name a fault by what it does to pgvip's move ([`SimFault`]
//! on a [`CloudCall`]); [`SimFault::command`] turns it into the JSON the running front's admin
//! endpoint takes (`POST /faults`): the OCI front's `FaultCommand` or the EC2 front's
//! `AwsFaultCommand`, with the calls and the error each cloud really answers.

use pgvip_cloudsim::{
    aws::{Action, AwsFailure, AwsFaultCommand},
    faults::Operation,
    Failure, FaultCommand,
};
use serde_json::Value;

use crate::layout::CloudFlavour;

/// A step of pgvip's move, by what it does rather than by the cloud's name for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudCall {
    /// The call that moves the address (OCI `UpdatePrivateIp`, EC2
    /// `AssignPrivateIpAddresses`).
    Move,
    /// The read that confirms the new owner (OCI `GetPrivateIp`, only when the update's own
    /// answer does not name the target; EC2 `DescribeNetworkInterfaces`, always: the remap is
    /// asynchronous).
    ReadBack,
    /// The read of who holds the address now, before the move (OCI `GetPrivateIp`, by the
    /// OCID the client remembers or after a first `ListPrivateIps`; EC2
    /// `DescribeNetworkInterfaces`).
    Lookup,
}

impl CloudCall {
    fn oci(self) -> Operation {
        match self {
            CloudCall::Move => Operation::UpdatePrivateIp,
            CloudCall::ReadBack => Operation::GetPrivateIp,
            CloudCall::Lookup => Operation::GetPrivateIp,
        }
    }

    fn aws(self) -> Action {
        match self {
            CloudCall::Move => Action::AssignPrivateIpAddresses,
            CloudCall::ReadBack | CloudCall::Lookup => Action::DescribeNetworkInterfaces,
        }
    }
}

/// One change to the simulated cloud's faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// Every `call` takes `millis` longer (0 removes the latency).
    Latency {
        /// Which call.
        call: CloudCall,
        /// Milliseconds.
        millis: u64,
    },
    /// The next `count` of `call` are throttled (OCI 429 with `Retry-After: 1`, EC2 503
    /// `RequestLimitExceeded`).
    Throttle {
        /// Which call.
        call: CloudCall,
        /// How many.
        count: u32,
    },
    /// The next `count` of `call` answer 503.
    Unavailable {
        /// Which call.
        call: CloudCall,
        /// How many.
        count: u32,
    },
    /// The next `count` of `call` are refused with an error the client must not retry (OCI
    /// 400, EC2 400 `InvalidParameterValue`).
    Refuse {
        /// Which call.
        call: CloudCall,
        /// How many.
        count: u32,
    },
    /// The next move takes effect in the cloud at once, and pgvip learns of it only `millis`
    /// later (OCI: the `UpdatePrivateIp` answer is held; EC2: `DescribeNetworkInterfaces`,
    /// the confirmation an asynchronous remap needs, is slowed until cleared).
    MovedUnseen {
        /// Milliseconds.
        millis: u64,
    },
    /// Every latency and pending failure removed.
    Clear,
}

impl SimFault {
    /// The admin command for the front of `cloud` (null on L2, which has none).
    pub fn command(self, cloud: CloudFlavour) -> Value {
        let json = match cloud {
            CloudFlavour::Oci => serde_json::to_value(self.oci()),
            CloudFlavour::Aws => serde_json::to_value(self.aws()),
            CloudFlavour::L2 => return Value::Null,
        };
        // Both command types are plain enums of plain fields: serialising cannot fail.
        json.unwrap_or(Value::Null)
    }

    fn oci(self) -> FaultCommand {
        match self {
            SimFault::Latency { call, millis } => FaultCommand::Latency {
                operation: Some(call.oci()),
                millis,
            },
            SimFault::Throttle { call, count } => FaultCommand::Fail {
                operation: Some(call.oci()),
                count,
                failure: Failure::Throttle {
                    retry_after_seconds: Some(1),
                },
            },
            SimFault::Unavailable { call, count } => FaultCommand::Fail {
                operation: Some(call.oci()),
                count,
                failure: Failure::Status { status: 503 },
            },
            SimFault::Refuse { call, count } => FaultCommand::Fail {
                operation: Some(call.oci()),
                count,
                failure: Failure::Status { status: 400 },
            },
            SimFault::MovedUnseen { millis } => FaultCommand::Fail {
                operation: Some(CloudCall::Move.oci()),
                count: 1,
                failure: Failure::AnswerLate { millis },
            },
            SimFault::Clear => FaultCommand::Clear,
        }
    }

    fn aws(self) -> AwsFaultCommand {
        match self {
            SimFault::Latency { call, millis } => AwsFaultCommand::Latency {
                action: Some(call.aws()),
                millis,
            },
            SimFault::Throttle { call, count } => AwsFaultCommand::Fail {
                action: Some(call.aws()),
                count,
                failure: AwsFailure::RequestLimitExceeded,
            },
            SimFault::Unavailable { call, count } => AwsFaultCommand::Fail {
                action: Some(call.aws()),
                count,
                failure: AwsFailure::Status { status: 503 },
            },
            SimFault::Refuse { call, count } => AwsFaultCommand::Fail {
                action: Some(call.aws()),
                count,
                failure: AwsFailure::Error {
                    status: 400,
                    code: "InvalidParameterValue".into(),
                },
            },
            SimFault::MovedUnseen { millis } => AwsFaultCommand::Latency {
                action: Some(CloudCall::ReadBack.aws()),
                millis,
            },
            SimFault::Clear => AwsFaultCommand::Clear,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_fault_names_the_call_and_error_of_each_cloud() {
        let move_throttled = SimFault::Throttle {
            call: CloudCall::Move,
            count: 2,
        };
        let table = [
            (
                move_throttled,
                CloudFlavour::Oci,
                json!({"kind": "fail", "operation": "UpdatePrivateIp", "count": 2,
                       "failure": {"type": "throttle", "retryAfterSeconds": 1}}),
            ),
            (
                move_throttled,
                CloudFlavour::Aws,
                json!({"kind": "fail", "action": "AssignPrivateIpAddresses", "count": 2,
                       "failure": {"type": "requestLimitExceeded"}}),
            ),
            (
                SimFault::Unavailable {
                    call: CloudCall::Lookup,
                    count: 1,
                },
                CloudFlavour::Oci,
                json!({"kind": "fail", "operation": "GetPrivateIp", "count": 1,
                       "failure": {"type": "status", "status": 503}}),
            ),
            (
                SimFault::MovedUnseen { millis: 4000 },
                CloudFlavour::Oci,
                json!({"kind": "fail", "operation": "UpdatePrivateIp", "count": 1,
                       "failure": {"type": "answerLate", "millis": 4000}}),
            ),
            (
                SimFault::MovedUnseen { millis: 4000 },
                CloudFlavour::Aws,
                json!({"kind": "latency", "action": "DescribeNetworkInterfaces", "millis": 4000}),
            ),
            (
                SimFault::Latency {
                    call: CloudCall::ReadBack,
                    millis: 4000,
                },
                CloudFlavour::Aws,
                json!({"kind": "latency", "action": "DescribeNetworkInterfaces", "millis": 4000}),
            ),
            (SimFault::Clear, CloudFlavour::Aws, json!({"kind": "clear"})),
        ];
        for (fault, cloud, want) in table {
            assert_eq!(fault.command(cloud), want, "{fault:?} on {cloud:?}");
        }
    }

    #[test]
    fn the_commands_are_what_the_fronts_parse() {
        for call in [CloudCall::Move, CloudCall::ReadBack, CloudCall::Lookup] {
            for f in [
                SimFault::Latency { call, millis: 1 },
                SimFault::Throttle { call, count: 1 },
                SimFault::Unavailable { call, count: 1 },
                SimFault::Refuse { call, count: 1 },
                SimFault::Clear,
            ] {
                let oci: FaultCommand = serde_json::from_value(f.command(CloudFlavour::Oci))
                    .unwrap_or_else(|e| panic!("{f:?}: {e}"));
                assert_eq!(oci, f.oci());
                let aws: AwsFaultCommand = serde_json::from_value(f.command(CloudFlavour::Aws))
                    .unwrap_or_else(|e| panic!("{f:?}: {e}"));
                assert_eq!(aws, f.aws());
            }
        }
    }
}
