//! The harness's error type: every failure carries what the harness was doing.

use std::process::ExitStatus;

/// Harness errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: ExitStatus,
        /// The end of its stderr.
        stderr: String,
    },
    /// A Kubernetes API call failed.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The client error.
        source: kube::Error,
    },
    /// Something did not happen in time.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        secs: u64,
    },
    /// Anything else, with a message for a person.
    #[error("{0}")]
    Other(String),
}

/// Result alias of the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to I/O and Kubernetes errors.
pub trait Context<T> {
    /// Wraps the error with what was being done.
    fn ctx(self, what: impl Into<String>) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what.into(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, kube::Error> {
    fn ctx(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Kube {
            context: what.into(),
            source,
        })
    }
}
