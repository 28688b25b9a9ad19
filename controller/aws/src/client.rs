//! `Ec2Client`: construction from [`AwsConfig`], the read and release operations, the
//! permission check, and the mapping of raw failures to operator-facing errors.
//!
//! Data flow: `new` resolves region and credentials (`credentials`), the endpoint (`config`)
//! and the reqwest client (public roots plus the extra CA bundle), and wraps the transport in an
//! `Arc` so clones share one rate limiter, one credentials cache and one node→interface cache.
//! The move itself lives in `ensure.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use pgvip_cloudkit::ratelimit::RateLimiter;
use url::Url;

use crate::cache::EniCache;
use crate::config::{ec2_endpoint, AwsConfig};
use crate::credentials::{resolve, CredentialCache};
use crate::decision::{holders, is_outside_subnet_message, require_ipv4};
use crate::error::{AwsError, Op};
use crate::failure::ApiFailure;
use crate::ops::Ops;
use crate::transport::{build_http, CallFailure, RetryPolicy, Transport};

/// What to assign where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRequest {
    /// The VIP (IPv4 only).
    pub ip: IpAddr,
    /// The VIP's subnet (`subnet-...`).
    pub subnet_id: String,
    /// The target node's `spec.providerID` (`aws:///<az>/i-...`).
    pub provider_id: String,
}

/// Where the address is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The interface holding it.
    pub eni_id: String,
    /// The address was on no interface before this call.
    pub created: bool,
    /// This call changed EC2 state (assigned or moved the address).
    pub changed: bool,
    /// EC2 `requestId`s of the calls made, in order.
    pub request_ids: Vec<String>,
}

pub(crate) struct Inner {
    pub transport: Transport,
    pub cfg: AwsConfig,
    pub eni_cache: EniCache,
}

/// The EC2 client. Cheap to clone; clones share state. `Debug` shows the endpoint and region,
/// never credentials.
#[derive(Clone)]
pub struct Ec2Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Ec2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Client")
            .field("endpoint", &self.inner.transport.endpoint().as_str())
            .field("region", &self.inner.transport.region())
            .finish_non_exhaustive()
    }
}

impl Ec2Client {
    /// Builds the client: resolves the region (the configuration's, else `AWS_REGION`, the
    /// profile, IMDS) and the credentials provider (see [`crate::CredentialsSource`]).
    /// Credentials are loaded on the first call, not here.
    pub async fn new(cfg: AwsConfig) -> Result<Self, AwsError> {
        let http = build_http(cfg.extra_ca_pem.as_deref())?;
        let resolved = resolve(&cfg).await?;
        let endpoint: Url = ec2_endpoint(&resolved.region, cfg.ec2_endpoint.as_deref())?;
        let policy = RetryPolicy {
            max_attempts: cfg.max_attempts.max(1),
            base: cfg.backoff_base,
            max: cfg.backoff_max,
            call_timeout: cfg.call_timeout,
        };
        let creds = CredentialCache::new(resolved.provider, cfg.call_timeout * 3);
        let limiter = RateLimiter::new(cfg.rate_limit_per_sec, cfg.burst);
        tracing::info!(endpoint = %endpoint, region = %resolved.region, credentials = resolved.kind, "EC2 client ready");
        Ok(Ec2Client {
            inner: Arc::new(Inner {
                transport: Transport::new(http, endpoint, resolved.region, creds, limiter, policy),
                cfg,
                eni_cache: EniCache::default(),
            }),
        })
    }

    /// The EC2 endpoint in use.
    pub fn endpoint(&self) -> &Url {
        self.inner.transport.endpoint()
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        self.inner.transport.region()
    }

    pub(crate) fn ops(&self) -> Ops<'_> {
        Ops {
            transport: &self.inner.transport,
        }
    }

    /// Where EC2 has `ip` now in `subnet_id` (`DescribeNetworkInterfaces` filtered by
    /// `subnet-id` and `addresses.private-ip-address`), if anywhere. When the address is some
    /// interface's primary IP, that interface is returned too.
    pub async fn current_assignment(
        &self,
        ip: IpAddr,
        subnet_id: &str,
    ) -> Result<Option<Assignment>, AwsError> {
        require_ipv4(ip)?;
        let listed = self
            .ops()
            .enis_holding(ip, subnet_id)
            .await
            .map_err(|f| map_failure(f, Op::Describe, &format!("{ip} in {subnet_id}")))?;
        let found = holders(&listed.enis, ip);
        // A secondary (movable) holder before a primary one, should EC2 list both mid-remap.
        let pick = found.iter().find(|(_, primary)| !primary).or(found.first());
        Ok(pick.map(|(eni_id, _)| Assignment {
            eni_id: eni_id.clone(),
            created: false,
            changed: false,
            request_ids: listed.request_ids,
        }))
    }

    /// Tries to prove the credentials may assign `ip` to `eni_id` without changing anything:
    /// `AssignPrivateIpAddresses` with `DryRun=true`, where EC2 would answer `DryRunOperation`
    /// (HTTP 412) for an allowed call (`Ok(())`) and `UnauthorizedOperation` for a refused one
    /// ([`AwsError::Permission`] naming `ec2:AssignPrivateIpAddresses`).
    ///
    /// Caveat: the EC2 API reference and AWS's service model list no `DryRun` for
    /// `AssignPrivateIpAddresses`, and EC2 rejects unknown parameters with `UnknownParameter`
    /// without acting. That answer is [`AwsError::PermissionCheckUnsupported`]: the grant could
    /// not be checked (nothing changed). Whether EC2 authorizes before it validates parameters
    /// (so that a missing grant still shows as `UnauthorizedOperation`) is not documented.
    /// A 2xx answer means the endpoint ignored `DryRun` and may have assigned the address:
    /// [`AwsError::InvalidResponse`], logged as a warning.
    pub async fn check_assign_permission(&self, eni_id: &str, ip: IpAddr) -> Result<(), AwsError> {
        require_ipv4(ip)?;
        match self.ops().assign(eni_id, ip, true).await {
            Err(CallFailure::Api(ApiFailure::Status {
                code, request_id, ..
            })) if code == "DryRunOperation" => {
                tracing::info!(vip = %ip, eni = eni_id, request_id = request_id.as_deref().unwrap_or(""), "assign permission confirmed (DryRun)");
                Ok(())
            }
            Err(CallFailure::Api(ApiFailure::Status {
                code,
                message,
                request_id,
                ..
            })) if is_dry_run_rejection(&code, &message) => {
                tracing::info!(vip = %ip, eni = eni_id, request_id = request_id.as_deref().unwrap_or(""), "EC2 has no DryRun for AssignPrivateIpAddresses; permission not checked");
                Err(AwsError::PermissionCheckUnsupported {
                    operation: Op::Assign.action(),
                    message,
                    request_id,
                })
            }
            Err(f) => Err(map_failure(f, Op::Assign, &format!("{ip} on {eni_id}"))),
            Ok(request_id) => {
                tracing::warn!(vip = %ip, eni = eni_id, request_id = request_id.as_deref().unwrap_or(""), "EC2 endpoint ignored DryRun on AssignPrivateIpAddresses");
                Err(AwsError::InvalidResponse {
                    operation: Op::Assign.action(),
                    message: format!(
                        "the endpoint ignored DryRun=true and may have assigned {ip} to {eni_id}"
                    ),
                    request_id,
                })
            }
        }
    }

    /// `UnassignPrivateIpAddresses` of `ip` from `eni_id`. Already gone from it, or an interface
    /// that no longer exists, is success: when EC2 rejects the call as an invalid parameter,
    /// the interface is read back and the call succeeds if it no longer lists the address.
    pub async fn release(&self, eni_id: &str, ip: IpAddr) -> Result<(), AwsError> {
        require_ipv4(ip)?;
        let resource = format!("{ip} on {eni_id}");
        let failure = match self.ops().unassign(eni_id, ip).await {
            Ok(request_id) => {
                tracing::info!(vip = %ip, eni = eni_id, request_id = request_id.as_deref().unwrap_or(""), "released private IP");
                return Ok(());
            }
            Err(f) => f,
        };
        match failure.code() {
            Some("InvalidNetworkInterfaceID.NotFound") => {
                tracing::info!(vip = %ip, eni = eni_id, "interface is gone; nothing to release");
                Ok(())
            }
            Some(c) if c.starts_with("InvalidParameter") => {
                // GUESS: EC2 answers InvalidParameterValue for an address the interface does not
                // hold; its wording is not documented, so look instead of matching text.
                match self.ops().eni(eni_id).await {
                    Ok((Some(eni), _)) if eni.address(ip).is_none() => {
                        tracing::info!(vip = %ip, eni = eni_id, "address already gone from the interface");
                        Ok(())
                    }
                    Ok((None, _)) => Ok(()),
                    Err(f) if f.code() == Some("InvalidNetworkInterfaceID.NotFound") => Ok(()),
                    _ => Err(map_failure(failure, Op::Unassign, &resource)),
                }
            }
            _ => Err(map_failure(failure, Op::Unassign, &resource)),
        }
    }
}

impl CallFailure {
    /// EC2 error code, when EC2 answered.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            CallFailure::Api(a) => a.code(),
            CallFailure::Local(_) => None,
        }
    }
}

/// True when EC2 refused the `DryRun` parameter itself (`UnknownParameter: The parameter DryRun
/// is not recognized`, or an invalid-parameter code naming it).
pub(crate) fn is_dry_run_rejection(code: &str, message: &str) -> bool {
    code == "UnknownParameter"
        || (code.starts_with("InvalidParameter") && message.to_ascii_lowercase().contains("dryrun"))
}

/// Maps a raw failure of `op` on `resource`.
pub(crate) fn map_failure(f: CallFailure, op: Op, resource: &str) -> AwsError {
    match f {
        CallFailure::Local(e) => e,
        CallFailure::Api(a) => a.into_error(op, resource),
    }
}

/// Maps a failure of the assignment of `ip` (in `subnet_id`) to `eni_id`, recognising the
/// outside-the-subnet rule and the per-interface address limit.
pub(crate) fn map_assign_failure(
    f: CallFailure,
    ip: IpAddr,
    subnet_id: &str,
    eni_id: &str,
) -> AwsError {
    if let CallFailure::Api(ApiFailure::Status {
        code,
        message,
        request_id,
        ..
    }) = &f
    {
        if is_outside_subnet_message(code, message) {
            return AwsError::IpOutsideSubnet {
                ip,
                subnet_id: subnet_id.to_string(),
                message: message.clone(),
                request_id: request_id.clone(),
            };
        }
        if code == "PrivateIpAddressLimitExceeded" {
            return AwsError::IpLimitExceeded {
                eni_id: eni_id.to_string(),
                message: message.clone(),
                request_id: request_id.clone(),
            };
        }
    }
    map_failure(f, Op::Assign, &format!("{ip} on {eni_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn client_is_shareable() {
        assert_send_sync_clone::<Ec2Client>();
    }

    fn api(code: &str, message: &str) -> CallFailure {
        CallFailure::Api(ApiFailure::Status {
            status: 400,
            code: code.into(),
            message: message.into(),
            request_id: Some("r".into()),
        })
    }

    #[test]
    fn assign_failures() {
        let ip: IpAddr = "10.9.9.9".parse().unwrap();
        let cases = [
            (
                api(
                    "InvalidParameterValue",
                    "Address does not fall within the subnet's address range",
                ),
                "ip_outside_subnet",
            ),
            (
                api("InvalidParameterValue", "Invalid id: \"eni-x\""),
                "invalid_parameter",
            ),
            (
                api(
                    "PrivateIpAddressLimitExceeded",
                    "Number of private addresses will exceed limit.",
                ),
                "ip_limit_exceeded",
            ),
            (api("UnauthorizedOperation", "not authorized"), "permission"),
            (
                api("InvalidNetworkInterfaceID.NotFound", "gone"),
                "not_found",
            ),
        ];
        for (f, want) in cases {
            let e = map_assign_failure(f, ip, "subnet-1", "eni-1");
            assert_eq!(e.category(), want, "{e}");
            assert_eq!(e.request_id(), Some("r"));
        }
    }

    #[test]
    fn dry_run_rejections() {
        assert!(is_dry_run_rejection(
            "UnknownParameter",
            "The parameter DryRun is not recognized"
        ));
        assert!(is_dry_run_rejection(
            "InvalidParameterCombination",
            "DryRun is not supported"
        ));
        assert!(!is_dry_run_rejection(
            "InvalidParameterValue",
            "bad address"
        ));
        assert!(!is_dry_run_rejection("UnauthorizedOperation", "DryRun"));
    }

    #[tokio::test]
    async fn debug_shows_no_secret() {
        let mut cfg = AwsConfig::new(
            Some("eu-west-1".into()),
            crate::CredentialsSource::Static {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "very-secret-key".into(),
                session_token: Some("very-secret-token".into()),
            },
        );
        cfg.imds_endpoint = Some("http://127.0.0.1:1".into());
        let c = Ec2Client::new(cfg).await.unwrap();
        let text = format!("{c:?}");
        assert!(
            text.contains("https://ec2.eu-west-1.amazonaws.com/"),
            "{text}"
        );
        assert!(!text.contains("very-secret"), "{text}");
        assert_eq!(c.region(), "eu-west-1");
    }
}
