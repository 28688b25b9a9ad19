//! The command line, shaped like kubectl's: the connection flags (`--kubeconfig`, `--context`,
//! `-n`, `-A`) are global, so they go before or after the subcommand.
//!
//! Data flow: `clap` parses argv into [`Cli`]; [`crate::run`] dispatches on [`Command`].

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `kubectl pgvip`: where each PostgreSQL VIP is, and why one is not Ready.
#[derive(Debug, Parser)]
#[command(name = "kubectl-pgvip", bin_name = "kubectl pgvip", version)]
pub struct Cli {
    /// How to reach the cluster.
    #[command(flatten)]
    pub conn: Connection,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's connection flags. Without `--kubeconfig`, the KUBECONFIG variable (a list of files,
/// merged) or `~/.kube/config` is read, then the in-cluster service account.
#[derive(Debug, Args, Clone, Default)]
pub struct Connection {
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace; default: the context's namespace, else `default`.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// List PostgresVips in every namespace (`status` without a name).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A table of PostgresVips; with NAME, every condition, the last failover and its phases.
    Status {
        /// One PostgresVip for the detailed view.
        name: Option<String>,
        /// Print the objects as the apiserver has them instead.
        #[arg(short = 'o', long, value_enum)]
        output: Option<Output>,
    },
    /// Each condition of NAME that is not True, its reason and message, and the fix from the
    /// troubleshooting guide. Exits 0 when all are True, 1 otherwise.
    Why {
        /// The PostgresVip.
        name: String,
    },
    /// Reserved for failover drills, which this version does not have (exits 2).
    Drill {
        /// The PostgresVip.
        name: String,
    },
}

/// Raw output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// JSON, as `kubectl get -o json`.
    Json,
    /// YAML, as `kubectl get -o yaml`.
    Yaml,
}
