//! `kubectl pgvip`: reads PostgresVips from the apiserver and says, in one screen, where each
//! address is and what to fix when it is not Ready.
//!
//! Data flow: [`cli`] parses the command line → [`cluster`] builds a client the way kubectl
//! does (KUBECONFIG, `--kubeconfig`, `--context`, namespace) and fetches the objects → the pure
//! renderers turn them into text: [`table`] (the status table and the detailed view), [`why`]
//! (each condition that is not True, with the fix from the troubleshooting guide that [`doc`]
//! parses) → [`run`] writes the text and picks the exit code. [`drill`] creates a
//! PostgresVipDrill and waits for its result.
#![forbid(unsafe_code)]

pub mod cli;
pub mod cluster;
pub mod doc;
pub mod drill;
pub mod run;
pub mod table;
pub mod why;

#[cfg(test)]
mod fixtures;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig named by `--kubeconfig` could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// What was wrong with it.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No client configuration: neither a kubeconfig (KUBECONFIG, ~/.kube/config) nor the
    /// in-cluster service account.
    #[error("no cluster configuration found: {0}")]
    NoConfig(#[from] kube::config::InferConfigError),
    /// The kubeconfig's (or `--context`'s) context could not be loaded.
    #[error("kubeconfig: {0}")]
    Context(#[from] kube::config::KubeconfigError),
    /// The HTTP client could not be built from the configuration.
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The PostgresVip does not exist.
    #[error("postgresvips.pgvip.dev \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        /// Namespace looked in.
        namespace: String,
        /// Name asked for.
        name: String,
    },
    /// The apiserver does not serve the PostgresVip API.
    #[error("the server does not serve postgresvips.pgvip.dev/v1alpha1: is the pgvip CRD installed (charts/pgvip/crds/)?")]
    CrdMissing,
    /// An apiserver call failed.
    #[error("{what}: {source}")]
    Api {
        /// The call, e.g. `listing PostgresVips in namespace db`.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// An object the apiserver returned is not a PostgresVip this version understands.
    #[error("PostgresVip {name} cannot be read: {source}")]
    Decode {
        /// `namespace/name`.
        name: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// `-o json` failed to encode.
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `-o yaml` failed to encode.
    #[error("encoding YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// A name together with `--all-namespaces`, which kubectl refuses too.
    #[error("a resource cannot be retrieved by name across all namespaces")]
    NameWithAllNamespaces,
    /// A drill did not finish in time.
    #[error("drill {name} is still {phase:?} after {}s; follow it with `kubectl get postgresvipdrill -n <namespace> -w`", waited.as_secs())]
    DrillTimeout {
        /// `namespace/name`.
        name: String,
        /// Its phase when the wait gave up.
        phase: pgvip_api::drill::DrillPhase,
        /// How long the plugin waited.
        waited: std::time::Duration,
    },
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The process exit code for this error: 2 for a drill whose result is not known yet, 1
    /// for everything else (as kubectl).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::DrillTimeout { .. } => 2,
            _ => 1,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
