//! Session-token cache with single-flight refresh, shared by instance principals and workload
//! identity.
//!
//! Data flow: callers ask [`SessionCache::get`]; a fresh session is returned from the read
//! lock; a due one is refreshed by exactly one caller holding the refresh mutex while the others
//! wait and then reuse its result. If a refresh fails while the old token has not yet expired,
//! the old one is still served (and the failure logged) so a brief federation outage does not
//! stop failovers.

use futures::future::BoxFuture;
use std::time::{Duration, SystemTime};
use tokio::sync::{Mutex, RwLock};

use super::Credentials;
use crate::error::OciError;

/// A session obtained from a token exchange.
#[derive(Debug, Clone)]
pub struct Session {
    /// `ST$<token>` and the session private key.
    pub creds: Credentials,
    /// When to refresh.
    pub refresh_at: SystemTime,
    /// When the token stops working.
    pub expires_at: SystemTime,
}

impl Session {
    /// The session of a freshly issued security token signed for with `session_key`:
    /// key id `ST$<token>`, refresh and expiry from the token's own claims.
    pub fn from_token(token: &str, session_key: rsa::RsaPrivateKey) -> Result<Session, OciError> {
        let times = super::jwt::parse_times(token)?;
        Ok(Session {
            creds: Credentials {
                key_id: format!("ST${token}"),
                key: std::sync::Arc::new(session_key),
            },
            refresh_at: super::jwt::refresh_at(times),
            expires_at: super::jwt::expires_at(times),
        })
    }
}

/// Performs one token exchange.
pub trait SessionSource: Send + Sync {
    /// Fetches a new session.
    fn fetch(&self) -> BoxFuture<'_, Result<Session, OciError>>;
    /// The kind of principal the sessions belong to, for policy hints.
    fn principal(&self) -> super::PrincipalKind;
}

/// A [`super::KeyProvider`] serving sessions of `S` from a refreshing [`SessionCache`].
pub struct SessionProvider<S> {
    cache: SessionCache<S>,
    principal: super::PrincipalKind,
}

impl<S: SessionSource> SessionProvider<S> {
    /// Wraps a source in a refreshing cache.
    pub fn new(source: S) -> Self {
        let principal = source.principal();
        SessionProvider {
            cache: SessionCache::new(source),
            principal,
        }
    }
}

impl<S: SessionSource> super::KeyProvider for SessionProvider<S> {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, OciError>> {
        Box::pin(self.cache.get())
    }
    fn invalidate(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.cache.invalidate())
    }
    fn principal(&self) -> super::PrincipalKind {
        self.principal
    }
}

/// Margin before `expires_at` under which a stale session is no longer served.
const EXPIRY_SAFETY: Duration = Duration::from_secs(30);

/// What to do with the cached session at `now` (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// Serve it.
    Fresh,
    /// Refresh; the old one may be served if the refresh fails.
    DueButUsable,
    /// Refresh; nothing usable.
    Unusable,
}

/// Classifies a cached session at `now`.
pub fn cache_state(session: Option<&Session>, now: SystemTime) -> CacheState {
    match session {
        None => CacheState::Unusable,
        Some(s) if now < s.refresh_at => CacheState::Fresh,
        Some(s) if now + EXPIRY_SAFETY < s.expires_at => CacheState::DueButUsable,
        Some(_) => CacheState::Unusable,
    }
}

/// The cache.
pub struct SessionCache<S> {
    source: S,
    current: RwLock<Option<Session>>,
    refresh: Mutex<()>,
}

impl<S: SessionSource> SessionCache<S> {
    /// Empty cache around `source`.
    pub fn new(source: S) -> Self {
        SessionCache {
            source,
            current: RwLock::new(None),
            refresh: Mutex::new(()),
        }
    }

    /// Current credentials, refreshing when due.
    pub async fn get(&self) -> Result<Credentials, OciError> {
        {
            let cur = self.current.read().await;
            if cache_state(cur.as_ref(), SystemTime::now()) == CacheState::Fresh {
                if let Some(s) = cur.as_ref() {
                    return Ok(s.creds.clone());
                }
            }
        }
        let _single_flight = self.refresh.lock().await;
        // Someone else may have refreshed while we waited.
        let old = self.current.read().await.clone();
        let state = cache_state(old.as_ref(), SystemTime::now());
        if state == CacheState::Fresh {
            if let Some(s) = old {
                return Ok(s.creds);
            }
        }
        match self.source.fetch().await {
            Ok(s) => {
                tracing::info!(
                    expires_in_s = s
                        .expires_at
                        .duration_since(SystemTime::now())
                        .unwrap_or_default()
                        .as_secs(),
                    "obtained OCI session token"
                );
                let creds = s.creds.clone();
                *self.current.write().await = Some(s);
                Ok(creds)
            }
            Err(e) => match (state, old) {
                (CacheState::DueButUsable, Some(s)) => {
                    tracing::warn!(error = %e, category = e.category(), "session token refresh failed; using the current token until it expires");
                    Ok(s.creds)
                }
                _ => Err(e),
            },
        }
    }

    /// Drops the cached session.
    pub async fn invalidate(&self) {
        *self.current.write().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn creds(id: &str) -> Credentials {
        let key = crate::keys::parse_private_key_pem(
            include_str!("../../tests/fixtures/oci_doc_key.pem"),
            None,
        )
        .unwrap();
        Credentials {
            key_id: id.into(),
            key: Arc::new(key),
        }
    }

    #[test]
    fn state_table() {
        let now = SystemTime::now();
        let s = |refresh: i64, expire: i64| Session {
            creds: creds("ST$x"),
            refresh_at: shift(now, refresh),
            expires_at: shift(now, expire),
        };
        assert_eq!(cache_state(None, now), CacheState::Unusable);
        assert_eq!(cache_state(Some(&s(10, 100)), now), CacheState::Fresh);
        assert_eq!(
            cache_state(Some(&s(-10, 100)), now),
            CacheState::DueButUsable
        );
        assert_eq!(cache_state(Some(&s(-10, 20)), now), CacheState::Unusable);
        assert_eq!(cache_state(Some(&s(-100, -10)), now), CacheState::Unusable);
    }

    fn shift(t: SystemTime, secs: i64) -> SystemTime {
        if secs >= 0 {
            t + Duration::from_secs(secs as u64)
        } else {
            t - Duration::from_secs((-secs) as u64)
        }
    }

    struct Counting {
        calls: AtomicUsize,
        fail: bool,
        refresh_in: i64,
        expire_in: i64,
    }

    impl SessionSource for Counting {
        fn principal(&self) -> crate::auth::PrincipalKind {
            crate::auth::PrincipalKind::Instance
        }
        fn fetch(&self) -> BoxFuture<'_, Result<Session, OciError>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if self.fail {
                    return Err(OciError::auth("federation down"));
                }
                let now = SystemTime::now();
                Ok(Session {
                    creds: creds(&format!("ST$token{n}")),
                    refresh_at: shift(now, self.refresh_in),
                    expires_at: shift(now, self.expire_in),
                })
            })
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(SessionCache::new(Counting {
            calls: AtomicUsize::new(0),
            fail: false,
            refresh_in: 300,
            expire_in: 600,
        }));
        let mut handles = Vec::new();
        for _ in 0..16 {
            let c = cache.clone();
            handles.push(tokio::spawn(async move { c.get().await.unwrap().key_id }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), "ST$token0");
        }
        assert_eq!(cache.source.calls.load(Ordering::SeqCst), 1);
        cache.invalidate().await;
        assert_eq!(cache.get().await.unwrap().key_id, "ST$token1");
    }

    #[tokio::test]
    async fn due_session_is_refreshed_each_time_and_failure_is_reported() {
        // refresh_at already passed: every get refreshes.
        let cache = SessionCache::new(Counting {
            calls: AtomicUsize::new(0),
            fail: false,
            refresh_in: -1,
            expire_in: 600,
        });
        assert_eq!(cache.get().await.unwrap().key_id, "ST$token0");
        assert_eq!(cache.get().await.unwrap().key_id, "ST$token1");

        let failing = SessionCache::new(Counting {
            calls: AtomicUsize::new(0),
            fail: true,
            refresh_in: 0,
            expire_in: 0,
        });
        assert_eq!(failing.get().await.unwrap_err().category(), "auth");
    }

    #[tokio::test]
    async fn stale_but_valid_session_survives_a_failed_refresh() {
        let cache = SessionCache::new(Counting {
            calls: AtomicUsize::new(0),
            fail: true,
            refresh_in: 0,
            expire_in: 0,
        });
        let now = SystemTime::now();
        *cache.current.write().await = Some(Session {
            creds: creds("ST$old"),
            refresh_at: shift(now, -5),
            expires_at: shift(now, 300),
        });
        assert_eq!(cache.get().await.unwrap().key_id, "ST$old");
        assert_eq!(cache.source.calls.load(Ordering::SeqCst), 1);
    }
}
