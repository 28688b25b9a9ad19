//! `pgvip-controller`: parses the configuration, sets up logging and runs the controller.
#![forbid(unsafe_code)]

use clap::Parser;
use pgvip_controller::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    pgvip_controller::telemetry::init(cfg.log_format);
    pgvip_controller::run::run(cfg).await
}
