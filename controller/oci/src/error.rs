//! The crate's one error type.
//!
//! Data flow: the transport turns an HTTP failure into an [`ApiFailure`] (status, OCI error
//! `code`, message, `opc-request-id`); the client then maps it, knowing which operation and
//! resource it was working on, into an [`OciError`] variant that tells the operator what to fix.
//! [`OciError::category`] is a fixed string for metrics labels, Events and conditions.

use std::net::IpAddr;
use std::time::Duration;

/// Everything that can go wrong in this crate. Messages name the thing to fix; they never
/// contain keys, tokens or signatures.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Invalid configuration (bad URL, missing region, unreadable CA bundle...).
    #[error("configuration error: {0}")]
    Config(String),

    /// Authentication failed: 401 from OCI, unreadable or malformed key, token exchange failed.
    #[error("authentication failed: {message}{}", rid(.opc_request_id))]
    Auth {
        /// What failed and what to check.
        message: String,
        /// `opc-request-id` of the failing call, when there was one.
        opc_request_id: Option<String>,
    },

    /// OCI answered 404 NotAuthorizedOrNotFound for a resource known to exist: a policy is missing.
    #[error("not authorized to {operation} ({resource}); add an IAM policy such as `{policy}`{}", rid(.opc_request_id))]
    Permission {
        /// The OCI operation, e.g. `UpdatePrivateIp`.
        operation: &'static str,
        /// The resource acted on.
        resource: String,
        /// A policy statement that grants the missing verb.
        policy: String,
        /// `opc-request-id` of the failing call.
        opc_request_id: Option<String>,
    },

    /// The resource does not exist (or is not visible to this principal).
    #[error("{operation}: {resource} not found (or not visible to this principal){}", rid(.opc_request_id))]
    NotFound {
        /// The OCI operation.
        operation: &'static str,
        /// The resource looked up.
        resource: String,
        /// `opc-request-id` of the failing call.
        opc_request_id: Option<String>,
    },

    /// OCI rejected the address because it is not inside the subnet's CIDR.
    #[error("address {ip} is not inside subnet {subnet_id}: {message}{}", rid(.opc_request_id))]
    IpOutsideSubnet {
        /// The VIP.
        ip: IpAddr,
        /// The subnet from the PostgresVip spec.
        subnet_id: String,
        /// OCI's message.
        message: String,
        /// `opc-request-id` of the failing call.
        opc_request_id: Option<String>,
    },

    /// The node has no `spec.providerID` yet.
    #[error("node has no spec.providerID (the OCI cloud controller manager sets it)")]
    NoProviderId,

    /// `spec.providerID` is not an OCI instance OCID.
    #[error("spec.providerID {0:?} is not an OCI instance OCID (expected ocid1.instance... or oci://ocid1.instance...)")]
    BadProviderId(String),

    /// The instance has no ATTACHED VNIC in the VIP's subnet.
    #[error("instance {instance_id} has no attached VNIC in subnet {subnet_id}; attach a secondary VNIC in that subnet or use a subnet the node is in")]
    NoVnicInSubnet {
        /// The node's instance.
        instance_id: String,
        /// The VIP's subnet.
        subnet_id: String,
    },

    /// The address is the primary private IP of some VNIC; primary IPs cannot move.
    #[error("{ip} is the primary private IP {private_ip_id} of VNIC {vnic_id}; refusing to move it (choose an unused address as the VIP)")]
    PrimaryIp {
        /// The VIP.
        ip: IpAddr,
        /// The private IP object.
        private_ip_id: String,
        /// The VNIC it is primary on.
        vnic_id: String,
    },

    /// 429 persisted through all retries.
    #[error("{operation}: throttled by OCI (429) after retries{}", rid(.opc_request_id))]
    Throttled {
        /// The OCI operation.
        operation: &'static str,
        /// `opc-request-id` of the last attempt.
        opc_request_id: Option<String>,
    },

    /// 5xx persisted through all retries (or 501).
    #[error("{operation}: OCI server error {status} {code}: {message}{}", rid(.opc_request_id))]
    Server {
        /// The OCI operation.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// OCI error code.
        code: String,
        /// OCI message.
        message: String,
        /// `opc-request-id` of the last attempt.
        opc_request_id: Option<String>,
    },

    /// A call or the whole move ran past its time budget.
    #[error("{operation}: timed out after {after:?}")]
    Timeout {
        /// The operation (or `EnsureAssigned` for the overall deadline).
        operation: &'static str,
        /// The budget that ran out.
        after: Duration,
    },

    /// Connection, TLS or protocol error.
    #[error("{operation}: transport error: {message}")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// Cause (no secrets).
        message: String,
    },

    /// 409 Conflict / 412 NoEtagMatch / IncorrectState that outlived the retries.
    #[error("{operation}: conflict {status} {code}: {message}{}", rid(.opc_request_id))]
    Conflict {
        /// The OCI operation.
        operation: &'static str,
        /// 409 or 412.
        status: u16,
        /// OCI error code.
        code: String,
        /// OCI message.
        message: String,
        /// `opc-request-id` of the failing call.
        opc_request_id: Option<String>,
    },

    /// Any other 4xx (e.g. 400 InvalidParameter not caused by the subnet rule).
    #[error("{operation}: rejected by OCI {status} {code}: {message}{}", rid(.opc_request_id))]
    BadRequest {
        /// The OCI operation.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// OCI error code.
        code: String,
        /// OCI message.
        message: String,
        /// `opc-request-id` of the failing call.
        opc_request_id: Option<String>,
    },

    /// The response could not be understood (bad JSON, missing field, unexpected state).
    #[error("{operation}: unexpected response: {message}{}", rid(.opc_request_id))]
    InvalidResponse {
        /// The OCI operation.
        operation: &'static str,
        /// What was wrong.
        message: String,
        /// `opc-request-id` of the call.
        opc_request_id: Option<String>,
    },
}

fn rid(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" (opc-request-id {id})"),
        None => String::new(),
    }
}

impl OciError {
    /// Fixed, low-cardinality name of the error kind, for metrics labels, Events and conditions.
    pub fn category(&self) -> &'static str {
        match self {
            OciError::Config(_) => "config",
            OciError::Auth { .. } => "auth",
            OciError::Permission { .. } => "permission",
            OciError::NotFound { .. } => "not_found",
            OciError::IpOutsideSubnet { .. } => "ip_outside_subnet",
            OciError::NoProviderId => "no_provider_id",
            OciError::BadProviderId(_) => "bad_provider_id",
            OciError::NoVnicInSubnet { .. } => "no_vnic_in_subnet",
            OciError::PrimaryIp { .. } => "primary_ip",
            OciError::Throttled { .. } => "throttled",
            OciError::Server { .. } => "server",
            OciError::Timeout { .. } => "timeout",
            OciError::Transport { .. } => "transport",
            OciError::Conflict { .. } => "conflict",
            OciError::BadRequest { .. } => "bad_request",
            OciError::InvalidResponse { .. } => "invalid_response",
        }
    }

    /// True when retrying later (next reconcile) may succeed without operator action.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OciError::Throttled { .. }
                | OciError::Server { .. }
                | OciError::Timeout { .. }
                | OciError::Transport { .. }
                | OciError::Conflict { .. }
        )
    }

    /// The `opc-request-id` attached to this error, if any (give it to Oracle support).
    pub fn opc_request_id(&self) -> Option<&str> {
        match self {
            OciError::Auth { opc_request_id, .. }
            | OciError::Permission { opc_request_id, .. }
            | OciError::NotFound { opc_request_id, .. }
            | OciError::IpOutsideSubnet { opc_request_id, .. }
            | OciError::Throttled { opc_request_id, .. }
            | OciError::Server { opc_request_id, .. }
            | OciError::Conflict { opc_request_id, .. }
            | OciError::BadRequest { opc_request_id, .. }
            | OciError::InvalidResponse { opc_request_id, .. } => opc_request_id.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn auth(message: impl Into<String>) -> Self {
        OciError::Auth {
            message: message.into(),
            opc_request_id: None,
        }
    }
}

/// A failed HTTP exchange with an OCI endpoint, before the client adds context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFailure {
    /// OCI answered with a non-2xx status and (usually) `{"code","message"}`.
    Status {
        /// HTTP status.
        status: u16,
        /// OCI error code (`NotAuthorizedOrNotFound`, `InvalidParameter`...), empty if absent.
        code: String,
        /// OCI message.
        message: String,
        /// `opc-request-id` response header.
        opc_request_id: Option<String>,
        /// `Retry-After` in seconds, when given.
        retry_after: Option<Duration>,
    },
    /// The call did not complete within its timeout.
    Timeout(Duration),
    /// Connection, TLS, or body read failure.
    Transport(String),
}

impl ApiFailure {
    /// HTTP status, if OCI answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiFailure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// OCI error code, if OCI answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiFailure::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// `opc-request-id` of the answer, if OCI answered with one.
    pub fn opc_request_id(&self) -> Option<&str> {
        match self {
            ApiFailure::Status { opc_request_id, .. } => opc_request_id.as_deref(),
            _ => None,
        }
    }

    /// Generic mapping of a failure to an [`OciError`], without resource-specific knowledge.
    /// 404 maps to `NotFound`; callers that know the resource exists map it to `Permission`.
    pub fn into_error(self, operation: &'static str, resource: &str) -> OciError {
        match self {
            ApiFailure::Timeout(after) => OciError::Timeout { operation, after },
            ApiFailure::Transport(message) => OciError::Transport { operation, message },
            ApiFailure::Status {
                status,
                code,
                message,
                opc_request_id,
                ..
            } => match status {
                401 => OciError::Auth {
                    message: format!(
                        "{operation}: OCI answered 401 {code}: {message}; check the key, fingerprint, user/tenancy OCIDs and the clock"
                    ),
                    opc_request_id,
                },
                404 => OciError::NotFound {
                    operation,
                    resource: resource.to_string(),
                    opc_request_id,
                },
                409 | 412 => OciError::Conflict {
                    operation,
                    status,
                    code,
                    message,
                    opc_request_id,
                },
                429 => OciError::Throttled {
                    operation,
                    opc_request_id,
                },
                500..=599 => OciError::Server {
                    operation,
                    status,
                    code,
                    message,
                    opc_request_id,
                },
                _ => OciError::BadRequest {
                    operation,
                    status,
                    code,
                    message,
                    opc_request_id,
                },
            },
        }
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
            opc_request_id: Some("rid-1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn generic_mapping_categories() {
        let table = [
            (status(401, "NotAuthenticated"), "auth"),
            (status(404, "NotAuthorizedOrNotFound"), "not_found"),
            (status(409, "Conflict"), "conflict"),
            (status(412, "NoEtagMatch"), "conflict"),
            (status(429, "TooManyRequests"), "throttled"),
            (status(500, "InternalServerError"), "server"),
            (status(501, "MethodNotImplemented"), "server"),
            (status(400, "InvalidParameter"), "bad_request"),
            (ApiFailure::Timeout(Duration::from_secs(1)), "timeout"),
            (ApiFailure::Transport("reset".into()), "transport"),
        ];
        for (failure, want) in table {
            let err = failure.clone().into_error("GetVnic", "vnic x");
            assert_eq!(err.category(), want, "{failure:?}");
        }
    }

    #[test]
    fn request_id_is_kept_and_shown() {
        let err = status(500, "InternalServerError").into_error("GetVnic", "vnic x");
        assert_eq!(err.opc_request_id(), Some("rid-1"));
        assert!(err.to_string().contains("opc-request-id rid-1"));
        assert!(err.is_transient());
        assert!(!OciError::NoProviderId.is_transient());
    }
}
