//! Call logs: one record per request a listener answered (or dropped), in order. The
//! storage ([`Journal`]) is shared by the fronts; each front has its own record type.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::faults::Operation;

/// One call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The operation (OCI operation name).
    pub operation: Operation,
    /// Authenticated principal (user, instance OCID or workload), if any.
    pub principal: Option<String>,
    /// HTTP status; 0 when the connection was dropped or held without an answer.
    pub status: u16,
    /// OCI error code for errors.
    pub code: Option<String>,
    /// The `opc-request-id` answered.
    pub opc_request_id: String,
    /// When the request arrived, RFC 3339 with milliseconds.
    pub timestamp: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Whether a fault injection or the rate limit produced this answer.
    pub injected: bool,
}

/// A shared, append-only (until cleared) list of records of any front (cheap to clone).
#[derive(Debug)]
pub struct Journal<T> {
    inner: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for Journal<T> {
    fn clone(&self) -> Self {
        Journal {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Journal<T> {
    fn default() -> Self {
        Journal {
            inner: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<T: Clone> Journal<T> {
    /// Appends a record.
    pub fn push(&self, r: T) {
        self.lock().push(r);
    }
    /// A copy of every record so far.
    pub fn records(&self) -> Vec<T> {
        self.lock().clone()
    }
    /// Forgets everything.
    pub fn clear(&self) {
        self.lock().clear();
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The OCI front's call log.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    inner: Journal<CallRecord>,
}

impl CallLog {
    /// Appends a record.
    pub fn push(&self, r: CallRecord) {
        self.inner.push(r);
    }
    /// A copy of every record so far.
    pub fn records(&self) -> Vec<CallRecord> {
        self.inner.records()
    }
    /// Records of one operation.
    pub fn of(&self, op: Operation) -> Vec<CallRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.operation == op)
            .collect()
    }
    /// Forgets everything.
    pub fn clear(&self) {
        self.inner.clear();
    }
}
