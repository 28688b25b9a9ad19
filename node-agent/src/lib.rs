//! pgvip node-agent: keeps a PostgresVip's address configured on exactly the node the
//! controller names in `status.desiredNode`, announces it after the cloud assignment, and
//! reports back in `status.nodes[node]`.
//!
//! Data flow: `watch` (kube watcher) and [`reserved`] (addresses Nodes and pods use) →
//! [`agent::Input`] channel → [`agent::Agent`] (pure
//! [`plan`] over a [`netlink`] snapshot, then netlink add/remove and [`announce`]) → report
//! channel → `report` (server-side apply on `/status`). [`hold`] decides, from timestamps
//! only, when an unreachable API server makes the agent drop everything it holds; [`local`]
//! asks the leader's Patroni on this node, so that while out of contact a VIP stays exactly as
//! long as its member is the primary.
#![deny(unsafe_code)]

pub mod agent;
pub mod announce;
pub mod config;
pub mod error;
pub mod fence;
pub mod frames;
pub mod heartbeat;
pub mod hold;
pub mod http;
pub mod local;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod netstate;
pub mod plan;
pub mod rawsock;
pub mod report;
pub mod reserved;
#[cfg(test)]
mod test_support;
pub mod watch;

pub use error::{Error, Result};
