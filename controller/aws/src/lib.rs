//! pgvip-aws: a small Amazon EC2 client for moving a secondary private IPv4 address (the
//! PostgreSQL VIP) between node network interfaces.
//!
//! Data flow: [`Ec2Client::new`] resolves region and credentials with AWS's `aws-config` chains
//! ([`credentials`]) and builds a signed, rate-limited, retried transport ([`transport`] over
//! [`signer`] (SigV4 by `aws-sigv4`), [`retry`] and `pgvip-cloudkit`'s rate limiter) that
//! POSTs EC2 Query API bodies ([`query`]) and parses the XML answers ([`xml`]) into [`model`]
//! types. [`Ec2Client::ensure_assigned`] resolves the node's interface in the VIP's subnet,
//! finds who holds the address, decides ([`decision`], pure) whether to do nothing, refuse (a
//! primary address) or assign it with `AllowReassignment`, and confirms the asynchronous remap
//! by reading the interface back. Errors are one enum, [`AwsError`], with a fixed `category()`.
//!
//! IPv4 only for now: EC2 cannot reassign an IPv6 address between interfaces with
//! `AllowReassignment`, so an IPv6 VIP is [`AwsError::Ipv6Unsupported`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
pub mod client;
pub mod config;
pub mod credentials;
pub mod decision;
mod ensure;
pub mod error;
pub mod failure;
pub mod model;
mod ops;
pub mod query;
pub mod retry;
pub mod signer;
mod transport;
pub mod xml;

pub use client::{Assignment, Ec2Client, MoveRequest};
pub use config::{AwsConfig, CredentialsSource};
pub use decision::parse_provider_id;
pub use error::AwsError;
