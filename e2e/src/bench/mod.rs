//! Benchmarks that print figures (never pass/fail timing tests), driven by the `bench` binary.
//!
//! `failover` compares app-visible write outages of pgvip, HAProxy and a Patroni callback on the
//! testbed; `scale` runs one controller against many PostgresVips and a leader-change storm;
//! `agent` measures the node-agent's idle footprint and its status-to-address latency; `chaos`
//! soaks the failover suite's nine disturbances, repeated and interleaved, counting runs that do
//! not converge, lost writes and double holders. Each part returns a serialisable report;
//! `report` writes the results file, the table and the plot.

pub mod agent;
pub mod chaos;
mod chaos_report;
pub mod failover;
pub mod report;
pub mod scale;
