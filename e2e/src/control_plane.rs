//! etcd and kube-apiserver as detached processes on loopback, with TLS, RBAC and service-account
//! token signing; plus kubeconfig files (admin by client certificate, service accounts by token).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    cmd::{spawn_detached, stop_pidfile},
    error::{Context, Error, Result},
    layout::Layout,
};

/// Starts etcd and waits until it answers `/health`.
pub async fn start_etcd(layout: &Layout, bin: &Path) -> Result<()> {
    let data = layout.path("etcd");
    fs::create_dir_all(&data).ctx("creating etcd data dir")?;
    let client = format!("http://127.0.0.1:{}", layout.etcd_port);
    let peer = format!("http://127.0.0.1:{}", layout.etcd_peer_port);
    let mut cmd = Command::new(bin.join("etcd"));
    cmd.args(["--name", "testbed", "--data-dir"])
        .arg(&data)
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args([
            "--initial-cluster",
            &format!("testbed={peer}"),
            "--log-level",
            "warn",
        ])
        .args(["--quota-backend-bytes", "1073741824", "--unsafe-no-fsync"]);
    spawn_detached(
        &mut cmd,
        &layout.path("etcd.pid"),
        &layout.path("logs/etcd.log"),
    )?;
    let url = format!("{client}/health");
    wait_http(&url, None, Duration::from_secs(30), "etcd /health").await
}

/// Starts kube-apiserver against the testbed's etcd and waits until `/readyz` is 200.
pub async fn start_apiserver(layout: &Layout, bin: &Path) -> Result<()> {
    let pki = layout.path("pki");
    let p = |f: &str| pki.join(f).to_string_lossy().into_owned();
    let mut cmd = Command::new(bin.join("kube-apiserver"));
    cmd.args([
        "--etcd-servers",
        &format!("http://127.0.0.1:{}", layout.etcd_port),
    ])
    .args([
        "--bind-address",
        "127.0.0.1",
        "--secure-port",
        &layout.apiserver_port.to_string(),
    ])
    .args([
        "--advertise-address",
        "10.96.0.1",
        "--endpoint-reconciler-type",
        "none",
    ])
    .args([
        "--tls-cert-file",
        &p("apiserver.crt"),
        "--tls-private-key-file",
        &p("apiserver.key"),
    ])
    .args(["--client-ca-file", &p("ca.crt")])
    .args([
        "--service-account-issuer",
        crate::aws_identity::SERVICE_ACCOUNT_ISSUER,
    ])
    .args([
        "--service-account-key-file",
        &p("sa.pub"),
        "--service-account-signing-key-file",
        &p("sa.key"),
    ])
    .args([
        "--api-audiences",
        "https://kubernetes.default.svc.cluster.local",
    ])
    .args([
        "--authorization-mode",
        "Node,RBAC",
        "--service-cluster-ip-range",
        "10.96.0.0/16",
    ])
    .args(["--disable-admission-plugins", "ServiceAccount"])
    .args([
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v",
        "1",
    ]);
    spawn_detached(
        &mut cmd,
        &layout.path("apiserver.pid"),
        &layout.path("logs/kube-apiserver.log"),
    )?;
    let url = format!("https://127.0.0.1:{}/readyz", layout.apiserver_port);
    wait_http(
        &url,
        Some(&pki),
        Duration::from_secs(90),
        "kube-apiserver /readyz",
    )
    .await
}

/// Stops the apiserver, then etcd.
pub fn stop(layout: &Layout) -> Result<()> {
    stop_pidfile(&layout.path("apiserver.pid"), Duration::from_secs(5))?;
    stop_pidfile(&layout.path("etcd.pid"), Duration::from_secs(5))
}

async fn wait_http(url: &str, pki: Option<&Path>, limit: Duration, what: &str) -> Result<()> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(2));
    if let Some(pki) = pki {
        let ca = fs::read(pki.join("ca.crt")).ctx("reading CA")?;
        let id_pem = [
            fs::read(pki.join("admin.crt")).ctx("reading admin cert")?,
            fs::read(pki.join("admin.key")).ctx("reading admin key")?,
        ]
        .concat();
        let ca =
            reqwest::Certificate::from_pem(&ca).map_err(|e| Error::Other(format!("CA: {e}")))?;
        let id = reqwest::Identity::from_pem(&id_pem)
            .map_err(|e| Error::Other(format!("admin identity: {e}")))?;
        b = b.add_root_certificate(ca).identity(id);
    }
    let client = b
        .build()
        .map_err(|e| Error::Other(format!("http client: {e}")))?;
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(Error::Timeout {
        what: what.to_string(),
        secs: limit.as_secs(),
    })
}

/// How a kubeconfig authenticates.
pub enum Credential<'a> {
    /// Client certificate and key files.
    Cert {
        /// Certificate path.
        cert: &'a Path,
        /// Key path.
        key: &'a Path,
    },
    /// Bearer token.
    Token(&'a str),
}

/// Writes a kubeconfig for `server` trusting the testbed CA, with the given credential.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    user: &str,
    cred: Credential,
) -> Result<PathBuf> {
    let user_entry = match cred {
        Credential::Cert { cert, key } => {
            serde_json::json!({"client-certificate": cert, "client-key": key})
        }
        Credential::Token(t) => serde_json::json!({"token": t}),
    };
    let cfg = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "testbed",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
    });
    let text = serde_yaml::to_string(&cfg).map_err(|e| Error::Other(format!("kubeconfig: {e}")))?;
    fs::write(path, text).ctx(format!("writing {}", path.display()))?;
    Ok(path.to_path_buf())
}
