//! `OciClient`: construction from [`OciConfig`], the public operations, and the mapping of raw
//! failures to operator-facing errors.
//!
//! Data flow: `new` resolves region and endpoints, builds the HTTP clients (public roots plus
//! the extra CA bundle; IMDS without proxy; the proxymux trusting only the service-account CA)
//! and the auth provider, and wraps everything in an `Arc` so clones share one rate limiter,
//! one token cache and one instance→VNIC cache. The move itself lives in `ensure.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use url::Url;

use crate::auth::api_key::ApiKeyProvider;
use crate::auth::instance_principal::{
    default_keygen, fetch_instance_metadata, InstancePrincipalProvider, InstancePrincipalSource,
};
use crate::auth::workload_identity::{WorkloadIdentityProvider, WorkloadIdentitySource};
use crate::auth::KeyProvider;
use crate::config::{
    parse_base_url, service_endpoint, workload_identity_endpoint, AuthConfig, OciConfig,
    DEFAULT_IMDS_URL, DEFAULT_REALM_DOMAIN,
};
use crate::decision::is_outside_subnet_message;
use crate::error::{ApiFailure, OciError};
use crate::hints::{grants, policy_hint, Need};
use crate::http::{build_client, Trust};
use crate::ops::{Family, Ops};
use crate::ratelimit::RateLimiter;
use crate::transport::{CallFailure, RetryPolicy, Transport};

/// What to assign where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRequest {
    /// The VIP.
    pub ip: IpAddr,
    /// The VIP's subnet OCID.
    pub subnet_id: String,
    /// The target node's `spec.providerID` (bare instance OCID or `oci://`-prefixed).
    pub provider_id: String,
    /// Display name for a newly created private IP.
    pub display_name: Option<String>,
}

/// Where the address is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Private IP (or IPv6) OCID.
    pub private_ip_id: String,
    /// VNIC holding it.
    pub vnic_id: String,
    /// The address.
    pub ip: IpAddr,
    /// The private IP object was created by this call.
    pub created: bool,
    /// This call changed the cloud state (create or move).
    pub changed: bool,
    /// `opc-request-id`s of the calls made, in order.
    pub opc_request_ids: Vec<String>,
}

/// A subnet's addresses of one family as one listing saw them.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Address → its private IP (or IPv6) object.
    pub by_ip: std::collections::HashMap<IpAddr, crate::model::IpRecord>,
    /// `opc-request-id`s of the listing's pages.
    pub request_ids: Vec<String>,
}

/// The target VNIC of an (instance, subnet) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetVnic {
    pub vnic_id: String,
    pub compartment_id: String,
}

pub(crate) struct Inner {
    pub transport: Transport,
    pub base: Url,
    pub cfg: OciConfig,
    pub vnic_cache: crate::timed_cache::TimedCache<(String, String), TargetVnic>,
    pub listings: crate::timed_cache::TimedCache<(String, crate::ops::Family), Arc<Listing>>,
    /// (address, subnet) → the OCID of its private IP / IPv6 object, once seen: a move reads
    /// that object directly (its etag with it) instead of listing the subnet first.
    pub ip_ids: crate::timed_cache::TimedCache<(std::net::IpAddr, String), String>,
}

/// The OCI client. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct OciClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for OciClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciClient")
            .field("base", &self.inner.base.as_str())
            .finish()
    }
}

/// How a 404 (or 400) should be read for one call.
#[derive(Debug, Clone)]
pub(crate) enum Context<'a> {
    /// The resource may legitimately not exist.
    MayBeMissing,
    /// The resource is known to exist: a 404 means a missing policy.
    Exists {
        /// `verb resource-type` statements that grant the call.
        grants: &'a [&'a str],
        /// Compartment for the policy hint.
        compartment: &'a str,
    },
}

impl OciClient {
    /// Builds the client. For instance principals without a configured region, asks IMDS.
    pub async fn new(cfg: OciConfig) -> Result<OciClient, OciError> {
        let extra_ca = cfg.extra_ca_pem.clone();
        let oci_http = build_client(extra_ca.as_deref(), Trust::PublicPlus, true)?;
        let mut region = cfg.region.clone().filter(|r| !r.is_empty());
        let mut domain = cfg.realm_domain.clone().filter(|d| !d.is_empty());
        let provider: Arc<dyn KeyProvider> = match &cfg.auth {
            AuthConfig::ApiKey {
                tenancy,
                user,
                fingerprint,
                key_path,
                passphrase_path,
            } => Arc::new(
                ApiKeyProvider::new(
                    tenancy,
                    user,
                    fingerprint,
                    key_path.clone(),
                    passphrase_path.clone(),
                )
                .await?,
            ),
            AuthConfig::InstancePrincipal {
                imds_url,
                federation_url,
            } => {
                let imds_http = build_client(None, Trust::PublicPlus, false)?;
                let imds = parse_base_url("IMDS", imds_url.as_deref().unwrap_or(DEFAULT_IMDS_URL))?;
                if region.is_none() || domain.is_none() {
                    let meta = fetch_instance_metadata(&imds_http, &imds, cfg.call_timeout).await?;
                    region = region.or_else(|| meta.region_id());
                    domain = domain.or_else(|| meta.realm_domain());
                }
                let r = region.clone().unwrap_or_default();
                let d = domain
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REALM_DOMAIN.into());
                let federation = service_endpoint("auth", &r, &d, federation_url.as_deref())?;
                let source = InstancePrincipalSource::new(
                    imds_http,
                    oci_http.clone(),
                    imds,
                    federation,
                    cfg.call_timeout,
                    default_keygen(),
                );
                Arc::new(InstancePrincipalProvider::new(source))
            }
            AuthConfig::WorkloadIdentity {
                token_path,
                ca_path,
                endpoint,
            } => {
                let ca = tokio::fs::read(ca_path).await.map_err(|e| {
                    OciError::Config(format!(
                        "cannot read service-account CA {}: {e}",
                        ca_path.display()
                    ))
                })?;
                let http = build_client(Some(&ca), Trust::Only, false)?;
                let endpoint = match endpoint {
                    Some(e) => parse_base_url("workload identity", e)?,
                    None => workload_identity_endpoint(
                        std::env::var("KUBERNETES_SERVICE_HOST").ok().as_deref(),
                    )?,
                };
                let source = WorkloadIdentitySource::new(
                    http,
                    endpoint,
                    token_path.clone(),
                    cfg.call_timeout,
                    default_keygen(),
                );
                Arc::new(WorkloadIdentityProvider::new(source))
            }
        };
        let domain = domain.unwrap_or_else(|| DEFAULT_REALM_DOMAIN.into());
        let base = service_endpoint(
            "iaas",
            region.as_deref().unwrap_or(""),
            &domain,
            cfg.iaas_endpoint.as_deref(),
        )?;
        Self::assemble(cfg, oci_http, provider, base)
    }

    /// Builds a client around a caller-supplied provider (custom auth, tests). Uses
    /// `cfg.iaas_endpoint` or the region/realm defaults for the Core Services URL.
    pub fn with_provider(
        cfg: OciConfig,
        provider: Arc<dyn KeyProvider>,
    ) -> Result<OciClient, OciError> {
        let oci_http = build_client(cfg.extra_ca_pem.as_deref(), Trust::PublicPlus, true)?;
        let domain = cfg
            .realm_domain
            .clone()
            .unwrap_or_else(|| DEFAULT_REALM_DOMAIN.into());
        let base = service_endpoint(
            "iaas",
            cfg.region.as_deref().unwrap_or(""),
            &domain,
            cfg.iaas_endpoint.as_deref(),
        )?;
        Self::assemble(cfg, oci_http, provider, base)
    }

    fn assemble(
        cfg: OciConfig,
        http: reqwest::Client,
        provider: Arc<dyn KeyProvider>,
        base: Url,
    ) -> Result<OciClient, OciError> {
        let policy = RetryPolicy {
            max_attempts: cfg.max_attempts.max(1),
            base: cfg.backoff_base,
            max: cfg.backoff_max,
            call_timeout: cfg.call_timeout,
        };
        let limiter = RateLimiter::new(cfg.rate_limit_per_sec, cfg.burst);
        tracing::info!(endpoint = %base, principal = ?provider.principal(), "OCI client ready");
        Ok(OciClient {
            inner: Arc::new(Inner {
                transport: Transport::new(http, provider, limiter, policy, cfg.max_in_flight),
                base,
                cfg,
                vnic_cache: Default::default(),
                listings: Default::default(),
                ip_ids: Default::default(),
            }),
        })
    }

    /// The Core Services base URL in use.
    pub fn endpoint(&self) -> &Url {
        &self.inner.base
    }

    pub(crate) fn ops(&self) -> Ops<'_> {
        Ops {
            transport: &self.inner.transport,
            base: &self.inner.base,
        }
    }

    /// Maps a raw failure to an operator-facing error for `op` on `resource`.
    pub(crate) fn map_failure(
        &self,
        f: CallFailure,
        op: &'static str,
        resource: &str,
        ctx: Context<'_>,
    ) -> OciError {
        let api = match f {
            CallFailure::Local(e) => return e,
            CallFailure::Api(a) => a,
        };
        if let (
            ApiFailure::Status {
                status: 404,
                opc_request_id,
                ..
            },
            Context::Exists {
                grants,
                compartment,
            },
        ) = (&api, &ctx)
        {
            let kind = self.inner.transport.provider().principal();
            let policy = policy_hint(kind, grants, compartment);
            return OciError::Permission {
                operation: op,
                resource: resource.to_string(),
                policy,
                opc_request_id: opc_request_id.clone(),
            };
        }
        api.into_error(op, resource)
    }

    /// Maps a Create/Update failure, recognising the same-subnet rule.
    pub(crate) fn map_mutation_failure(
        &self,
        f: CallFailure,
        op: &'static str,
        ip: IpAddr,
        subnet_id: &str,
        ctx: Context<'_>,
    ) -> OciError {
        if let CallFailure::Api(ApiFailure::Status {
            status: 400,
            code,
            message,
            opc_request_id,
            ..
        }) = &f
        {
            if is_outside_subnet_message(code, message) {
                return OciError::IpOutsideSubnet {
                    ip,
                    subnet_id: subnet_id.to_string(),
                    message: message.clone(),
                    opc_request_id: opc_request_id.clone(),
                };
            }
        }
        self.map_failure(f, op, &format!("{ip}"), ctx)
    }

    /// Where `ip` is assigned now in `subnet_id`, or `None` when no private IP object for it
    /// exists or it is not assigned to any VNIC.
    pub async fn current_assignment(
        &self,
        ip: IpAddr,
        subnet_id: &str,
    ) -> Result<Option<Assignment>, OciError> {
        let op = Family::of(ip).ops()[0];
        let r = self
            .ops()
            .find_ip(ip, subnet_id)
            .await
            .map_err(|f| self.map_failure(f, op, subnet_id, Context::MayBeMissing))?;
        Ok(r.value.and_then(|rec| {
            rec.vnic_id.map(|vnic_id| Assignment {
                private_ip_id: rec.id,
                vnic_id,
                ip,
                created: false,
                changed: false,
                opc_request_ids: r.request_ids,
            })
        }))
    }

    /// Deletes a private IP (or IPv6) object; already gone is success.
    pub async fn release(&self, private_ip_id: &str) -> Result<(), OciError> {
        let fam = Family::of_ocid(private_ip_id);
        let ids = self
            .ops()
            .delete_ip(fam, private_ip_id)
            .await
            .map_err(|f| self.map_failure(f, fam.ops()[4], private_ip_id, Context::MayBeMissing))?;
        self.inner.ip_ids.forget_where(|_, id| id == private_ip_id);
        tracing::info!(
            private_ip_id,
            opc_request_id = ids.first().map(String::as_str).unwrap_or(""),
            "released private IP"
        );
        Ok(())
    }

    /// Proves that this principal may move `private_ip_id` (a private IPv4 or IPv6 OCID)
    /// without moving it: for failover-readiness checks.
    ///
    /// OCI has no dry-run or "can I?" API, and read grants say nothing about the `use
    /// private-ips` / `use ipv6s` + `use vnics` grants a failover needs. So this reads the
    /// address (`GetPrivateIp` / `GetIpv6`, keeping its etag) and sends an `UpdatePrivateIp` /
    /// `UpdateIpv6` whose body is its *current* `vnicId`, guarded by `if-match` with that etag.
    /// OCI authorizes it exactly like a move but nothing changes (the assignment, and so the
    /// etag, stay the same). If the address moved in between (a real failover), OCI answers 412
    /// and the check reports [`OciError::Conflict`] without overwriting anything. The grants
    /// are checked on the VNIC that holds the address now; a failover's target VNIC is
    /// normally in the same compartment.
    ///
    /// Errors: `Ok(())` also when the address is not assigned to any VNIC (nothing to keep);
    /// [`OciError::Permission`] when the update answers 404 (missing grant; `policy` names the
    /// statements for the principal kind, address family and the address's compartment);
    /// [`OciError::NotFound`] when the address cannot even be read (deleted, or no read grant);
    /// [`OciError::Conflict`] on 412; `Auth`, `Throttled`, `Server`, `Timeout`, `Transport` as
    /// for every call (after the usual retries).
    pub async fn check_update_permission(&self, private_ip_id: &str) -> Result<(), OciError> {
        let fam = Family::of_ocid(private_ip_id);
        let [_, get_op, update_op, _, _] = fam.ops();
        let current = self
            .ops()
            .get_ip(fam, private_ip_id)
            .await
            .map_err(|f| self.map_failure(f, get_op, private_ip_id, Context::MayBeMissing))?;
        let Some(vnic_id) = current.value.vnic_id.clone() else {
            tracing::info!(
                private_ip_id,
                "private IP is not assigned to a VNIC; nothing to check"
            );
            return Ok(());
        };
        let compartment = current
            .value
            .compartment_id
            .clone()
            .unwrap_or_else(|| self.compartment_hint());
        let r = self
            .ops()
            .update_ip(fam, private_ip_id, &vnic_id, current.etag.as_deref())
            .await
            .map_err(|f| {
                self.map_failure(
                    f,
                    update_op,
                    private_ip_id,
                    Context::Exists {
                        grants: grants(Need::UpdateIp, fam),
                        compartment: &compartment,
                    },
                )
            })?;
        tracing::info!(private_ip_id, vnic = %vnic_id, opc_request_id = r.request_ids.first().map(String::as_str).unwrap_or(""), "update permission confirmed (no-op update)");
        Ok(())
    }

    /// Any compartment seen so far (for policy hints), or empty.
    pub(crate) fn compartment_hint(&self) -> String {
        self.inner
            .vnic_cache
            .any()
            .map(|t| t.compartment_id)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn client_is_shareable() {
        assert_send_sync_clone::<OciClient>();
    }
}
