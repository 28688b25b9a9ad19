//! Temporary credentials that STS (`AssumeRoleWithWebIdentity`) and EKS Pod Identity hand
//! out: a fresh `ASIA…` key, secret and session token per call, each standing for an assumed
//! role until it expires.
//!
//! Flow: a credential endpoint decides who may assume which role and calls
//! [`SessionStore::issue`]; the EC2 front's SigV4 lookup asks [`SessionStore::principal`],
//! which answers the session as an [`IamPrincipal`] (the role's name and permissions, the
//! session's key and token), so EC2 authorizes it exactly like any other principal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::federation::IamRole;
use super::inventory::IamPrincipal;
use crate::server::ctx::lock;

/// Which endpoint issued a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionSource {
    /// STS `AssumeRoleWithWebIdentity` (IRSA).
    WebIdentity,
    /// The EKS Pod Identity agent.
    PodIdentity,
}

/// Credentials as a credential endpoint answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token (required with the key).
    pub session_token: String,
    /// Expiry.
    pub expiration: SystemTime,
}

#[derive(Debug, Clone)]
struct Session {
    principal: IamPrincipal,
    expires: SystemTime,
    source: SessionSource,
}

/// Live sessions by access key id.
#[derive(Debug, Default)]
pub struct SessionStore {
    by_key: Mutex<HashMap<String, Session>>,
}

/// `n` random characters of `alphabet`.
fn random_string(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl SessionStore {
    /// Issues credentials for `role` valid for `ttl` from `now` (expired sessions are
    /// forgotten on the way).
    pub fn issue(
        &self,
        role: &IamRole,
        source: SessionSource,
        ttl: Duration,
        now: SystemTime,
    ) -> IssuedCredentials {
        let creds = IssuedCredentials {
            access_key_id: format!("ASIA{}", random_string(KEY_ALPHABET, 16)),
            secret_access_key: random_string(SECRET_ALPHABET, 40),
            session_token: random_string(SECRET_ALPHABET, 356),
            expiration: now + ttl,
        };
        let principal = IamPrincipal {
            name: role.name.clone(),
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.clone(),
            session_token: Some(creds.session_token.clone()),
            allowed_actions: role.allowed_actions.clone(),
        };
        let mut map = lock(&self.by_key);
        map.retain(|_, s| s.expires > now);
        map.insert(
            creds.access_key_id.clone(),
            Session {
                principal,
                expires: creds.expiration,
                source,
            },
        );
        creds
    }

    /// The assumed role behind a live session key, and who issued it.
    /// GUESS: EC2 treats an expired session key like an unknown one (`AuthFailure`).
    pub fn principal(
        &self,
        access_key_id: &str,
        now: SystemTime,
    ) -> Option<(IamPrincipal, SessionSource)> {
        lock(&self.by_key)
            .get(access_key_id)
            .filter(|s| s.expires > now)
            .map(|s| (s.principal.clone(), s.source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_stand_for_the_role_until_they_expire() {
        let store = SessionStore::default();
        let role = IamRole::new("r", &["ec2:Describe*"]);
        let now = SystemTime::now();
        let a = store.issue(
            &role,
            SessionSource::WebIdentity,
            Duration::from_secs(900),
            now,
        );
        let b = store.issue(
            &role,
            SessionSource::PodIdentity,
            Duration::from_secs(60),
            now,
        );
        assert_ne!(a.access_key_id, b.access_key_id);
        assert!(a.access_key_id.starts_with("ASIA") && a.access_key_id.len() == 20);
        assert_eq!(a.secret_access_key.len(), 40);
        let (p, src) = store.principal(&a.access_key_id, now).unwrap();
        assert_eq!((p.name.as_str(), src), ("r", SessionSource::WebIdentity));
        assert_eq!(p.session_token.as_deref(), Some(a.session_token.as_str()));
        assert_eq!(p.allowed_actions, ["ec2:Describe*"]);
        let later = now + Duration::from_secs(61);
        assert!(store.principal(&b.access_key_id, later).is_none());
        assert!(store.principal(&a.access_key_id, later).is_some());
        assert!(store.principal("ASIAUNKNOWN", now).is_none());
    }
}
