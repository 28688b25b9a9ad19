//! API-key provider: `tenancy/user/fingerprint` plus a PEM key read from a file.
//!
//! Data flow: the key is loaded at construction (bad keys fail fast). On use, at most once per
//! [`RECHECK_EVERY`], the file's (mtime, length) are compared with the last load; when they
//! differ the file is re-read, and re-parsed if its content changed. A mounted Kubernetes
//! Secret updated in place is therefore picked up without a restart. A replacement that does
//! not parse is logged and the previous key kept.

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Mutex;

use super::{Credentials, KeyProvider, PrincipalKind};
use crate::error::OciError;
use crate::keys::{api_key_fingerprint, parse_private_key_pem};

/// Minimum interval between two stat() checks of the key file.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
}

struct Loaded {
    creds: Credentials,
    stamp: Stamp,
    content_hash: [u8; 32],
    checked: Instant,
}

/// The provider.
pub struct ApiKeyProvider {
    key_id: String,
    fingerprint: String,
    key_path: PathBuf,
    passphrase_path: Option<PathBuf>,
    state: Mutex<Loaded>,
}

impl ApiKeyProvider {
    /// Loads the key now; errors are `auth` errors naming the file.
    pub async fn new(
        tenancy: &str,
        user: &str,
        fingerprint: &str,
        key_path: PathBuf,
        passphrase_path: Option<PathBuf>,
    ) -> Result<Self, OciError> {
        let key_id = format!("{tenancy}/{user}/{fingerprint}");
        let (creds, stamp, content_hash) =
            load(&key_id, fingerprint, &key_path, passphrase_path.as_deref()).await?;
        Ok(ApiKeyProvider {
            key_id,
            fingerprint: fingerprint.to_string(),
            key_path,
            passphrase_path,
            state: Mutex::new(Loaded {
                creds,
                stamp,
                content_hash,
                checked: Instant::now(),
            }),
        })
    }

    async fn current(&self) -> Result<Credentials, OciError> {
        let mut st = self.state.lock().await;
        if st.checked.elapsed() < RECHECK_EVERY {
            return Ok(st.creds.clone());
        }
        st.checked = Instant::now();
        let stamp = match stat(&self.key_path).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(path = %self.key_path.display(), error = %e, "API key file unreadable; keeping the loaded key");
                return Ok(st.creds.clone());
            }
        };
        if stamp == st.stamp {
            return Ok(st.creds.clone());
        }
        let pem = match tokio::fs::read(&self.key_path).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(path = %self.key_path.display(), error = %e, "API key file unreadable; keeping the loaded key");
                return Ok(st.creds.clone());
            }
        };
        let hash: [u8; 32] = Sha256::digest(&pem).into();
        st.stamp = stamp;
        if hash == st.content_hash {
            return Ok(st.creds.clone());
        }
        match parse(
            &self.key_id,
            &self.fingerprint,
            &pem,
            self.passphrase_path.as_deref(),
        )
        .await
        {
            Ok(creds) => {
                tracing::info!(path = %self.key_path.display(), "API key file changed; reloaded");
                st.creds = creds;
                st.content_hash = hash;
            }
            Err(e) => {
                tracing::warn!(path = %self.key_path.display(), error = %e, "API key file changed but cannot be used; keeping the previous key");
            }
        }
        Ok(st.creds.clone())
    }
}

impl KeyProvider for ApiKeyProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, OciError>> {
        Box::pin(self.current())
    }

    fn invalidate(&self) -> BoxFuture<'_, ()> {
        // Force a file check on the next use.
        Box::pin(async move {
            let mut st = self.state.lock().await;
            st.checked = Instant::now() - RECHECK_EVERY;
            st.stamp.len = u64::MAX;
        })
    }

    fn principal(&self) -> PrincipalKind {
        PrincipalKind::User
    }
}

async fn stat(path: &Path) -> std::io::Result<Stamp> {
    let md = tokio::fs::metadata(path).await?;
    Ok(Stamp {
        mtime: md.modified().ok(),
        len: md.len(),
    })
}

async fn load(
    key_id: &str,
    fingerprint: &str,
    path: &Path,
    passphrase_path: Option<&Path>,
) -> Result<(Credentials, Stamp, [u8; 32]), OciError> {
    let stamp = stat(path)
        .await
        .map_err(|e| OciError::auth(format!("cannot read API key file {}: {e}", path.display())))?;
    let pem = tokio::fs::read(path)
        .await
        .map_err(|e| OciError::auth(format!("cannot read API key file {}: {e}", path.display())))?;
    let hash: [u8; 32] = Sha256::digest(&pem).into();
    let creds = parse(key_id, fingerprint, &pem, passphrase_path).await?;
    Ok((creds, stamp, hash))
}

async fn parse(
    key_id: &str,
    fingerprint: &str,
    pem: &[u8],
    passphrase_path: Option<&Path>,
) -> Result<Credentials, OciError> {
    let pass = match passphrase_path {
        Some(p) => {
            let raw = tokio::fs::read(p).await.map_err(|e| {
                OciError::auth(format!("cannot read passphrase file {}: {e}", p.display()))
            })?;
            let s = String::from_utf8_lossy(&raw);
            Some(s.trim_end_matches(['\r', '\n']).as_bytes().to_vec())
        }
        None => None,
    };
    let text = String::from_utf8_lossy(pem);
    let key = parse_private_key_pem(&text, pass.as_deref())?;
    if let Ok(actual) = api_key_fingerprint(&key) {
        if !actual.eq_ignore_ascii_case(fingerprint) {
            tracing::warn!(
                configured = fingerprint,
                actual = %actual,
                "the configured API key fingerprint does not match the key file; OCI will answer 401"
            );
        }
    }
    Ok(Credentials {
        key_id: key_id.to_string(),
        key: Arc::new(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1: &str = include_str!("../../tests/fixtures/oci_doc_key.pem");
    const SESSION: &str = include_str!("../../tests/fixtures/session_key_2048.pem");
    const ENC: &str = include_str!("../../tests/fixtures/oci_doc_key_pkcs8_enc.pem");

    #[tokio::test]
    async fn loads_and_reloads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, PKCS1).unwrap();
        let p = ApiKeyProvider::new("t", "u", "f", path.clone(), None)
            .await
            .unwrap();
        let first = p.credentials().await.unwrap();
        assert_eq!(first.key_id, "t/u/f");

        // Replace the file (as a Secret update does) and let the recheck interval pass.
        std::fs::write(&path, SESSION).unwrap();
        tokio::time::sleep(RECHECK_EVERY + Duration::from_millis(50)).await;
        let second = p.credentials().await.unwrap();
        assert_ne!(first.key, second.key);

        // A broken replacement keeps the previous key.
        std::fs::write(&path, "garbage").unwrap();
        tokio::time::sleep(RECHECK_EVERY + Duration::from_millis(50)).await;
        let third = p.credentials().await.unwrap();
        assert_eq!(second.key, third.key);
    }

    #[tokio::test]
    async fn passphrase_file_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let pass = dir.path().join("pass");
        std::fs::write(&key, ENC).unwrap();
        std::fs::write(&pass, "s3cret\n").unwrap();
        ApiKeyProvider::new("t", "u", "f", key.clone(), Some(pass))
            .await
            .unwrap();

        let err = ApiKeyProvider::new("t", "u", "f", key, None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.category(), "auth");
        let err = ApiKeyProvider::new("t", "u", "f", dir.path().join("missing"), None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.category(), "auth");
        assert!(err.to_string().contains("missing"));
    }
}
