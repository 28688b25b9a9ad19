//! pgvip-cloudkit: the cloud-independent pieces of pgvip's cloud API clients (`pgvip-oci`,
//! `pgvip-aws`).
//!
//! Data flow: a client's transport takes a token from its [`ratelimit::RateLimiter`] before each
//! HTTP attempt, and after a failed attempt its own retry classification decides whether to try
//! again, waiting [`backoff::backoff_delay`] (exponential, full jitter). No cloud-specific types
//! here.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod ratelimit;
