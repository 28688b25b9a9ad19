//! pgvip controller: keeps each `PostgresVip` pointed at its cluster's confirmed member.
//!
//! Data flow: watches ([`watch`]) fill reflector stores and trigger [`reconcile`]; a reconcile
//! gathers the cluster's view from the stores and the members' REST answers ([`probe`]), turns it
//! into a decision with the pure [`decide`] module, publishes it in status ([`status`],
//! [`conditions`]), moves the cloud assignment through a [`cloud::CloudProvider`], waits for the
//! node-agent's report and verifies the data path. Only the holder of the [`lease`] runs it.
//! Failover drills ([`drill`]) rehearse a switchover and measure it through the VIP.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod cleanup;
pub mod cloud;
pub mod conditions;
pub mod config;
pub mod context;
pub mod decide;
pub mod drill;
pub mod failover;
pub mod gather;
pub mod http;
pub mod lease;
pub mod lock;
pub mod metrics;
pub mod ownership;
pub mod patroni;
pub mod pgwire;
pub mod probe;
pub mod readiness;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod telemetry;
pub mod watch;

pub use cloud::{CloudAssignment, CloudError, CloudProvider};

/// The finalizer pgvip puts on every PostgresVip so that deletion clears `desiredNode` and
/// releases a private IP pgvip created.
pub const FINALIZER: &str = "pgvip.dev/cleanup";

/// Everything a reconcile can fail with. [`Error::category`] is the fixed label used in metrics
/// and logs; the free text never becomes a label.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[source] Box<kube::Error>),

    /// Adding or removing the finalizer, or the wrapped apply/cleanup, failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// The cloud provider failed to move, read or release the address.
    #[error("cloud: {0}")]
    Cloud(#[from] CloudError),

    /// The PostgresVip spec cannot be acted on; the message says what to fix.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// The REST API CA Secret is missing or unusable.
    #[error("REST API CA: {0}")]
    RestCa(String),

    /// The reflector caches have not finished their initial list yet.
    #[error("watch caches are not synced yet")]
    CachesNotSynced,

    /// This replica no longer holds the leader-election Lease; it must not write.
    #[error("not the elected controller replica")]
    NotLeader,

    /// A status body could not be serialized.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}

impl Error {
    /// Fixed, low-cardinality name of the error kind, for metrics labels and Events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "finalizer",
            },
            Error::Cloud(e) => e.category,
            Error::InvalidSpec(_) => "invalid_spec",
            Error::RestCa(_) => "rest_ca",
            Error::NotLeader => "not_leader",
            Error::CachesNotSynced => "caches_not_synced",
            Error::Serialization(_) => "serialization",
        }
    }
}

/// Crate result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
