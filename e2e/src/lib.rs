//! pgvip's local OKE-like testbed and end-to-end harness.
//!
//! `testbed up` builds (or reuses) the real binaries, creates the network namespaces and the
//! fabric bridge, starts etcd + kube-apiserver with TLS and RBAC, registers worker Nodes and
//! member Pods, starts a supervisor (`testbed serve`: loopback forwarders into the namespaces,
//! node heartbeats, the OCI simulator) and the Patroni cluster, then writes the env file.
//! `testbed down` stops everything it recorded, kills whatever still runs in its namespaces,
//! deletes them and the state directory; it works after a crashed or killed run too.
#![forbid(unsafe_code)]

pub mod app;
pub mod aws_identity;
pub mod bench;
pub mod cloud;
pub mod cluster;
pub mod cmd;
pub mod control_plane;
pub mod dcs;
pub mod drill;
pub mod envfile;
pub mod error;
pub mod fwd;
pub mod holders;
pub mod layout;
pub mod netns;
pub mod patroni;
pub mod pgvip;
pub mod pki;
pub mod scenario;
pub mod scenarios;
pub mod serve;
pub mod sim_fault;
pub mod testbed;

pub use error::{Error, Result};
pub use layout::Layout;
pub use testbed::{Testbed, UpOptions};
