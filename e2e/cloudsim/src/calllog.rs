//! The call log: one record per request any listener answered (or dropped), in order.

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

/// Shared, append-only (until cleared) call log.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    inner: Arc<Mutex<Vec<CallRecord>>>,
}

impl CallLog {
    /// Appends a record.
    pub fn push(&self, r: CallRecord) {
        if let Ok(mut v) = self.inner.lock() {
            v.push(r);
        }
    }
    /// A copy of every record so far.
    pub fn records(&self) -> Vec<CallRecord> {
        self.inner.lock().map(|v| v.clone()).unwrap_or_default()
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
        if let Ok(mut v) = self.inner.lock() {
            v.clear();
        }
    }
}
