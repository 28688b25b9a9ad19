//! IAM, reduced to what the simulator needs: access keys → principals, and whether a
//! principal's allowed actions cover an EC2 action (pure).
//!
//! Flow: [`Iam::new`] indexes the inventory's principals by access key id; the server's
//! SigV4 lookup asks [`Iam::by_key`]; after authentication [`allows`] decides between
//! running the action and `UnauthorizedOperation` (a runtime override from the fault
//! configuration replaces the inventory's list).

use std::collections::HashMap;

use super::inventory::{AwsInventory, IamPrincipal};
use crate::Error;

/// Principals by access key id.
#[derive(Debug, Clone)]
pub struct Iam {
    by_key: HashMap<String, IamPrincipal>,
}

impl Iam {
    /// Indexes the principals; refuses duplicate access keys and roles of unknown names.
    pub fn new(inv: &AwsInventory) -> Result<Iam, Error> {
        let mut by_key = HashMap::new();
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
        Ok(Iam { by_key })
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
