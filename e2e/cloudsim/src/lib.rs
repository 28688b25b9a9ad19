//! Faithful simulators of the cloud control planes pgvip uses, one front per cloud, over
//! one fabric that delivers a secondary private IP's traffic only to the network interface
//! the control plane says holds it.
//!
//! OCI front (the crate root's modules, kept in place): an [`Inventory`] (JSON) seeds the
//! in-memory [`state`]. HTTPS listeners ([`server`]) authenticate each request ([`auth`],
//! request signatures per OCI's spec), apply fault injection ([`faults`]), run the
//! operation against the state, log the call ([`calllog`]) and answer in OCI's JSON.
//! [`Sim::start`] wires it and returns a [`SimHandle`].
//!
//! AWS front ([`aws`]): the EC2 Query API with SigV4, IMDSv2 and its own fault injection;
//! [`aws::AwsSim::start`] returns an [`aws::AwsSimHandle`].
//!
//! Shared, front-agnostic: the HTTP plumbing ([`http`]), the [`fabric`] (an nftables
//! `bridge` table in the fabric network namespace, fed by [`fabric::Feed`] after a
//! propagation delay with every change of an address's holder), CIDR rules ([`cidr`]),
//! the token bucket ([`ratelimit`]), the fault-rule engine ([`faults::rules`]), the call
//! log storage ([`calllog::Journal`]) and the PKI ([`pki`]).
//!
//! Where a cloud's behaviour is not documented the code says `GUESS:` next to what it does.
#![forbid(unsafe_code)]

pub mod api_error;
pub mod auth;
pub mod aws;
pub mod calllog;
pub mod cidr;
pub mod fabric;
pub mod faults;
pub mod http;
pub mod inventory;
pub mod jwt;
pub mod keys;
pub mod model;
pub mod pki;
pub mod ratelimit;
pub mod server;
pub mod signature;
mod sim;
pub mod state;

pub use api_error::ApiError;
pub use calllog::{CallLog, CallRecord};
pub use fabric::{FabricConfig, FabricMode};
pub use faults::{Failure, FaultCommand, Faults, Operation};
pub use inventory::Inventory;
pub use ratelimit::RateLimit;
pub use sim::{Sim, SimConfig, SimHandle, SimUrls};

/// Errors of the simulator itself (start-up, configuration, fabric programming). API errors
/// returned to clients are [`ApiError`] values, not this type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The inventory is inconsistent (unknown subnet, bad CIDR, wrong fingerprint...).
    #[error("invalid inventory: {0}")]
    Inventory(String),
    /// Key or certificate generation/parsing failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(String),
    /// Binding a listener or writing a file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// `nft` rejected the ruleset or could not be run.
    #[error("fabric: {0}")]
    Fabric(String),
}

impl Error {
    /// A fixed, low-cardinality name for the error kind.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Inventory(_) => "inventory",
            Error::Crypto(_) => "crypto",
            Error::Tls(_) => "tls",
            Error::Io(_) => "io",
            Error::Fabric(_) => "fabric",
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
