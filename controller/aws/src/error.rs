//! The crate's one error type, and the EC2 actions it names.
//!
//! Data flow: the transport reports a failed exchange as a `failure::ApiFailure`; the client
//! maps it (`ApiFailure::into_error`, knowing which [`Op`] it was and on what) into an
//! [`AwsError`] whose message says what to fix. [`AwsError::category`] is a fixed string for
//! metrics labels, Events and conditions.

use std::net::IpAddr;
use std::time::Duration;

/// The EC2 actions this crate calls, with the IAM action that grants each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `DescribeNetworkInterfaces`.
    Describe,
    /// `AssignPrivateIpAddresses` (also with `DryRun=true`).
    Assign,
    /// `UnassignPrivateIpAddresses`.
    Unassign,
}

impl Op {
    /// The Query API `Action`.
    pub fn action(self) -> &'static str {
        match self {
            Op::Describe => "DescribeNetworkInterfaces",
            Op::Assign => "AssignPrivateIpAddresses",
            Op::Unassign => "UnassignPrivateIpAddresses",
        }
    }

    /// The IAM action a policy must allow for this call.
    pub fn iam_action(self) -> &'static str {
        match self {
            Op::Describe => "ec2:DescribeNetworkInterfaces",
            Op::Assign => "ec2:AssignPrivateIpAddresses",
            Op::Unassign => "ec2:UnassignPrivateIpAddresses",
        }
    }

    /// True for calls that change EC2 state (logged at info on success).
    pub fn mutates(self) -> bool {
        !matches!(self, Op::Describe)
    }
}

/// Everything that can go wrong in this crate. Messages name the thing to fix; they never
/// contain keys, session tokens or signatures.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// Invalid configuration (bad endpoint URL, no region, unreadable CA bundle...).
    #[error("configuration error: {0}")]
    Config(String),

    /// EC2 rejected the credentials (AuthFailure, InvalidClientTokenId, SignatureDoesNotMatch,
    /// ExpiredToken, RequestExpired), or no credentials could be loaded at all.
    #[error("authentication failed: {message}{}", rid(.request_id))]
    Auth {
        /// What failed and what to check.
        message: String,
        /// `RequestID` of the failing call, when there was one.
        request_id: Option<String>,
    },

    /// EC2 answered `UnauthorizedOperation`: the IAM policy lacks `action`.
    #[error("not authorized to call {operation} on {resource}; allow `{action}` in the IAM policy of the controller's role{}", rid(.request_id))]
    Permission {
        /// The EC2 action, e.g. `AssignPrivateIpAddresses`.
        operation: &'static str,
        /// The IAM action to grant, e.g. `ec2:AssignPrivateIpAddresses`.
        action: &'static str,
        /// What the call acted on.
        resource: String,
        /// `RequestID` of the failing call.
        request_id: Option<String>,
    },

    /// The permission check cannot be made: EC2's `AssignPrivateIpAddresses` has no `DryRun`
    /// parameter (it is absent from the API reference and the service model) and EC2 rejects it
    /// as `UnknownParameter`, so a grant can only be proven by a real move.
    #[error("{operation}: EC2 cannot check this permission without acting (it has no DryRun for this action): {message}; make sure the controller's role allows `ec2:AssignPrivateIpAddresses`, e.g. with the IAM policy simulator{}", rid(.request_id))]
    PermissionCheckUnsupported {
        /// The EC2 action.
        operation: &'static str,
        /// EC2's message.
        message: String,
        /// `RequestID` of the call.
        request_id: Option<String>,
    },

    /// EC2 answered `InvalidParameterValue` (or another invalid-parameter code).
    #[error("{operation}: EC2 rejected a parameter ({code}): {message}{}", rid(.request_id))]
    InvalidParameter {
        /// The EC2 action.
        operation: &'static str,
        /// EC2 error code.
        code: String,
        /// EC2 message.
        message: String,
        /// `RequestID` of the failing call.
        request_id: Option<String>,
    },

    /// EC2 refused the address because it is outside the subnet's CIDR range.
    #[error("address {ip} is not inside the CIDR range of subnet {subnet_id} (choose a VIP inside the subnet of the nodes' interfaces): {message}{}", rid(.request_id))]
    IpOutsideSubnet {
        /// The VIP.
        ip: IpAddr,
        /// The subnet from the spec.
        subnet_id: String,
        /// EC2 message.
        message: String,
        /// `RequestID` of the failing call.
        request_id: Option<String>,
    },

    /// The network interface does not exist (`InvalidNetworkInterfaceID.NotFound`).
    #[error("{operation}: {resource} not found{}", rid(.request_id))]
    NotFound {
        /// The EC2 action.
        operation: &'static str,
        /// The resource looked up.
        resource: String,
        /// `RequestID` of the failing call.
        request_id: Option<String>,
    },

    /// `PrivateIpAddressLimitExceeded`: the interface holds as many addresses as its instance
    /// type allows per interface.
    #[error("{eni_id} already holds the most private IPv4 addresses its instance type allows per network interface; use a larger instance type or release unused secondary addresses: {message}{}", rid(.request_id))]
    IpLimitExceeded {
        /// The interface.
        eni_id: String,
        /// EC2 message.
        message: String,
        /// `RequestID` of the failing call.
        request_id: Option<String>,
    },

    /// The node has no `spec.providerID` yet.
    #[error("node has no spec.providerID (the AWS cloud controller manager sets it)")]
    NoProviderId,

    /// `spec.providerID` does not name an EC2 instance.
    #[error(
        "spec.providerID {0:?} is not an EC2 instance (expected aws:///<availability-zone>/i-...)"
    )]
    BadProviderId(String),

    /// The instance has no attached network interface in the VIP's subnet.
    #[error("instance {instance_id} has no attached network interface in subnet {subnet_id}; attach one in that subnet or use a subnet the node is in")]
    NoEniInSubnet {
        /// The node's instance.
        instance_id: String,
        /// The VIP's subnet.
        subnet_id: String,
    },

    /// The address is the primary private IP of an interface; primary addresses never move.
    #[error("{ip} is the primary private IP of {eni_id}; refusing to move it (choose an unused address as the VIP)")]
    PrimaryIp {
        /// The VIP.
        ip: IpAddr,
        /// The interface it is primary on.
        eni_id: String,
    },

    /// The VIP is an IPv6 address.
    #[error("IPv6 VIPs are not supported on AWS yet: EC2 cannot reassign an IPv6 address between interfaces with AllowReassignment ({0})")]
    Ipv6Unsupported(IpAddr),

    /// `RequestLimitExceeded` / `Throttling` persisted through all retries.
    #[error("{operation}: throttled by EC2 after retries (lower the rate limit or raise the account's EC2 API limits){}", rid(.request_id))]
    Throttled {
        /// The EC2 action.
        operation: &'static str,
        /// `RequestID` of the last attempt.
        request_id: Option<String>,
    },

    /// 5xx, `InternalError` or `Unavailable` persisted through all retries.
    #[error("{operation}: EC2 server error {status} {code}: {message}{}", rid(.request_id))]
    Server {
        /// The EC2 action.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// EC2 error code.
        code: String,
        /// EC2 message.
        message: String,
        /// `RequestID` of the last attempt.
        request_id: Option<String>,
    },

    /// A call, or the wait for EC2 to show a move, ran past its time budget.
    #[error("{operation}: timed out after {after:?}")]
    Timeout {
        /// The EC2 action, or `ConfirmAssignment` / `LoadCredentials`.
        operation: &'static str,
        /// The budget that ran out.
        after: Duration,
    },

    /// Connection, TLS or protocol error.
    #[error("{operation}: transport error: {message}")]
    Transport {
        /// The EC2 action.
        operation: &'static str,
        /// Cause (no secrets).
        message: String,
    },

    /// Any other 4xx.
    #[error("{operation}: rejected by EC2 {status} {code}: {message}{}", rid(.request_id))]
    BadRequest {
        /// The EC2 action.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// EC2 error code.
        code: String,
        /// EC2 message.
        message: String,
        /// `RequestID` of the failing call.
        request_id: Option<String>,
    },

    /// The answer could not be understood (not XML, missing element, a DryRun that succeeded).
    #[error("{operation}: unexpected response: {message}{}", rid(.request_id))]
    InvalidResponse {
        /// The EC2 action.
        operation: &'static str,
        /// What was wrong.
        message: String,
        /// `RequestID` of the call.
        request_id: Option<String>,
    },
}

fn rid(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

impl AwsError {
    /// Fixed, low-cardinality name of the error kind, for metrics labels, Events and conditions.
    pub fn category(&self) -> &'static str {
        match self {
            AwsError::Config(_) => "config",
            AwsError::Auth { .. } => "auth",
            AwsError::Permission { .. } => "permission",
            AwsError::PermissionCheckUnsupported { .. } => "permission_check_unsupported",
            AwsError::InvalidParameter { .. } => "invalid_parameter",
            AwsError::IpOutsideSubnet { .. } => "ip_outside_subnet",
            AwsError::NotFound { .. } => "not_found",
            AwsError::IpLimitExceeded { .. } => "ip_limit_exceeded",
            AwsError::NoProviderId => "no_provider_id",
            AwsError::BadProviderId(_) => "bad_provider_id",
            AwsError::NoEniInSubnet { .. } => "no_eni_in_subnet",
            AwsError::PrimaryIp { .. } => "primary_ip",
            AwsError::Ipv6Unsupported(_) => "ipv6_unsupported",
            AwsError::Throttled { .. } => "throttled",
            AwsError::Server { .. } => "server",
            AwsError::Timeout { .. } => "timeout",
            AwsError::Transport { .. } => "transport",
            AwsError::BadRequest { .. } => "bad_request",
            AwsError::InvalidResponse { .. } => "invalid_response",
        }
    }

    /// True when retrying later (next reconcile) may succeed without operator action.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsError::Throttled { .. }
                | AwsError::Server { .. }
                | AwsError::Timeout { .. }
                | AwsError::Transport { .. }
        )
    }

    /// The EC2 `RequestID` attached to this error, if any (give it to AWS support).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            AwsError::Auth { request_id, .. }
            | AwsError::Permission { request_id, .. }
            | AwsError::PermissionCheckUnsupported { request_id, .. }
            | AwsError::InvalidParameter { request_id, .. }
            | AwsError::IpOutsideSubnet { request_id, .. }
            | AwsError::NotFound { request_id, .. }
            | AwsError::IpLimitExceeded { request_id, .. }
            | AwsError::Throttled { request_id, .. }
            | AwsError::Server { request_id, .. }
            | AwsError::BadRequest { request_id, .. }
            | AwsError::InvalidResponse { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ApiFailure;

    fn status(status: u16, code: &str) -> ApiFailure {
        ApiFailure::Status {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("rid-1".into()),
        }
    }

    #[test]
    fn transient_kinds() {
        assert!(status(503, "Unavailable")
            .into_error(Op::Describe, "x")
            .is_transient());
        assert!(status(400, "RequestLimitExceeded")
            .into_error(Op::Describe, "x")
            .is_transient());
        assert!(!status(400, "InvalidParameterValue")
            .into_error(Op::Assign, "x")
            .is_transient());
        assert!(!AwsError::NoProviderId.is_transient());
        let ip: IpAddr = "fd00::1".parse().unwrap();
        let e = AwsError::Ipv6Unsupported(ip);
        assert!(e
            .to_string()
            .contains("IPv6 VIPs are not supported on AWS yet"));
        assert_eq!(e.request_id(), None);
    }
}
