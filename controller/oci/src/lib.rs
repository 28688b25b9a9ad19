//! pgvip-oci: a small, dependency-light OCI Core Services client for moving a secondary
//! private IP (the PostgreSQL VIP) between node VNICs.
//!
//! Data flow: [`OciClient::new`] builds an auth provider ([`auth`]) and a signed, rate-limited,
//! retried transport ([`transport`] over [`signer`], [`retry`], [`ratelimit`], [`http`]);
//! [`OciClient::ensure_assigned`] resolves the node's VNIC and decides ([`decision`], pure) whether
//! to do nothing, move (UpdatePrivateIp with if-match) or create the private IP ([`ops`]), then
//! reads the result back. Errors are one enum, [`OciError`], with a fixed `category()`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod config;
mod confirm;
pub mod decision;
mod ensure;
pub mod error;
pub mod hints;
pub mod http;
pub mod keys;
pub mod model;
pub mod ops;
/// The client-side rate limiter, shared with pgvip-aws (from pgvip-cloudkit).
pub use pgvip_cloudkit::ratelimit;
pub mod retry;
pub mod signer;
mod timed_cache;
pub mod transport;

pub use auth::{Credentials, KeyProvider, PrincipalKind};
pub use client::{Assignment, MoveRequest, OciClient};
pub use config::{AuthConfig, OciConfig};
pub use decision::parse_provider_id;
pub use error::OciError;
