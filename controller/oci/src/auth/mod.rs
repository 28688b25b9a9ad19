//! Authentication providers behind one trait.
//!
//! Data flow: the transport asks its [`KeyProvider`] for [`Credentials`] (key id + RSA private
//! key) before signing each attempt. API keys come from a file re-read when it changes; instance
//! principals and OKE workload identity exchange an identity for a session token that a
//! [`session::SessionCache`] refreshes before expiry, one refresh at a time. After a 401 the
//! transport calls [`KeyProvider::invalidate`] so the next attempt refreshes.

pub mod api_key;
mod identity_call;
pub mod instance_principal;
pub mod jwt;
pub mod session;
pub mod workload_identity;

use futures::future::BoxFuture;
use rsa::RsaPrivateKey;
use std::sync::Arc;

use crate::error::OciError;

/// What the signer needs: the `keyId` and the private key. Debug output is redacted.
#[derive(Clone)]
pub struct Credentials {
    /// `keyId` for the Authorization header (`tenancy/user/fingerprint` or `ST$<token>`).
    pub key_id: String,
    /// The signing key.
    pub key: Arc<RsaPrivateKey>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.key_id.starts_with("ST$") {
            "ST$<redacted>".to_string()
        } else {
            self.key_id.clone()
        };
        f.debug_struct("Credentials")
            .field("key_id", &shown)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Which kind of principal signs, used to phrase IAM policy hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user with an API key (policies name a group).
    User,
    /// An instance principal (policies name a dynamic group).
    Instance,
    /// An OKE workload (policies name `any-user` with a workload condition).
    Workload,
}

impl PrincipalKind {
    /// The subject of an `Allow ... to <verb> <resource> in compartment id <c>` statement.
    pub fn policy_subject(self) -> &'static str {
        match self {
            PrincipalKind::User => "group <your-group>",
            PrincipalKind::Instance => "dynamic-group <your-dynamic-group>",
            PrincipalKind::Workload => "any-user",
        }
    }

    /// A trailing `where` clause for the statement, if the principal needs one. OKE workloads
    /// are named by type, namespace, service account and cluster (`any-user` alone would grant
    /// every workload of every cluster).
    pub fn policy_condition(self) -> &'static str {
        match self {
            PrincipalKind::Workload => " where all {request.principal.type = 'workload', request.principal.namespace = '<controller-namespace>', request.principal.service_account = '<controller-service-account>', request.principal.cluster_id = '<cluster-ocid>'}",
            _ => "",
        }
    }
}

/// Source of signing credentials. Implementations are safe under concurrent use.
pub trait KeyProvider: Send + Sync {
    /// Current credentials, refreshed first when due.
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, OciError>>;
    /// Forget cached session material (after a 401) so the next call refreshes.
    fn invalidate(&self) -> BoxFuture<'_, ()>;
    /// Kind of principal, for policy hints.
    fn principal(&self) -> PrincipalKind;
}

/// Formats a policy statement granting `verb resource` in `compartment`.
pub fn policy_statement(kind: PrincipalKind, verb_resource: &str, compartment: &str) -> String {
    let c = if compartment.is_empty() {
        "<compartment>".to_string()
    } else {
        format!("id {compartment}")
    };
    format!(
        "Allow {} to {verb_resource} in compartment {c}{}",
        kind.policy_subject(),
        kind.policy_condition()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_statements() {
        assert_eq!(
            policy_statement(PrincipalKind::Instance, "use private-ips", "ocid1.compartment.oc1..c"),
            "Allow dynamic-group <your-dynamic-group> to use private-ips in compartment id ocid1.compartment.oc1..c"
        );
        assert_eq!(
            policy_statement(PrincipalKind::User, "use vnics", ""),
            "Allow group <your-group> to use vnics in compartment <compartment>"
        );
        let wl = policy_statement(PrincipalKind::Workload, "use vnics", "c");
        for clause in [
            "request.principal.type = 'workload'",
            "request.principal.namespace = '<controller-namespace>'",
            "request.principal.service_account = '<controller-service-account>'",
            "request.principal.cluster_id = '<cluster-ocid>'",
        ] {
            assert!(wl.contains(clause), "{wl}");
        }
    }

    #[test]
    fn credentials_debug_hides_tokens_and_keys() {
        let key = crate::keys::parse_private_key_pem(
            include_str!("../../tests/fixtures/oci_doc_key.pem"),
            None,
        )
        .unwrap();
        let c = Credentials {
            key_id: "ST$eyJsecret".into(),
            key: Arc::new(key),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("eyJsecret"));
        assert!(s.contains("<redacted>"));
    }
}
