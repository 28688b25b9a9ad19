//! Request authentication: signature checks (via [`crate::signature`]) plus resolution of
//! the `keyId` to a public key and a principal.
//!
//! Flow: [`verify_signed`] parses the header, enforces OCI's required headers, the date
//! skew and the body hash, asks a resolver for the key behind `keyId`, and checks the
//! signature. [`Registry::resolve_core`] is the resolver of the Core Services API: API
//! keys (`tenancy/user/fingerprint`) and session tokens (`ST$<jwt>`). Every failure is a
//! 401 NotAuthenticated to the client; the reason is only logged.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hyper::HeaderMap;
use rsa::RsaPublicKey;

use crate::inventory::{Inventory, Permissions};
use crate::jwt::TokenIssuer;
use crate::{keys, signature, Error};

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User OCID, instance OCID, or workload name.
    pub name: String,
    /// How it authenticated.
    pub kind: PrincipalKind,
}

/// Kinds of principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// API signing key.
    User,
    /// Instance principal session token.
    Instance,
    /// OKE workload-identity session token.
    Workload,
}

/// The parts of a request that authentication looks at.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query as sent.
    pub target: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// Body.
    pub body: &'a [u8],
    /// The simulator's clock.
    pub now: SystemTime,
    /// Allowed skew; `None` disables the check.
    pub max_skew: Option<Duration>,
    /// Whether `host` must be signed (not for the federation endpoint).
    pub need_host: bool,
}

/// Verifies the request signature; `resolve` maps a `keyId` to its key and principal.
pub fn verify_signed<F>(req: &SignedRequest<'_>, resolve: F) -> Result<Principal, String>
where
    F: FnOnce(&str) -> Result<(RsaPublicKey, Principal), String>,
{
    let header = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no authorization header")?;
    let params = signature::parse_authorization(header)?;
    signature::check_required(&params, req.method, req.need_host)?;
    if let Some(max) = req.max_skew {
        signature::check_skew(signature::request_date(req.headers)?, req.now, max)?;
    }
    if signature::has_body(req.method) {
        signature::check_body(req.headers, req.body)?;
    }
    let (key, principal) = resolve(&params.key_id)?;
    let s = signature::signing_string(req.method, req.target, req.headers, &params.headers)?;
    if !signature::verify(&key, &s, &params.signature) {
        return Err("signature does not verify".into());
    }
    Ok(principal)
}

/// Known principals and their keys.
pub struct Registry {
    tenancy_id: String,
    users: HashMap<String, (String, RsaPublicKey)>,
    permissions: HashMap<String, Permissions>,
    /// Signs and checks session tokens.
    pub issuer: TokenIssuer,
}

impl Registry {
    /// Builds the registry; fails when a user's fingerprint does not match its key.
    pub fn new(inv: &Inventory, issuer: TokenIssuer) -> Result<Registry, Error> {
        let mut users = HashMap::new();
        let mut permissions = HashMap::new();
        for u in &inv.users {
            let key = keys::public_key_from_pem(&u.public_key_pem)?;
            let fp = keys::api_key_fingerprint(&key)?;
            if !fp.eq_ignore_ascii_case(u.fingerprint.trim()) {
                return Err(Error::Inventory(format!(
                    "user {}: fingerprint {} does not match its key ({fp})",
                    u.user_id, u.fingerprint
                )));
            }
            users.insert(u.user_id.clone(), (fp, key));
            permissions.insert(u.user_id.clone(), u.permissions);
        }
        for i in &inv.instances {
            permissions.insert(i.id.clone(), i.permissions);
        }
        for w in &inv.workload_tokens {
            permissions.insert(w.principal.clone(), w.permissions);
        }
        Ok(Registry {
            tenancy_id: inv.tenancy_id.clone(),
            users,
            permissions,
            issuer,
        })
    }

    /// The inventory permissions of a principal (none for unknown principals).
    pub fn base_permissions(&self, principal: &str) -> Permissions {
        self.permissions
            .get(principal)
            .copied()
            .unwrap_or(Permissions {
                read: false,
                update: false,
            })
    }

    /// Resolver for the Core Services API: API keys and `ST$` session tokens.
    pub fn resolve_core(
        &self,
        key_id: &str,
        now: SystemTime,
    ) -> Result<(RsaPublicKey, Principal), String> {
        if let Some(token) = key_id.strip_prefix("ST$") {
            let t = self.issuer.verify(token, now)?;
            let kind = if t.ptype == "instance" {
                PrincipalKind::Instance
            } else {
                PrincipalKind::Workload
            };
            return Ok((t.session_key, Principal { name: t.sub, kind }));
        }
        let mut parts = key_id.splitn(3, '/');
        let (Some(tenancy), Some(user), Some(fp)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("malformed keyId {key_id:?}"));
        };
        if tenancy != self.tenancy_id {
            return Err("unknown tenancy".into());
        }
        let (known_fp, key) = self.users.get(user).ok_or("unknown user")?;
        if !known_fp.eq_ignore_ascii_case(fp) {
            return Err("fingerprint does not match the user's key".into());
        }
        Ok((
            key.clone(),
            Principal {
                name: user.to_string(),
                kind: PrincipalKind::User,
            },
        ))
    }
}
