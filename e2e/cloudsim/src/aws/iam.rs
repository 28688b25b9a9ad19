//! IAM, reduced to what the simulator needs: access keys → principals, whether a
//! principal's allowed actions cover an EC2 action (pure), and the federated side: roles, the
//! OIDC providers with their parsed keys, the EKS cluster's issuer and associations.
//!
//! Flow: [`Iam::new`] indexes the inventory's principals by access key id and validates its
//! roles and providers; the server's SigV4 lookup asks [`Iam::by_key`]; after authentication
//! [`allows`] decides between running the action and `UnauthorizedOperation` (a runtime
//! override from the fault configuration replaces the inventory's list). STS asks
//! [`Iam::role`] and [`Iam::provider`], the Pod Identity agent [`Iam::cluster`].

use std::collections::HashMap;

use super::federation::{EksCluster, IamRole, OidcProvider};
use super::inventory::{AwsInventory, IamPrincipal};
use super::oidc::TokenKey;
use crate::Error;

/// An issuer with its keys parsed.
#[derive(Debug, Clone)]
pub struct Trusted<T> {
    /// The inventory's description.
    pub spec: T,
    /// Its signing keys.
    pub keys: Vec<TokenKey>,
}

/// Principals by access key id, roles by name, trusted issuers.
#[derive(Debug, Clone)]
pub struct Iam {
    by_key: HashMap<String, IamPrincipal>,
    roles: HashMap<String, IamRole>,
    providers: Vec<Trusted<OidcProvider>>,
    cluster: Option<Trusted<EksCluster>>,
}

fn parse_keys(owner: &str, pems: &[String]) -> Result<Vec<TokenKey>, Error> {
    if pems.is_empty() {
        return Err(Error::Inventory(format!("{owner}: no public key")));
    }
    pems.iter()
        .map(|p| TokenKey::from_pem(p).map_err(|e| Error::Inventory(format!("{owner}: {e}"))))
        .collect()
}

fn federation(inv: &AwsInventory) -> Result<Iam, Error> {
    let mut roles = HashMap::new();
    for r in &inv.roles {
        if !(900..=43_200).contains(&r.max_session_duration_secs) {
            return Err(Error::Inventory(format!(
                "role {}: maxSessionDurationSecs must be 900..=43200",
                r.name
            )));
        }
        if roles.insert(r.name.clone(), r.clone()).is_some() {
            return Err(Error::Inventory(format!(
                "role {} is defined twice",
                r.name
            )));
        }
    }
    let mut providers = vec![];
    for p in &inv.oidc_providers {
        if !p.url.starts_with("https://") {
            return Err(Error::Inventory(format!(
                "OIDC provider {}: the URL must start with https://",
                p.url
            )));
        }
        let keys = parse_keys(&format!("OIDC provider {}", p.url), &p.public_keys_pem)?;
        providers.push(Trusted {
            spec: p.clone(),
            keys,
        });
    }
    for r in &inv.roles {
        for t in &r.web_identity_trust {
            if !inv
                .oidc_providers
                .iter()
                .any(|p| p.host_path() == t.provider)
            {
                return Err(Error::Inventory(format!(
                    "role {}: trusts unknown OIDC provider {}",
                    r.name, t.provider
                )));
            }
        }
    }
    let cluster = match &inv.eks_cluster {
        None => None,
        Some(c) => {
            for a in &c.pod_identity_associations {
                if !roles.contains_key(&a.role) {
                    return Err(Error::Inventory(format!(
                        "pod identity association {}/{}: unknown role {}",
                        a.namespace, a.service_account, a.role
                    )));
                }
            }
            Some(Trusted {
                keys: parse_keys(&format!("EKS cluster {}", c.name), &c.public_keys_pem)?,
                spec: c.clone(),
            })
        }
    };
    Ok(Iam {
        by_key: HashMap::new(),
        roles,
        providers,
        cluster,
    })
}

impl Iam {
    /// Indexes the principals; refuses duplicate access keys and roles of unknown names.
    pub fn new(inv: &AwsInventory) -> Result<Iam, Error> {
        let mut iam = federation(inv)?;
        let by_key = &mut iam.by_key;
        for p in &inv.principals {
            if by_key.insert(p.access_key_id.clone(), p.clone()).is_some() {
                return Err(Error::Inventory(format!(
                    "access key {} is used twice",
                    p.access_key_id
                )));
            }
        }
        for i in &inv.instances {
            if let Some(role) = &i.iam_role {
                if !inv.principals.iter().any(|p| &p.name == role) {
                    return Err(Error::Inventory(format!(
                        "instance {}: unknown iamRole {role}",
                        i.id
                    )));
                }
            }
        }
        Ok(iam)
    }

    /// A role of that name (STS, Pod Identity).
    pub fn role(&self, name: &str) -> Option<&IamRole> {
        self.roles.get(name)
    }

    /// The OIDC provider whose URL is the token issuer `iss`.
    pub fn provider(&self, iss: &str) -> Option<&Trusted<OidcProvider>> {
        let want = super::federation::issuer_host_path(iss);
        self.providers.iter().find(|p| p.spec.host_path() == want)
    }

    /// The EKS cluster of the Pod Identity agent.
    pub fn cluster(&self) -> Option<&Trusted<EksCluster>> {
        self.cluster.as_ref()
    }

    /// The principal of an access key.
    pub fn by_key(&self, access_key_id: &str) -> Option<&IamPrincipal> {
        self.by_key.get(access_key_id)
    }

    /// The principal of that name (an instance's role).
    pub fn by_name(&self, name: &str) -> Option<&IamPrincipal> {
        self.by_key.values().find(|p| p.name == name)
    }
}

/// Whether `allowed` (IAM action patterns: `*`, `ec2:*`, `ec2:Describe*`,
/// `ec2:AssignPrivateIpAddresses`; `*` and `?` wildcards, case-insensitive as IAM matches
/// actions) covers the EC2 `action`.
pub fn allows(allowed: &[String], action: &str) -> bool {
    let full = format!("ec2:{action}").to_ascii_lowercase();
    allowed
        .iter()
        .any(|p| glob(p.to_ascii_lowercase().as_bytes(), full.as_bytes()))
}

/// Glob match with `*` (any run) and `?` (one character).
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_patterns() {
        let table: [(&[&str], &str, bool); 9] = [
            (&["*"], "AssignPrivateIpAddresses", true),
            (&["ec2:*"], "UnassignPrivateIpAddresses", true),
            (&["ec2:Describe*"], "DescribeNetworkInterfaces", true),
            (&["ec2:Describe*"], "AssignPrivateIpAddresses", false),
            (
                &["ec2:assignprivateipaddresses"],
                "AssignPrivateIpAddresses",
                true,
            ),
            (
                &["ec2:AssignPrivateIpAddresses"],
                "UnassignPrivateIpAddresses",
                false,
            ),
            (&["s3:*"], "DescribeNetworkInterfaces", false),
            (
                &["ec2:?escribeNetworkInterfaces"],
                "DescribeNetworkInterfaces",
                true,
            ),
            (&[], "DescribeNetworkInterfaces", false),
        ];
        for (allowed, action, want) in table {
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            assert_eq!(allows(&allowed, action), want, "{allowed:?} {action}");
        }
    }

    #[test]
    fn duplicate_keys_and_unknown_roles_are_refused() {
        let p = IamPrincipal::user("a", "AKIA1", "s");
        let inv = AwsInventory::example().principal(p.clone()).principal(p);
        assert!(Iam::new(&inv).is_err());
        let inv =
            AwsInventory::example().role(&super::super::inventory::example_instance(1), "ghost");
        assert!(Iam::new(&inv).is_err());
    }
}
