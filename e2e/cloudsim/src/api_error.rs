//! OCI's error responses: an HTTP status plus a JSON body `{"code": …, "message": …}`.
//!
//! Codes and statuses follow OCI's "API Errors" page. Message texts are OCI's where known
//! and marked `GUESS:` where they are not.

use serde::Serialize;

/// An error answered to a client, in OCI's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// HTTP status code.
    #[serde(skip)]
    pub status: u16,
    /// OCI error code, e.g. `NotAuthorizedOrNotFound`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// `Retry-After` seconds for 429s injected with one.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
    /// 400 InvalidParameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameter", message)
    }
    /// 400 MissingParameter. GUESS: message wording.
    pub fn missing(param: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!("Missing required parameter '{param}'."),
        )
    }
    /// 401 NotAuthenticated, with OCI's fixed message (the reason is only logged).
    pub fn not_authenticated() -> Self {
        Self::new(
            401,
            "NotAuthenticated",
            "The required information to complete authentication was not provided or was incorrect.",
        )
    }
    /// 404 NotAuthorizedOrNotFound, with OCI's fixed message.
    pub fn not_found() -> Self {
        Self::new(
            404,
            "NotAuthorizedOrNotFound",
            "Authorization failed or requested resource not found.",
        )
    }
    /// 404 NotFound for unknown paths. GUESS: OCI answers unknown routes with 404 NotFound.
    pub fn no_route() -> Self {
        Self::new(404, "NotFound", "Not Found")
    }
    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "Method not allowed for this resource.",
        )
    }
    /// 409 Conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "Conflict", message)
    }
    /// 409 IncorrectState.
    pub fn incorrect_state(message: impl Into<String>) -> Self {
        Self::new(409, "IncorrectState", message)
    }
    /// 412 NoEtagMatch. GUESS: message wording.
    pub fn no_etag_match() -> Self {
        Self::new(
            412,
            "NoEtagMatch",
            "The resource's etag does not match the value of the if-match header.",
        )
    }
    /// 429 TooManyRequests.
    pub fn too_many_requests(retry_after: Option<u64>) -> Self {
        ApiError {
            retry_after,
            ..Self::new(429, "TooManyRequests", "Too many requests for the tenancy.")
        }
    }
    /// 5xx with the code OCI uses for that status.
    pub fn server(status: u16) -> Self {
        match status {
            503 => Self::new(
                503,
                "ServiceUnavailable",
                "The service is currently unavailable.",
            ),
            s => Self::new(s, "InternalServerError", "An internal error occurred."),
        }
    }
    /// 400 LimitExceeded. GUESS: OCI's answer to a 33rd IPv4 address on one VNIC.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(400, "LimitExceeded", message)
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
