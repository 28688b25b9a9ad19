//! The Patroni cluster: one member per node namespace, running as the `postgres` user with the
//! Kubernetes DCS against the apiserver (through the namespace's loopback forwarder) with
//! Patroni's own service-account token. Patroni 4.x comes from PyPI into a venv in the cache;
//! Patroni 3.0.2 from Debian is the compatibility variant.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{
    cmd::{run, spawn_detached, stop_pidfile},
    dcs::{self, Dcs},
    error::{Context, Error, Result},
    layout::{Layout, NodeLayout},
};

/// Which Patroni runs the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PatroniFlavor {
    /// Patroni 4.x from PyPI (default).
    V4,
    /// Debian's Patroni 3.0.2.
    V3Debian,
}

/// Options of the Patroni cluster.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PatroniOptions {
    /// Which Patroni.
    pub flavor: PatroniFlavor,
    /// `kubernetes.use_endpoints`.
    pub use_endpoints: bool,
    /// Leader lock ttl, seconds.
    pub ttl: u32,
    /// Patroni main loop interval, seconds.
    pub loop_wait: u32,
    /// Command Patroni runs on start, stop and role change (`postgresql.callbacks`), with
    /// `{member}` replaced by the member's name; none by default.
    #[serde(default)]
    pub callback: Option<String>,
    /// Which DCS holds the leader lock (the Kubernetes DCS unless a bench asks for etcd).
    #[serde(default)]
    pub dcs: Dcs,
}

impl Default for PatroniOptions {
    fn default() -> Self {
        Self {
            flavor: PatroniFlavor::V4,
            use_endpoints: false,
            ttl: 20,
            loop_wait: 5,
            callback: None,
            dcs: Dcs::Kubernetes,
        }
    }
}

/// Password of the `postgres` superuser inside the testbed (loopback-only, throwaway).
pub const SUPERUSER_PASSWORD: &str = "testbed-superuser";

/// Returns the `patroni` and `patronictl` executables for `flavor` with the client library of
/// `dcs`, installing them if needed (Patroni 4 with etcd has a venv of its own, with
/// python-etcd).
pub fn ensure_installed(
    cache: &Path,
    repo: &Path,
    flavor: PatroniFlavor,
    dcs: Dcs,
) -> Result<(PathBuf, PathBuf)> {
    dcs::check_installed(dcs)?;
    match flavor {
        PatroniFlavor::V3Debian => {
            if !Path::new("/usr/bin/patroni").exists() {
                run("apt-get", &["install", "-y", "-qq", "patroni"])?;
            }
            Ok(("/usr/bin/patroni".into(), "/usr/bin/patronictl".into()))
        }
        PatroniFlavor::V4 => {
            let venv = match dcs {
                Dcs::Kubernetes => ensure_venv(cache, repo)?,
                Dcs::Etcd => ensure_venv_named(cache, repo, "patroni-etcd")?,
            };
            let bin = venv.join("bin");
            Ok((bin.join("patroni"), bin.join("patronictl")))
        }
    }
}

/// The script that builds the Patroni 4 venv once (one pip install, a completion marker written
/// last) and prints its path; `.ci/setup` runs it too, so the testbed finds the venv ready.
pub const VENV_SCRIPT: &str = "e2e/testbed/venv.sh";

/// Builds the Patroni 4 venv under `cache` if it is missing or incomplete; returns its path.
/// The cache key (a hash of the requirements file) is computed by the script alone.
pub fn ensure_venv(cache: &Path, repo: &Path) -> Result<PathBuf> {
    ensure_venv_named(cache, repo, "patroni")
}

/// [`ensure_venv`] for venv `name` of [`VENV_SCRIPT`] (`patroni`, or `patroni-etcd`: the same
/// Patroni with python-etcd, for the bench-only etcd DCS).
pub fn ensure_venv_named(cache: &Path, repo: &Path, name: &str) -> Result<PathBuf> {
    let script = repo.join(VENV_SCRIPT);
    let out = run(
        "bash",
        &[&script.to_string_lossy(), name, &cache.to_string_lossy()],
    )?;
    let venv = out
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Error::Other(format!("{VENV_SCRIPT} printed no venv path")))?;
    if !venv.join("bin/patroni").exists() {
        return Err(Error::Other(format!(
            "{VENV_SCRIPT} printed {}, which has no bin/patroni",
            venv.display()
        )));
    }
    Ok(venv)
}

/// Patroni's YAML configuration of `node`'s member (pure).
pub fn member_config(
    layout: &Layout,
    node: &NodeLayout,
    opts: &PatroniOptions,
    kubeconfig: &Path,
) -> serde_json::Value {
    let dir = layout.path(&format!("pg/{}", node.member));
    let _ = kubeconfig;
    let mut cfg = serde_json::json!({
        "scope": layout.scope,
        "name": node.member,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        // Dual stack: the controller's data-path check asks `GET /primary` through an IPv6 VIP too.
        "restapi": {"listen": "*:8008", "connect_address": format!("{}:8008", node.ip)},
        "kubernetes": {
            "namespace": layout.db_namespace,
            "labels": {"application": "patroni", "cluster-name": layout.scope},
            "scope_label": "cluster-name",
            "role_label": "role",
            "use_endpoints": opts.use_endpoints,
            "pod_ip": node.ip,
            "ports": [{"name": "postgresql", "port": 5432}],
            "bypass_api_service": false,
            "context": "testbed",
        },
        "bootstrap": {
            "dcs": {
                "ttl": opts.ttl, "loop_wait": opts.loop_wait, "retry_timeout": opts.loop_wait,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": true,
                "postgresql": {"use_pg_rewind": true, "use_slots": true, "parameters": {
                    "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                    "max_wal_senders": 10, "max_replication_slots": 10, "wal_keep_size": "128MB"}},
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            // Every address, IPv6 ones included (the dual-stack checks write through fd00:10::200).
            "listen": "*:5432",
            "connect_address": format!("{}:5432", node.ip),
            "data_dir": dir.join("data"),
            "bin_dir": "/usr/lib/postgresql/15/bin",
            "pgpass": dir.join("pgpass"),
            "authentication": {
                "superuser": {"username": "postgres", "password": SUPERUSER_PASSWORD},
                "replication": {"username": "replicator", "password": "testbed-replication"},
                "rewind": {"username": "rewinder", "password": "testbed-rewind"},
            },
            "parameters": {"unix_socket_directories": dir.to_string_lossy(), "shared_buffers": "32MB", "max_connections": 50},
            "pg_hba": [
                "local all all trust",
                // "all" does not match replication connections; Patroni's own local replication
                // connection (timeline check before pg_rewind) needs its own line.
                "local replication all trust",
                "host replication replicator 127.0.0.1/32 md5",
                "host replication replicator 10.0.10.0/24 md5",
                "host all all 10.0.10.0/24 md5",
                "host all all fd00:10::/64 md5",
                "host all all 127.0.0.1/32 md5",
            ],
        },
        "tags": {"nofailover": false, "noloadbalance": false, "clonefrom": false},
    });
    if opts.dcs == Dcs::Etcd {
        if let Some(obj) = cfg.as_object_mut() {
            obj.remove("kubernetes");
            obj.insert("namespace".into(), dcs::NAMESPACE.into());
            obj.insert("etcd".into(), dcs::patroni_etcd_section(layout));
        }
    }
    if let Some(cmd) = &opts.callback {
        let cmd = cmd.replace("{member}", &node.member);
        cfg["postgresql"]["callbacks"] =
            serde_json::json!({"on_start": cmd, "on_stop": cmd, "on_role_change": cmd});
    }
    cfg
}

/// Writes each member's config and data directory, owned by `postgres`.
pub fn prepare(layout: &Layout, opts: &PatroniOptions, kubeconfig: &Path) -> Result<()> {
    for n in &layout.nodes {
        let dir = layout.path(&format!("pg/{}", n.member));
        fs::create_dir_all(&dir).ctx(format!("creating {}", dir.display()))?;
        let cfg = serde_yaml::to_string(&member_config(layout, n, opts, kubeconfig))
            .map_err(|e| Error::Other(e.to_string()))?;
        fs::write(dir.join("patroni.yml"), cfg).ctx("writing patroni.yml")?;
        run(
            "chown",
            &["-R", "postgres:postgres", &dir.to_string_lossy()],
        )?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).ctx("chmod member dir")?;
    }
    Ok(())
}

/// Starts `node`'s member inside its namespace as the postgres user.
pub fn start_member(
    layout: &Layout,
    node: &NodeLayout,
    patroni: &Path,
    kubeconfig: &Path,
) -> Result<u32> {
    let dir = layout.path(&format!("pg/{}", node.member));
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &node.netns,
        "runuser",
        "-u",
        "postgres",
        "--",
        "env",
    ])
    .arg(format!("KUBECONFIG={}", kubeconfig.display()))
    .arg("PATRONI_LOG_LEVEL=INFO")
    .arg(patroni)
    .arg(dir.join("patroni.yml"));
    spawn_detached(
        &mut cmd,
        &layout.path(&format!("patroni-{}.pid", node.member)),
        &layout.path(&format!("logs/patroni-{}.log", node.member)),
    )
}

/// Stops `node`'s member: Patroni's process group, then its postmaster by the pid in the data
/// directory (Patroni does not always stop a replica's postmaster).
pub fn stop_member(layout: &Layout, node: &NodeLayout, grace: Duration) -> Result<()> {
    stop_pidfile(&layout.path(&format!("patroni-{}.pid", node.member)), grace)?;
    kill_postmaster(&layout.path(&format!("pg/{}/data", node.member)));
    Ok(())
}

/// SIGKILLs the postmaster recorded in `data/postmaster.pid`, if it is alive.
pub fn kill_postmaster(data: &Path) {
    let Ok(text) = fs::read_to_string(data.join("postmaster.pid")) else {
        return;
    };
    if let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
