//! The AWS flavour's workload identities for the controller, as EKS sets them up: IRSA (a
//! projected service-account token for `sts.amazonaws.com`, exchanged at STS with
//! `AssumeRoleWithWebIdentity`) and EKS Pod Identity (a token for `pods.eks.amazonaws.com`,
//! sent to the node's Pod Identity agent). The testbed's kube-apiserver issues both tokens
//! with its own service-account key, and the simulator trusts that key as the cluster's OIDC
//! issuer, as IAM trusts an EKS cluster's.
//!
//! `PGVIP_AWS_CREDENTIALS` picks the controller's source ([`AwsCredentials`]); the supervisor
//! writes the token files ([`write_tokens`]) and starts STS and the agent on fixed ports;
//! [`controller_env`] is what EKS's webhooks would inject into the pod; [`check_signers`]
//! proves from the simulator's call log that EC2 calls were signed with the chosen source's
//! credentials.

use std::path::PathBuf;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use pgvip_cloudsim::aws::federation::{
    service_account_subject, POD_IDENTITY_AUDIENCE, STS_AUDIENCE,
};
use pgvip_cloudsim::aws::{
    Action, AwsCallRecord, AwsInventory, EksCluster, IamRole, OidcProvider, PodIdentityAssociation,
};

use crate::{
    cloud::AWS_NODE_ROLE,
    error::{Context, Error, Result},
    layout::Layout,
};

/// STS's fixed port on loopback (and, by a forwarder, in the controller's namespace).
pub const STS_PORT: u16 = 18445;
/// The Pod Identity agent's fixed port on loopback (and in the controller's namespace).
pub const POD_IDENTITY_PORT: u16 = 18446;
/// The role the controller assumes through IRSA.
pub const IRSA_ROLE: &str = "pgvip-controller-irsa";
/// The role the controller's service account is associated with for Pod Identity.
pub const POD_IDENTITY_ROLE: &str = "pgvip-controller-pod-identity";
/// The testbed's EKS cluster name.
pub const EKS_CLUSTER: &str = "pgvip-testbed";
/// The kube-apiserver's `--service-account-issuer` (`control_plane` passes it), which IAM
/// trusts as the cluster's OIDC provider.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The account of [`crate::cloud::aws_inventory`].
pub const ACCOUNT_ID: &str = "111122223333";
/// The controller's service account.
const CONTROLLER_SA: &str = "pgvip-controller";
/// Token lifetime: EKS projects both tokens for 24 hours (`expirationSeconds: 86400`).
const TOKEN_SECONDS: i64 = 86_400;

/// Where the controller's AWS credentials come from (`PGVIP_AWS_CREDENTIALS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsCredentials {
    /// Unset or `static`: long-term keys in the environment.
    Static,
    /// `instance-profile`: the first worker's role through IMDSv2.
    InstanceProfile,
    /// `irsa`: web identity token → STS.
    Irsa,
    /// `pod-identity`: token → the EKS Pod Identity agent.
    PodIdentity,
}

impl AwsCredentials {
    /// Parses a `PGVIP_AWS_CREDENTIALS` value.
    pub fn parse(v: Option<&str>) -> Result<Self> {
        Ok(match v.unwrap_or_default() {
            "" | "static" => AwsCredentials::Static,
            "instance-profile" => AwsCredentials::InstanceProfile,
            "irsa" => AwsCredentials::Irsa,
            "pod-identity" => AwsCredentials::PodIdentity,
            other => {
                return Err(Error::Other(format!(
                    "PGVIP_AWS_CREDENTIALS={other:?}: expected static, instance-profile, irsa or pod-identity"
                )))
            }
        })
    }

    /// From the environment.
    pub fn from_env() -> Result<Self> {
        Self::parse(std::env::var("PGVIP_AWS_CREDENTIALS").ok().as_deref())
    }

    /// The suite's name for the signer check, for the temporary-credential sources.
    pub fn signer_check(self) -> Option<&'static str> {
        match self {
            AwsCredentials::Static => None,
            AwsCredentials::InstanceProfile => Some(
                "the controller signs with the instance profile's temporary credentials (IMDSv2)",
            ),
            AwsCredentials::Irsa => Some(
                "the controller signs with the credentials STS issued for its web identity token (IRSA)",
            ),
            AwsCredentials::PodIdentity => Some(
                "the controller signs with the credentials the EKS Pod Identity agent issued",
            ),
        }
    }
}

/// The IRSA token file.
pub fn irsa_token_path(layout: &Layout) -> PathBuf {
    layout.path("aws/eks.amazonaws.com-token")
}

/// The Pod Identity token file.
pub fn pod_identity_token_path(layout: &Layout) -> PathBuf {
    layout.path("aws/eks-pod-identity-token")
}

/// Adds the cluster's identities to the EC2 inventory: the IAM OIDC provider for the
/// apiserver's issuer (`sa_pub_pem`, its service-account key), the IRSA role trusting the
/// controller's service account, the Pod Identity role and its association. Both roles may do
/// exactly the three EC2 actions pgvip needs.
pub fn with_federation(inv: AwsInventory, layout: &Layout, sa_pub_pem: &str) -> AwsInventory {
    let actions = [
        "ec2:DescribeNetworkInterfaces",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ];
    let sub = service_account_subject(&layout.system_namespace, CONTROLLER_SA);
    inv.oidc_provider(OidcProvider {
        url: SERVICE_ACCOUNT_ISSUER.into(),
        client_ids: vec![STS_AUDIENCE.into()],
        public_keys_pem: vec![sa_pub_pem.into()],
    })
    .iam_role(IamRole::new(IRSA_ROLE, &actions).trusting_web_identity(SERVICE_ACCOUNT_ISSUER, &sub))
    .iam_role(IamRole::new(POD_IDENTITY_ROLE, &actions).trusting_pod_identity())
    .eks_cluster(EksCluster {
        name: EKS_CLUSTER.into(),
        issuer: SERVICE_ACCOUNT_ISSUER.into(),
        public_keys_pem: vec![sa_pub_pem.into()],
        pod_identity_associations: vec![PodIdentityAssociation {
            namespace: layout.system_namespace.clone(),
            service_account: CONTROLLER_SA.into(),
            role: POD_IDENTITY_ROLE.into(),
        }],
    })
}

/// Writes both token files, each a TokenRequest of the controller's service account with its
/// audience (what the kubelet projects into an EKS pod).
pub async fn write_tokens(client: &kube::Client, layout: &Layout) -> Result<()> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &layout.system_namespace);
    std::fs::create_dir_all(layout.path("aws")).ctx("creating the aws dir")?;
    for (audience, path) in [
        (STS_AUDIENCE, irsa_token_path(layout)),
        (POD_IDENTITY_AUDIENCE, pod_identity_token_path(layout)),
    ] {
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![audience.into()],
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            ..Default::default()
        };
        let token = sas
            .create_token_request(CONTROLLER_SA, &PostParams::default(), &req)
            .await
            .ctx(format!("a {audience} token for {CONTROLLER_SA}"))?
            .status
            .map(|s| s.token)
            .ok_or_else(|| Error::Other("TokenRequest without status".into()))?;
        std::fs::write(&path, token).ctx(format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The environment EKS's webhooks inject for `creds` (IRSA: role, token file, session name,
/// plus the STS endpoint of the simulator; Pod Identity: the agent's URL and the token file).
/// Empty for the other sources.
pub fn controller_env(layout: &Layout, creds: AwsCredentials, id: u32) -> Vec<(String, String)> {
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let pairs: Vec<(&str, String)> = match creds {
        AwsCredentials::Irsa => vec![
            (
                "AWS_ROLE_ARN",
                format!("arn:aws:iam::{}:role/{IRSA_ROLE}", ACCOUNT_ID),
            ),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", path(irsa_token_path(layout))),
            ("AWS_ROLE_SESSION_NAME", format!("pgvip-controller-{id}")),
            // aws-config's STS client honours the service-specific endpoint first.
            (
                "AWS_ENDPOINT_URL_STS",
                format!("https://127.0.0.1:{STS_PORT}"),
            ),
        ],
        AwsCredentials::PodIdentity => vec![
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("http://127.0.0.1:{POD_IDENTITY_PORT}/v1/credentials"),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                path(pod_identity_token_path(layout)),
            ),
        ],
        AwsCredentials::Static | AwsCredentials::InstanceProfile => vec![],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn is_ec2(a: Action) -> bool {
    matches!(
        a,
        Action::DescribeNetworkInterfaces
            | Action::AssignPrivateIpAddresses
            | Action::UnassignPrivateIpAddresses
    )
}

/// Pure: every authenticated EC2 call in `calls` was signed by the principal `creds` stands
/// for, and (IRSA, Pod Identity) with an access key the matching endpoint issued, or
/// (instance profile) after IMDS served credentials. Static keys are not checked.
pub fn check_signers(
    calls: &[AwsCallRecord],
    creds: AwsCredentials,
) -> std::result::Result<(), String> {
    let (principal, issuer) = match creds {
        AwsCredentials::Static => return Ok(()),
        AwsCredentials::InstanceProfile => (AWS_NODE_ROLE, Action::Imds),
        AwsCredentials::Irsa => (IRSA_ROLE, Action::AssumeRoleWithWebIdentity),
        AwsCredentials::PodIdentity => (POD_IDENTITY_ROLE, Action::PodIdentityCredentials),
    };
    let issued: Vec<&str> = calls
        .iter()
        .filter(|c| c.action == issuer && c.status == 200)
        .filter_map(|c| c.access_key_id.as_deref())
        .collect();
    if !calls.iter().any(|c| c.action == issuer && c.status == 200) {
        return Err(format!("no successful {issuer:?} request in the call log"));
    }
    let signed: Vec<&AwsCallRecord> = calls
        .iter()
        .filter(|c| is_ec2(c.action) && c.principal.is_some())
        .collect();
    if signed.is_empty() {
        return Err("no authenticated EC2 call in the call log".into());
    }
    let wrong: Vec<String> = signed
        .iter()
        .filter(|c| {
            c.principal.as_deref() != Some(principal)
                || (issuer != Action::Imds
                    && !c
                        .access_key_id
                        .as_deref()
                        .is_some_and(|k| issued.contains(&k)))
        })
        .map(|c| {
            format!(
                "{:?} by {:?} with {:?}",
                c.action, c.principal, c.access_key_id
            )
        })
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} EC2 calls were not signed by {principal} with credentials from {issuer:?}: {wrong:?}",
            wrong.len(),
            signed.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rec(
        action: Action,
        status: u16,
        principal: Option<&str>,
        key: Option<&str>,
    ) -> AwsCallRecord {
        AwsCallRecord {
            action,
            access_key_id: key.map(String::from),
            principal: principal.map(String::from),
            status,
            code: None,
            request_id: "r".into(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            dry_run: false,
            injected: false,
            params: BTreeMap::new(),
        }
    }

    #[test]
    fn the_federation_names_the_inventorys_account_and_namespace() {
        let layout = Layout::standard(std::env::temp_dir().join("pgvip-aws-identity-test"));
        let inv = with_federation(crate::cloud::aws_inventory(&layout), &layout, "pem");
        assert_eq!(inv.account_id, ACCOUNT_ID);
        let env = controller_env(&layout, AwsCredentials::Irsa, 0);
        assert!(env.contains(&(
            "AWS_ROLE_ARN".to_string(),
            format!("arn:aws:iam::{ACCOUNT_ID}:role/{IRSA_ROLE}")
        )));
        let trust = &inv.roles[0].web_identity_trust[0];
        assert_eq!(
            trust.subject,
            format!(
                "system:serviceaccount:{}:pgvip-controller",
                layout.system_namespace
            )
        );
        assert!(controller_env(&layout, AwsCredentials::Static, 0).is_empty());
    }

    #[test]
    fn selector_values() {
        assert_eq!(AwsCredentials::parse(None).unwrap(), AwsCredentials::Static);
        assert_eq!(
            AwsCredentials::parse(Some("irsa")).unwrap(),
            AwsCredentials::Irsa
        );
        assert_eq!(
            AwsCredentials::parse(Some("pod-identity")).unwrap(),
            AwsCredentials::PodIdentity
        );
        assert!(AwsCredentials::parse(Some("irsa2")).is_err());
    }

    #[test]
    fn signer_check_needs_the_issued_key() {
        use Action::*;
        let sts = rec(
            AssumeRoleWithWebIdentity,
            200,
            Some(IRSA_ROLE),
            Some("ASIASTS1"),
        );
        let refused_sts = rec(AssumeRoleWithWebIdentity, 403, None, None);
        let good = rec(
            DescribeNetworkInterfaces,
            200,
            Some(IRSA_ROLE),
            Some("ASIASTS1"),
        );
        let throttled = rec(AssignPrivateIpAddresses, 503, None, None);
        let ok = [refused_sts.clone(), sts.clone(), good.clone(), throttled];
        assert_eq!(check_signers(&ok, AwsCredentials::Irsa), Ok(()));
        // Same role name, but a key STS never issued (e.g. a fixed principal's).
        let forged = rec(
            AssignPrivateIpAddresses,
            200,
            Some(IRSA_ROLE),
            Some("ASIAOTHER"),
        );
        assert!(check_signers(&[sts.clone(), good.clone(), forged], AwsCredentials::Irsa).is_err());
        // Static keys.
        let user = rec(
            DescribeNetworkInterfaces,
            200,
            Some("pgvip-controller"),
            Some("AKIA1"),
        );
        assert!(check_signers(&[sts.clone(), user], AwsCredentials::Irsa).is_err());
        // No issue at all, or no EC2 call at all.
        assert!(check_signers(&[refused_sts, good.clone()], AwsCredentials::Irsa).is_err());
        assert!(check_signers(std::slice::from_ref(&sts), AwsCredentials::Irsa).is_err());
        // STS's key does not count for Pod Identity.
        assert!(check_signers(&[sts, good], AwsCredentials::PodIdentity).is_err());
        let pod = rec(
            PodIdentityCredentials,
            200,
            Some(POD_IDENTITY_ROLE),
            Some("ASIAPOD1"),
        );
        let call = rec(
            DescribeNetworkInterfaces,
            200,
            Some(POD_IDENTITY_ROLE),
            Some("ASIAPOD1"),
        );
        assert_eq!(
            check_signers(&[pod, call], AwsCredentials::PodIdentity),
            Ok(())
        );
        // The instance profile: IMDS served, the node role signed.
        let imds = rec(Imds, 200, Some("i-1"), None);
        let node = rec(
            DescribeNetworkInterfaces,
            200,
            Some(AWS_NODE_ROLE),
            Some("ASIAN"),
        );
        assert_eq!(
            check_signers(&[imds, node], AwsCredentials::InstanceProfile),
            Ok(())
        );
    }
}
