//! The raw failure of an exchange, and its mapping to [`AwsError`] by EC2 error code.
//!
//! Data flow: the transport parses a non-2xx answer (or a timeout, a broken connection) into an
//! [`ApiFailure`]; `retry::classify` reads its code to decide on a retry; the client calls
//! [`ApiFailure::into_error`] with the [`Op`] and the resource to get the operator-facing error.
//! Pure.

use crate::error::{AwsError, Op};
use std::time::Duration;

/// A failed exchange with the EC2 endpoint, before the client adds context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFailure {
    /// EC2 answered with a non-2xx status and (usually) an `<Errors>` document.
    Status {
        /// HTTP status.
        status: u16,
        /// EC2 error code (`UnauthorizedOperation`...), empty when the body had none.
        code: String,
        /// EC2 message (or the start of a non-XML body).
        message: String,
        /// `RequestID` of the answer.
        request_id: Option<String>,
    },
    /// The attempt did not complete within the call timeout.
    Timeout(Duration),
    /// Connection, TLS or body read failure.
    Transport(String),
}

/// Codes EC2 (and the AWS Query protocol in general) uses for throttling.
pub const THROTTLE_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
];

/// Codes that mean the credentials (or the signature made with them) were rejected.
pub const AUTH_CODES: &[&str] = &[
    "AuthFailure",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "RequestExpired",
];

/// Codes of server-side failures, whatever the status.
pub const SERVER_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "Unavailable",
    "ServiceUnavailable",
];

impl ApiFailure {
    /// HTTP status, if EC2 answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiFailure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// EC2 error code, if EC2 answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiFailure::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// `RequestID` of the answer, if EC2 answered with one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiFailure::Status { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Maps the failure of `op` on `resource` (an ENI, an address, a filter) to an [`AwsError`].
    /// Callers that know more (the outside-subnet rule, an absent address on release) check
    /// those cases first.
    pub fn into_error(self, op: Op, resource: &str) -> AwsError {
        let operation = op.action();
        let (status, code, message, request_id) = match self {
            ApiFailure::Timeout(after) => return AwsError::Timeout { operation, after },
            ApiFailure::Transport(message) => return AwsError::Transport { operation, message },
            ApiFailure::Status {
                status,
                code,
                message,
                request_id,
            } => (status, code, message, request_id),
        };
        let c = code.as_str();
        if THROTTLE_CODES.contains(&c) || status == 429 {
            return AwsError::Throttled {
                operation,
                request_id,
            };
        }
        // EC2 says UnauthorizedOperation; AccessDenied is the Query protocol's generic form
        // (and what moto answers for EC2 when it enforces IAM).
        if c == "UnauthorizedOperation" || c == "AccessDenied" {
            return AwsError::Permission {
                operation,
                action: op.iam_action(),
                resource: resource.to_string(),
                request_id,
            };
        }
        if AUTH_CODES.contains(&c) || status == 401 {
            return AwsError::Auth {
                message: format!(
                    "{operation}: EC2 answered {status} {code}: {message}; {}",
                    auth_hint(c)
                ),
                request_id,
            };
        }
        if SERVER_CODES.contains(&c) || status >= 500 {
            return AwsError::Server {
                operation,
                status,
                code,
                message,
                request_id,
            };
        }
        match c {
            "InvalidNetworkInterfaceID.NotFound" => AwsError::NotFound {
                operation,
                resource: resource.to_string(),
                request_id,
            },
            "PrivateIpAddressLimitExceeded" => AwsError::IpLimitExceeded {
                eni_id: resource.to_string(),
                message,
                request_id,
            },
            _ if c.starts_with("InvalidParameter")
                || c == "MissingParameter"
                || c.starts_with("InvalidNetworkInterfaceID")
                || c.starts_with("InvalidIPAddress") =>
            {
                AwsError::InvalidParameter {
                    operation,
                    code,
                    message,
                    request_id,
                }
            }
            _ => AwsError::BadRequest {
                operation,
                status,
                code,
                message,
                request_id,
            },
        }
    }
}

/// What to check for each authentication failure code.
fn auth_hint(code: &str) -> &'static str {
    match code {
        "ExpiredToken" => "the session credentials expired; check that the credential source (IRSA token file, Pod Identity agent, instance profile) still refreshes them",
        "RequestExpired" => "the request's timestamp is too far from AWS's clock; check the node's clock (NTP)",
        "SignatureDoesNotMatch" | "IncompleteSignature" => "check the secret access key and the node's clock",
        _ => "check the access key / role the credentials come from and that the account may use EC2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: &str) -> ApiFailure {
        ApiFailure::Status {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("rid-1".into()),
        }
    }

    #[test]
    fn mapping_table() {
        let table = [
            (status(503, "RequestLimitExceeded"), Op::Assign, "throttled"),
            (status(400, "Throttling"), Op::Describe, "throttled"),
            (
                status(403, "UnauthorizedOperation"),
                Op::Assign,
                "permission",
            ),
            (status(403, "AccessDenied"), Op::Assign, "permission"),
            (status(401, "AuthFailure"), Op::Describe, "auth"),
            (status(403, "InvalidClientTokenId"), Op::Describe, "auth"),
            (status(403, "SignatureDoesNotMatch"), Op::Describe, "auth"),
            (status(400, "ExpiredToken"), Op::Describe, "auth"),
            (status(400, "RequestExpired"), Op::Describe, "auth"),
            (
                status(400, "InvalidParameterValue"),
                Op::Assign,
                "invalid_parameter",
            ),
            (
                status(400, "InvalidParameterCombination"),
                Op::Assign,
                "invalid_parameter",
            ),
            (
                status(400, "MissingParameter"),
                Op::Assign,
                "invalid_parameter",
            ),
            (
                status(400, "InvalidNetworkInterfaceID.Malformed"),
                Op::Assign,
                "invalid_parameter",
            ),
            (
                status(400, "InvalidNetworkInterfaceID.NotFound"),
                Op::Assign,
                "not_found",
            ),
            (
                status(400, "PrivateIpAddressLimitExceeded"),
                Op::Assign,
                "ip_limit_exceeded",
            ),
            (status(500, "InternalError"), Op::Describe, "server"),
            (status(503, "Unavailable"), Op::Describe, "server"),
            (status(502, ""), Op::Describe, "server"),
            (
                status(400, "OperationNotPermitted"),
                Op::Unassign,
                "bad_request",
            ),
            (
                ApiFailure::Timeout(Duration::from_secs(1)),
                Op::Describe,
                "timeout",
            ),
            (
                ApiFailure::Transport("reset".into()),
                Op::Describe,
                "transport",
            ),
        ];
        for (failure, op, want) in table {
            let err = failure.clone().into_error(op, "eni-1");
            assert_eq!(err.category(), want, "{failure:?}");
        }
    }

    #[test]
    fn permission_names_the_iam_action() {
        for (op, action) in [
            (Op::Assign, "ec2:AssignPrivateIpAddresses"),
            (Op::Unassign, "ec2:UnassignPrivateIpAddresses"),
            (Op::Describe, "ec2:DescribeNetworkInterfaces"),
        ] {
            let err = status(403, "UnauthorizedOperation").into_error(op, "eni-1");
            let text = err.to_string();
            assert!(text.contains(action), "{text}");
            assert!(text.contains("request id rid-1"), "{text}");
            assert_eq!(err.request_id(), Some("rid-1"));
            assert!(!err.is_transient());
        }
    }
}
