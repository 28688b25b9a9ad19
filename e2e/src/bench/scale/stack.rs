//! A private control plane for one bench: etcd + kube-apiserver on the bench's own loopback
//! ports and state directory (never the testbed's, so no lock is needed), bootstrapped like the
//! testbed (namespaces, CRD, the chart's RBAC), with kubeconfigs for pgvip's service accounts.
//!
//! Data flow: [`Stack::up`] → processes recorded by pid files under the state dir →
//! [`Stack::down`] (also run on a failed `up`) stops them and deletes the state dir.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use kube::Client;
use tracing::info;

use crate::{
    cluster,
    cmd::stop_pidfile,
    control_plane::{self, Credential},
    error::{Context, Result},
    layout::Layout,
    pki, testbed,
};

/// Loopback ports of one stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// etcd client port.
    pub etcd: u16,
    /// etcd peer port.
    pub etcd_peer: u16,
    /// kube-apiserver secure port.
    pub apiserver: u16,
}

impl Ports {
    /// etcd, etcd peer and apiserver on `base`, `base + 1` and `base + 2`.
    pub fn from_base(base: u16) -> Self {
        Ports {
            etcd: base,
            etcd_peer: base + 1,
            apiserver: base + 2,
        }
    }
}

/// A running private control plane.
pub struct Stack {
    /// Layout whose state dir and ports this stack uses (names as in the testbed).
    pub layout: Layout,
    /// Directory of kubectl, etcd, kube-apiserver.
    pub bin: PathBuf,
    /// Admin client.
    pub client: Client,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
}

/// The testbed layout re-rooted at `state_dir` with the bench's ports.
pub fn layout(state_dir: &Path, ports: Ports) -> Layout {
    let mut l = Layout::standard(state_dir.to_path_buf());
    l.etcd_port = ports.etcd;
    l.etcd_peer_port = ports.etcd_peer;
    l.apiserver_port = ports.apiserver;
    l
}

impl Stack {
    /// Starts etcd and the apiserver, bootstraps them and returns an admin client. On error
    /// everything started so far is stopped and the state dir removed.
    pub async fn up(state_dir: &Path, ports: Ports) -> Result<Stack> {
        let layout = layout(state_dir, ports);
        teardown(&layout);
        match start(&layout).await {
            Ok(s) => Ok(s),
            Err(e) => {
                teardown(&layout);
                Err(e)
            }
        }
    }

    /// A kubeconfig file for service account `ns/sa`, authenticated by its token.
    pub fn kubeconfig_for(&self, ns: &str, sa: &str, file: &str) -> Result<PathBuf> {
        let admin = self.layout.path("kubeconfig-admin");
        let token = cluster::sa_token(&self.bin, &admin, ns, sa)?;
        let path = control_plane::write_kubeconfig(
            &self.layout.path(file),
            &self.server,
            &self.layout.path("pki/ca.crt"),
            sa,
            Credential::Token(&token),
        )?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).ctx("chmod kubeconfig")?;
        Ok(path)
    }

    /// A pid file under the state dir (for processes the bench starts).
    pub fn pidfile(&self, name: &str) -> PathBuf {
        self.layout.path(&format!("{name}.pid"))
    }

    /// Copies the logs (controller, agent, apiserver, etcd) to `<state dir>-logs` so a failed
    /// run can be diagnosed after the state dir is gone; returns where they went.
    pub fn save_logs(&self) -> PathBuf {
        let mut dest = self.layout.state_dir.clone().into_os_string();
        dest.push("-logs");
        let dest = PathBuf::from(dest);
        let _ = fs::remove_dir_all(&dest);
        if fs::create_dir_all(&dest).is_ok() {
            if let Ok(entries) = fs::read_dir(self.layout.path("logs")) {
                for e in entries.flatten() {
                    let _ = fs::copy(e.path(), dest.join(e.file_name()));
                }
            }
        }
        dest
    }

    /// Stops everything and deletes the state dir.
    pub fn down(&self) {
        teardown(&self.layout);
    }
}

async fn start(layout: &Layout) -> Result<Stack> {
    fs::create_dir_all(layout.path("logs")).ctx("creating the bench state dir")?;
    fs::set_permissions(&layout.state_dir, fs::Permissions::from_mode(0o755))
        .ctx("chmod state dir")?;
    let repo = testbed::repo_root();
    let bin = testbed::go_binaries(&repo)?;
    pki::ensure(&layout.path("pki"))?;
    fs::set_permissions(layout.path("pki"), fs::Permissions::from_mode(0o755)).ctx("chmod pki")?;
    fs::set_permissions(layout.path("pki/ca.crt"), fs::Permissions::from_mode(0o644))
        .ctx("chmod ca")?;
    control_plane::start_etcd(layout, &bin).await?;
    control_plane::start_apiserver(layout, &bin).await?;
    let server = format!("https://127.0.0.1:{}", layout.apiserver_port);
    let admin = control_plane::write_kubeconfig(
        &layout.path("kubeconfig-admin"),
        &server,
        &layout.path("pki/ca.crt"),
        "admin",
        Credential::Cert {
            cert: &layout.path("pki/admin.crt"),
            key: &layout.path("pki/admin.key"),
        },
    )?;
    cluster::bootstrap(layout, &bin, &admin, &repo)?;
    let client = testbed::admin_client(layout).await?;
    info!(state = %layout.state_dir.display(), %server, "bench control plane up");
    Ok(Stack {
        layout: layout.clone(),
        bin,
        client,
        server,
    })
}

/// Stops every process recorded under the state dir (the bench's own first, then the
/// apiserver and etcd) and deletes the dir. Missing pieces are fine: it also cleans up after
/// a crashed run.
fn teardown(layout: &Layout) {
    if let Ok(entries) = fs::read_dir(&layout.state_dir) {
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let control = name == "apiserver.pid" || name == "etcd.pid";
            if name.ends_with(".pid") && !control {
                let _ = stop_pidfile(&p, Duration::from_secs(5));
            }
        }
    }
    let _ = control_plane::stop(layout);
    let _ = fs::remove_dir_all(&layout.state_dir);
}
