//! `opc-retry-token` idempotency: the same token with the same request replays the first
//! successful answer; with a different request it is a 409.
//!
//! GUESS: OCI keeps tokens for 24 hours and answers a reused token with a different body
//! with 409 Conflict; the simulator keeps them for its lifetime. Only successful answers
//! are remembered, so a retry after a failure runs again.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::Resp;
use crate::api_error::ApiError;

/// Remembered answers by token.
#[derive(Debug, Default)]
pub struct RetryStore {
    entries: HashMap<String, ([u8; 32], Resp)>,
}

/// Hash of what makes two requests "the same": principal, method, path, body.
pub fn request_hash(principal: &str, method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        principal.as_bytes(),
        method.as_bytes(),
        path.as_bytes(),
        body,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

impl RetryStore {
    /// A remembered answer for `token`, or a 409 when it was used for another request.
    pub fn lookup(&self, token: &str, hash: &[u8; 32]) -> Option<Result<Resp, ApiError>> {
        self.entries.get(token).map(|(h, resp)| {
            if h == hash {
                Ok(resp.clone())
            } else {
                Err(ApiError::conflict(
                    "The opc-retry-token was already used for a different request.",
                ))
            }
        })
    }
    /// Remembers a successful answer.
    pub fn remember(&mut self, token: &str, hash: [u8; 32], resp: &Resp) {
        if (200..300).contains(&resp.status) {
            self.entries.insert(token.to_string(), (hash, resp.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_conflict_and_failures_not_remembered() {
        let mut s = RetryStore::default();
        let a = request_hash("u", "POST", "/x", b"{}");
        let b = request_hash("u", "POST", "/x", b"{\"a\":1}");
        assert!(s.lookup("t", &a).is_none());
        s.remember("t", a, &Resp::text(200, "first"));
        assert_eq!(s.lookup("t", &a).unwrap().unwrap().body, b"first");
        assert_eq!(s.lookup("t", &b).unwrap().unwrap_err().status, 409);
        s.remember("f", a, &Resp::text(500, "boom"));
        assert!(s.lookup("f", &a).is_none());
    }
}
