//! `kubectl-pgvip`: parses the command line and runs it; `kubectl pgvip …` finds this binary
//! on PATH by its name.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use kubectl_pgvip::{cli::Cli, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
