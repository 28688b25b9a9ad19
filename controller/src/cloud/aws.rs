//! The AWS [`CloudProvider`]: a thin adapter over the `pgvip-aws` EC2 client.
//!
//! Data flow: the controller's AWS flags ([`AwsArgs`]) become a `pgvip_aws::AwsConfig`; each
//! trait call forwards to `Ec2Client` and maps `AwsError` to [`CloudError`], keeping its fixed
//! category, its transient flag and its request id. EC2 has no private-IP object: an assignment
//! is the pair (network interface, address), recorded as `status.cloud.vnicId` and the spec's
//! address, and released by unassigning the address from that interface.

use std::net::IpAddr;

use futures::future::BoxFuture;
use pgvip_aws::{AwsConfig, AwsError, CredentialsSource, Ec2Client};

use super::{CloudAssignment, CloudError, CloudProvider, CloudRef, MoveRequest};
use crate::config::AwsArgs;

/// Amazon EC2 through `pgvip-aws`.
#[derive(Debug, Clone)]
pub struct AwsProvider {
    client: Ec2Client,
}

/// Pure: the `pgvip-aws` configuration for the controller's flags (`extra_ca_pem` read by the
/// caller). Credentials always come from AWS's default chain.
pub fn aws_config(a: &AwsArgs, extra_ca_pem: Option<Vec<u8>>) -> AwsConfig {
    let mut cfg = AwsConfig::new(a.region.clone(), CredentialsSource::DefaultChain);
    cfg.ec2_endpoint = a.ec2_endpoint.clone();
    cfg.imds_endpoint = a.imds_endpoint.clone();
    cfg.extra_ca_pem = extra_ca_pem;
    cfg.rate_limit_per_sec = a.rate_limit;
    cfg.burst = a.rate_burst;
    cfg
}

impl AwsProvider {
    /// Builds the client from the controller's flags (reads the extra CA bundle file).
    pub async fn new(a: &AwsArgs) -> anyhow::Result<Self> {
        let ca = super::read_ca_bundle(a.ca_bundle.as_deref(), "--aws-ca-bundle")?;
        let client = Ec2Client::new(aws_config(a, ca))
            .await
            .map_err(|e| anyhow::anyhow!("building the EC2 client: {e}"))?;
        Ok(Self { client })
    }
}

fn cloud_error(e: AwsError) -> CloudError {
    CloudError {
        category: e.category(),
        transient: e.is_transient(),
        opc_request_id: e.request_id().map(str::to_string),
        message: e.to_string(),
    }
}

fn assignment(a: pgvip_aws::Assignment) -> CloudAssignment {
    CloudAssignment {
        vnic_id: Some(a.eni_id),
        private_ip_id: None,
        created: a.created,
        changed: a.changed,
        opc_request_ids: a.request_ids,
    }
}

/// The interface a [`CloudRef`] names (none: nothing was ever assigned, nothing to act on).
fn interface_of(target: &CloudRef) -> Option<&str> {
    target.vnic_id.as_deref()
}

impl CloudProvider for AwsProvider {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn l2_only(&self) -> bool {
        false
    }

    fn proves_move_permission(&self) -> bool {
        false
    }

    fn ensure_assigned<'a>(
        &'a self,
        req: &'a MoveRequest,
    ) -> BoxFuture<'a, Result<CloudAssignment, CloudError>> {
        Box::pin(async move {
            let r = pgvip_aws::MoveRequest {
                ip: req.address,
                subnet_id: req.subnet_id.clone(),
                provider_id: req.provider_id.clone(),
            };
            self.client
                .ensure_assigned(&r)
                .await
                .map(assignment)
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
            let Some(eni) = interface_of(target) else {
                return Ok(());
            };
            self.client
                .release(eni, target.address)
                .await
                .map_err(cloud_error)
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
                .node_eni(provider_id, subnet_id, max_age)
                .await
                .map_err(cloud_error)
        })
    }

    fn check_move_permission<'a>(
        &'a self,
        target: &'a CloudRef,
    ) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let Some(eni) = interface_of(target) else {
                return Ok(());
            };
            self.client
                .check_assign_permission(eni, target.address)
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
    fn flags_become_aws_config() {
        let c = crate::config::Config::try_parse_from([
            "pgvip-controller",
            "--cloud-provider",
            "aws",
            "--aws-region",
            "eu-west-1",
            "--aws-ec2-endpoint",
            "https://127.0.0.1:9444",
            "--aws-imds-endpoint",
            "http://127.0.0.1:9081",
            "--aws-rate-limit",
            "3",
            "--aws-rate-burst",
            "4",
        ])
        .unwrap();
        let a = aws_config(&c.aws, Some(b"pem".to_vec()));
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(a.ec2_endpoint.as_deref(), Some("https://127.0.0.1:9444"));
        assert_eq!(a.imds_endpoint.as_deref(), Some("http://127.0.0.1:9081"));
        assert_eq!(a.rate_limit_per_sec, 3.0);
        assert_eq!(a.burst, 4);
        assert_eq!(a.extra_ca_pem.as_deref(), Some(&b"pem"[..]));
        assert!(matches!(a.credentials, CredentialsSource::DefaultChain));
    }

    #[test]
    fn an_assignment_names_the_interface_and_no_private_ip_object() {
        let a = assignment(pgvip_aws::Assignment {
            eni_id: "eni-0123456789abcdef0".into(),
            created: true,
            changed: true,
            request_ids: vec!["r-1".into()],
        });
        assert_eq!(a.vnic_id.as_deref(), Some("eni-0123456789abcdef0"));
        assert_eq!(a.private_ip_id, None);
        assert!(a.created && a.changed);
        assert_eq!(a.opc_request_ids, vec!["r-1".to_string()]);
    }
}
