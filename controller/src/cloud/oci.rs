//! The OCI [`CloudProvider`]: a thin adapter over the `pgvip-oci` client.
//!
//! Data flow: the controller's OCI flags ([`OciArgs`]) become a `pgvip_oci::OciConfig`; each
//! trait call forwards to `OciClient` and maps `OciError` to [`CloudError`], keeping its fixed
//! category, its transient flag and its `opc-request-id`.

use std::net::IpAddr;

use futures::future::BoxFuture;
use pgvip_oci::{AuthConfig, OciClient, OciConfig, OciError};

use super::{CloudAssignment, CloudError, CloudProvider, CloudRef, MoveRequest};
use crate::config::{OciArgs, OciAuthMode};

/// OCI through `pgvip-oci`.
#[derive(Debug, Clone)]
pub struct OciProvider {
    client: OciClient,
}

/// Pure: the `pgvip-oci` configuration for the controller's flags (`extra_ca_pem` read by the caller).
pub fn oci_config(a: &OciArgs, extra_ca_pem: Option<Vec<u8>>) -> Result<OciConfig, String> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| format!("--oci-auth api-key needs {flag}"))
    };
    let auth = match a.auth {
        OciAuthMode::ApiKey => AuthConfig::ApiKey {
            tenancy: need(&a.tenancy, "--oci-tenancy")?,
            user: need(&a.user, "--oci-user")?,
            fingerprint: need(&a.fingerprint, "--oci-fingerprint")?,
            key_path: a
                .private_key_file
                .clone()
                .ok_or("--oci-auth api-key needs --oci-private-key-file")?,
            passphrase_path: a.private_key_passphrase_file.clone(),
        },
        OciAuthMode::InstancePrincipal => AuthConfig::InstancePrincipal {
            imds_url: a.imds_endpoint.clone(),
            federation_url: a.federation_endpoint.clone(),
        },
        OciAuthMode::WorkloadIdentity => AuthConfig::WorkloadIdentity {
            token_path: a.service_account_token_file.clone(),
            ca_path: a.service_account_ca_file.clone(),
            endpoint: a.workload_identity_endpoint.clone(),
        },
    };
    let mut cfg = OciConfig::new(a.region.clone(), auth);
    cfg.realm_domain = a.realm_domain.clone();
    cfg.iaas_endpoint = a.core_endpoint.clone();
    cfg.extra_ca_pem = extra_ca_pem;
    cfg.rate_limit_per_sec = a.rate_limit;
    cfg.burst = a.rate_burst;
    Ok(cfg)
}

impl OciProvider {
    /// Builds the client from the controller's flags (reads the extra CA bundle file).
    pub async fn new(a: &OciArgs) -> anyhow::Result<Self> {
        let ca = super::read_ca_bundle(a.ca_bundle.as_deref(), "--oci-ca-bundle")?;
        let cfg = oci_config(a, ca).map_err(anyhow::Error::msg)?;
        let client = OciClient::new(cfg)
            .await
            .map_err(|e| anyhow::anyhow!("building the OCI client: {e}"))?;
        Ok(Self { client })
    }
}

fn cloud_error(e: OciError) -> CloudError {
    CloudError {
        category: e.category(),
        transient: e.is_transient(),
        opc_request_id: e.opc_request_id().map(str::to_string),
        message: e.to_string(),
    }
}

fn oci_request(req: &MoveRequest) -> pgvip_oci::MoveRequest {
    pgvip_oci::MoveRequest {
        ip: req.address,
        subnet_id: req.subnet_id.clone(),
        provider_id: req.provider_id.clone(),
        display_name: req.display_name.clone(),
    }
}

fn assignment(a: pgvip_oci::Assignment) -> CloudAssignment {
    CloudAssignment {
        vnic_id: Some(a.vnic_id),
        private_ip_id: Some(a.private_ip_id),
        created: a.created,
        changed: a.changed,
        opc_request_ids: a.opc_request_ids,
    }
}

impl CloudProvider for OciProvider {
    fn name(&self) -> &'static str {
        "oci"
    }

    fn l2_only(&self) -> bool {
        false
    }

    fn ensure_assigned<'a>(
        &'a self,
        req: &'a MoveRequest,
    ) -> BoxFuture<'a, Result<CloudAssignment, CloudError>> {
        Box::pin(async move {
            self.client
                .ensure_assigned(&oci_request(req))
                .await
                .map(assignment)
                .map_err(cloud_error)
        })
    }

    fn confirm_assigned<'a>(
        &'a self,
        req: &'a MoveRequest,
        max_age: std::time::Duration,
    ) -> BoxFuture<'a, Result<Option<CloudAssignment>, CloudError>> {
        Box::pin(async move {
            self.client
                .confirm_from_listing(&oci_request(req), max_age)
                .await
                .map(|o| o.map(assignment))
                .map_err(cloud_error)
        })
    }

    fn current_assignment<'a>(
        &'a self,
        address: IpAddr,
        subnet_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CloudAssignment>, CloudError>> {
        Box::pin(async move {
            self.client
                .current_assignment(address, subnet_id)
                .await
                .map(|o| o.map(assignment))
                .map_err(cloud_error)
        })
    }

    fn release<'a>(&'a self, target: &'a CloudRef) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let Some(id) = target.private_ip_id.as_deref() else {
                return Ok(());
            };
            self.client.release(id).await.map_err(cloud_error)
        })
    }
    fn node_interface<'a>(
        &'a self,
        provider_id: &'a str,
        subnet_id: &'a str,
        max_age: std::time::Duration,
    ) -> BoxFuture<'a, Result<String, CloudError>> {
        Box::pin(async move {
            self.client
                .node_vnic(provider_id, subnet_id, max_age)
                .await
                .map_err(cloud_error)
        })
    }

    fn check_move_permission<'a>(
        &'a self,
        target: &'a CloudRef,
    ) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let Some(id) = target.private_ip_id.as_deref() else {
                return Ok(());
            };
            self.client
                .check_update_permission(id)
                .await
                .map_err(cloud_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_become_oci_config() {
        let c = crate::config::Config::try_parse_from([
            "pgvip-controller",
            "--oci-auth",
            "instance-principal",
            "--oci-region",
            "eu-frankfurt-1",
            "--oci-core-endpoint",
            "https://127.0.0.1:9443",
            "--oci-imds-endpoint",
            "http://127.0.0.1:9080",
            "--oci-rate-limit",
            "3",
            "--oci-rate-burst",
            "4",
        ])
        .unwrap();
        let o = oci_config(&c.oci, Some(b"pem".to_vec())).unwrap();
        assert_eq!(o.region.as_deref(), Some("eu-frankfurt-1"));
        assert_eq!(o.iaas_endpoint.as_deref(), Some("https://127.0.0.1:9443"));
        assert_eq!(o.rate_limit_per_sec, 3.0);
        assert_eq!(o.burst, 4);
        assert_eq!(o.extra_ca_pem.as_deref(), Some(&b"pem"[..]));
        assert!(
            matches!(o.auth, AuthConfig::InstancePrincipal { imds_url: Some(ref u), federation_url: None } if u == "http://127.0.0.1:9080")
        );
    }
}
