//! The inventory's federated identities: IAM roles that workloads assume, the IAM OIDC
//! identity providers IRSA trusts, and the EKS cluster whose Pod Identity associations map
//! service accounts to roles.
//!
//! These are plain data, read from the inventory JSON (camelCase) or built with the chainable
//! methods; [`super::iam::Iam::new`] validates them and parses the issuers' keys.

use serde::{Deserialize, Serialize};

/// Default `MaxSessionDuration` of an IAM role (one hour), as IAM sets it.
pub const DEFAULT_MAX_SESSION_SECS: u64 = 3600;

/// The audience IRSA's projected token carries (the IAM OIDC provider's client id).
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// The audience of EKS Pod Identity's projected token.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";

/// An IAM role assumed through STS (IRSA) or EKS Pod Identity: its permissions and trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamRole {
    /// Role name (the last part of `arn:aws:iam::<account>:role/<name>`).
    pub name: String,
    /// Allowed actions: `ec2:DescribeNetworkInterfaces`, `ec2:*`, `ec2:Describe*`, `*`.
    #[serde(default)]
    pub allowed_actions: Vec<String>,
    /// Trust policy statements allowing `sts:AssumeRoleWithWebIdentity`.
    #[serde(default)]
    pub web_identity_trust: Vec<WebIdentityTrust>,
    /// Whether the trust policy allows the service principal `pods.eks.amazonaws.com`
    /// (`sts:AssumeRole` + `sts:TagSession`), which EKS Pod Identity requires.
    #[serde(default)]
    pub trusts_pod_identity: bool,
    /// Longest session, in seconds (900..=43200).
    #[serde(default = "default_max_session")]
    pub max_session_duration_secs: u64,
}

fn default_max_session() -> u64 {
    DEFAULT_MAX_SESSION_SECS
}

/// One trust statement: `Principal: {Federated: <provider ARN>}`,
/// `Action: sts:AssumeRoleWithWebIdentity`, with the conditions EKS's IRSA guide writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebIdentityTrust {
    /// The provider, as its ARN ends: the issuer URL without `https://`
    /// (`oidc.eks.<region>.amazonaws.com/id/<id>`).
    pub provider: String,
    /// `StringEquals` on `<provider>:aud`.
    pub audience: String,
    /// `StringLike` on `<provider>:sub` (`*` and `?` wildcards), e.g.
    /// `system:serviceaccount:pgvip-system:pgvip-controller`.
    pub subject: String,
}

/// An IAM OIDC identity provider (what `eksctl utils associate-iam-oidc-provider` creates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    /// Issuer URL, exactly as the tokens' `iss` (`https://…`).
    pub url: String,
    /// Registered client ids (accepted audiences), e.g. `sts.amazonaws.com`.
    pub client_ids: Vec<String>,
    /// The issuer's signing keys as PEM `PUBLIC KEY`s (P-256 or RSA): what IAM fetches from
    /// the issuer's JWKS.
    pub public_keys_pem: Vec<String>,
}

impl OidcProvider {
    /// The part of the ARN after `oidc-provider/`: the URL without its scheme.
    pub fn host_path(&self) -> &str {
        issuer_host_path(&self.url)
    }
}

/// An issuer URL without `https://` and trailing `/`.
pub fn issuer_host_path(url: &str) -> &str {
    url.strip_prefix("https://")
        .unwrap_or(url)
        .trim_end_matches('/')
}

/// The EKS cluster whose pods ask the Pod Identity agent for credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EksCluster {
    /// Cluster name.
    pub name: String,
    /// The service-account token issuer of its apiserver (the tokens' `iss`).
    pub issuer: String,
    /// The apiserver's service-account signing keys (PEM `PUBLIC KEY`s).
    pub public_keys_pem: Vec<String>,
    /// Pod Identity associations.
    #[serde(default)]
    pub pod_identity_associations: Vec<PodIdentityAssociation>,
}

/// `aws eks create-pod-identity-association`: a service account's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodIdentityAssociation {
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// Name of the role (an [`IamRole`]).
    pub role: String,
}

impl IamRole {
    /// A role allowed `actions`, trusting nobody yet.
    pub fn new(name: &str, actions: &[&str]) -> Self {
        IamRole {
            name: name.into(),
            allowed_actions: actions.iter().map(|a| a.to_string()).collect(),
            web_identity_trust: vec![],
            trusts_pod_identity: false,
            max_session_duration_secs: DEFAULT_MAX_SESSION_SECS,
        }
    }
    /// Trusts tokens of `provider` (issuer URL) for `sts.amazonaws.com` whose `sub` matches
    /// `subject`.
    pub fn trusting_web_identity(mut self, provider_url: &str, subject: &str) -> Self {
        self.web_identity_trust.push(WebIdentityTrust {
            provider: issuer_host_path(provider_url).into(),
            audience: STS_AUDIENCE.into(),
            subject: subject.into(),
        });
        self
    }
    /// Trusts `pods.eks.amazonaws.com`.
    pub fn trusting_pod_identity(mut self) -> Self {
        self.trusts_pod_identity = true;
        self
    }
    /// The role's ARN in `account_id`.
    pub fn arn(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:role/{}", self.name)
    }
}

/// `system:serviceaccount:<namespace>:<name>`, the `sub` of a service-account token.
pub fn service_account_subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The (namespace, name) of a service-account token's `sub`.
pub fn parse_service_account_subject(sub: &str) -> Option<(&str, &str)> {
    let rest = sub.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_issuers() {
        let sub = service_account_subject("pgvip-system", "pgvip-controller");
        assert_eq!(
            parse_service_account_subject(&sub),
            Some(("pgvip-system", "pgvip-controller"))
        );
        assert_eq!(
            parse_service_account_subject("system:serviceaccount:ns"),
            None
        );
        assert_eq!(parse_service_account_subject("user:alice"), None);
        assert_eq!(
            issuer_host_path("https://oidc.eks.us-east-1.amazonaws.com/id/ABC/"),
            "oidc.eks.us-east-1.amazonaws.com/id/ABC"
        );
        let role = IamRole::new("r", &["ec2:*"])
            .trusting_web_identity("https://issuer.example", "system:serviceaccount:a:*");
        assert_eq!(role.web_identity_trust[0].provider, "issuer.example");
        assert_eq!(role.arn("111122223333"), "arn:aws:iam::111122223333:role/r");
        let json = serde_json::to_string(&role).unwrap();
        assert_eq!(serde_json::from_str::<IamRole>(&json).unwrap(), role);
        let minimal: IamRole = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(minimal.max_session_duration_secs, DEFAULT_MAX_SESSION_SECS);
    }
}
