//! EC2's error answers: an HTTP status plus a code and message, rendered by
//! [`super::xml::error`] as `<Response><Errors><Error>…</Error></Errors><RequestID/>`.
//!
//! Codes are the ones AWS documents ("Error codes for the Amazon EC2 API" and the common
//! errors of every AWS service); statuses follow those pages. Messages are AWS's where
//! they are widely quoted and marked `GUESS:` where they are not.

use std::net::Ipv4Addr;

/// An error answered to an EC2 client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct Ec2Error {
    /// HTTP status code.
    pub status: u16,
    /// EC2 error code, e.g. `InvalidNetworkInterfaceID.NotFound`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl Ec2Error {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Ec2Error {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
    /// 400 InvalidParameterValue.
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterValue", message)
    }
    /// 400 InvalidParameterCombination.
    pub fn combination(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterCombination", message)
    }
    /// 400 MissingParameter. GUESS: wording.
    pub fn missing(param: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!("The request must contain the parameter {param}"),
        )
    }
    /// 400 MissingAction.
    pub fn missing_action() -> Self {
        Self::new(
            400,
            "MissingAction",
            "The request must contain the parameter Action",
        )
    }
    /// 400 InvalidAction.
    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            400,
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }
    /// 400 NoSuchVersion. GUESS: the simulator serves only `2016-11-15`.
    pub fn no_such_version(version: &str) -> Self {
        Self::new(
            400,
            "NoSuchVersion",
            format!("The requested version ({version}) of service AmazonEC2 does not exist"),
        )
    }
    /// 400 InvalidNetworkInterfaceID.NotFound.
    pub fn eni_not_found(id: &str) -> Self {
        Self::new(
            400,
            "InvalidNetworkInterfaceID.NotFound",
            format!("The networkInterface ID '{id}' does not exist"),
        )
    }
    /// 400 InvalidNetworkInterfaceID.Malformed. GUESS: wording.
    pub fn eni_malformed(id: &str) -> Self {
        Self::new(
            400,
            "InvalidNetworkInterfaceID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"eni-...\")"),
        )
    }
    /// 400 InvalidIPAddress.InUse ("The specified IP address is already in use", AWS's
    /// documented code). GUESS: that AssignPrivateIpAddresses answers it for an address held
    /// by another interface without `AllowReassignment`, and for another interface's primary.
    pub fn address_in_use(ip: Ipv4Addr) -> Self {
        Self::new(
            400,
            "InvalidIPAddress.InUse",
            format!("Address {ip} is in use."),
        )
    }
    /// 400 PrivateIpAddressLimitExceeded.
    pub fn ip_limit_exceeded() -> Self {
        Self::new(
            400,
            "PrivateIpAddressLimitExceeded",
            "Number of private addresses will exceed limit.",
        )
    }
    /// 400 InvalidPaginationToken.
    pub fn pagination_token(token: &str) -> Self {
        Self::new(
            400,
            "InvalidPaginationToken",
            format!("Invalid pagination token: {token}"),
        )
    }
    /// 400 UnknownParameter: a parameter the action does not take (EC2 refuses them).
    pub fn unknown_parameter(param: &str) -> Self {
        Self::new(
            400,
            "UnknownParameter",
            format!("The parameter {param} is not recognized"),
        )
    }

    /// 412 DryRunOperation: the caller may, but `DryRun` was set.
    pub fn dry_run() -> Self {
        Self::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        )
    }
    /// 403 UnauthorizedOperation. GUESS: the wording of AWS's newer messages, without the
    /// encoded authorization failure message.
    pub fn unauthorized(arn: &str, action: &str) -> Self {
        Self::new(
            403,
            "UnauthorizedOperation",
            format!("You are not authorized to perform this operation. User: {arn} is not authorized to perform: ec2:{action} because no identity-based policy allows the ec2:{action} action"),
        )
    }
    /// 503 RequestLimitExceeded (EC2's throttling answer).
    pub fn request_limit() -> Self {
        Self::new(503, "RequestLimitExceeded", "Request limit exceeded.")
    }
    /// 400 Throttling (the code other AWS Query services throttle with; SDKs retry it).
    pub fn throttling() -> Self {
        Self::new(400, "Throttling", "Rate exceeded")
    }
    /// A 5xx with EC2's server error code for that status.
    pub fn server(status: u16) -> Self {
        match status {
            503 => Self::new(
                503,
                "Unavailable",
                "The server is overloaded and can't handle the request.",
            ),
            s => Self::new(
                s,
                "InternalError",
                "An internal error has occurred. Retry your request.",
            ),
        }
    }
    /// 401 AuthFailure: EC2's answer to credentials it cannot validate (unknown access key
    /// id, authentication outage).
    pub fn auth_failure() -> Self {
        Self::new(
            401,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        )
    }
    /// 403 MissingAuthenticationToken (no `Authorization` header).
    pub fn missing_authentication() -> Self {
        Self::new(
            403,
            "MissingAuthenticationToken",
            "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.",
        )
    }
    /// 400 IncompleteSignature.
    pub fn incomplete_signature(detail: &str) -> Self {
        Self::new(400, "IncompleteSignature", detail)
    }
    /// 403 SignatureDoesNotMatch.
    pub fn signature_mismatch(detail: Option<&str>) -> Self {
        Self::new(
            403,
            "SignatureDoesNotMatch",
            detail.unwrap_or("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."),
        )
    }
    /// 403 InvalidClientTokenId (a session token that is wrong, missing, or unexpected).
    pub fn invalid_token() -> Self {
        Self::new(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }
    /// 400 RequestExpired (timestamp too far from the simulator's clock).
    pub fn request_expired(detail: &str) -> Self {
        Self::new(400, "RequestExpired", detail)
    }
}
