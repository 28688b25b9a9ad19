//! Integration tests of the real `OciClient` against the project's OCI simulator
//! (`pgvip-cloudsim`) running in-process on 127.0.0.1: every auth mode and token refresh, each
//! error class, retries under injected faults, many concurrent moves under the simulator's
//! rate limit, confirmations from one subnet listing, the calls a move costs, and the update-permission
//! check.

mod auth;
mod confirm;
mod errors;
mod harness;
mod load;
mod moves;
mod permission_check;
mod retries;
