//! Bringing the whole testbed up and down, and attaching to a running one.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{ConfigMap, Endpoints};
use kube::{Api, Client};
use tracing::info;

use crate::{
    cluster,
    cmd::{self, run, spawn_detached, stop_pidfile},
    control_plane::{self, Credential},
    dcs::Dcs,
    envfile,
    error::{Context, Error, Result},
    layout::Layout,
    netns, patroni, pki,
};

/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "/tmp/pgvip-testbed";

/// The state directory: `$PGVIP_TESTBED_DIR` or [`DEFAULT_STATE_DIR`].
pub fn state_dir() -> PathBuf {
    std::env::var_os("PGVIP_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// The repository root (this crate lives in `<root>/e2e`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cache directory for built binaries and venvs: `$PGVIP_CACHE` or `/var/cache/pgvip`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("PGVIP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/pgvip"))
}

/// Options of `up`.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Patroni settings.
    pub patroni: patroni::PatroniOptions,
}

/// A running testbed.
pub struct Testbed {
    /// Its layout.
    pub layout: Layout,
    /// Directory of kubectl, helm, etcd, kube-apiserver.
    pub bin: PathBuf,
    /// patronictl of the running flavour.
    pub patronictl: PathBuf,
    /// Admin client.
    pub client: Client,
    /// Patroni runs in Endpoints mode (the leader lock is the `<scope>` Endpoints).
    pub use_endpoints: bool,
    /// Which Patroni runs the cluster.
    pub flavor: patroni::PatroniFlavor,
    /// Which DCS holds Patroni's leader lock.
    pub dcs: Dcs,
}

/// Builds an admin client from the testbed's admin kubeconfig.
pub async fn admin_client(layout: &Layout) -> Result<Client> {
    client_from(&layout.path("kubeconfig-admin")).await
}

/// Builds a client from a kubeconfig file.
pub async fn client_from(path: &Path) -> Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    Client::try_from(cfg).ctx("building client")
}

/// Builds (or reuses) the Go binaries; returns their directory.
pub fn go_binaries(repo: &Path) -> Result<PathBuf> {
    let out = run(&repo.join("e2e/go/build.sh").to_string_lossy(), &[])?;
    Ok(PathBuf::from(out.trim()))
}

impl Testbed {
    /// Brings a testbed up from nothing (tearing down leftovers of a crashed run first).
    pub async fn up(opts: &UpOptions) -> Result<Testbed> {
        let t0 = Instant::now();
        let layout = Layout::standard(state_dir());
        down(&layout)?;
        let repo = repo_root();
        fs::create_dir_all(layout.path("logs")).ctx("creating state dir")?;
        fs::set_permissions(&layout.state_dir, fs::Permissions::from_mode(0o755))
            .ctx("chmod state dir")?;
        let bin = go_binaries(&repo)?;
        let (patroni_bin, patronictl) =
            patroni::ensure_installed(&cache_dir(), &repo, opts.patroni.flavor, opts.patroni.dcs)?;
        info!(secs = t0.elapsed().as_secs_f32(), "binaries ready");
        pki::ensure(&layout.path("pki"))?;
        fs::set_permissions(layout.path("pki"), fs::Permissions::from_mode(0o755))
            .ctx("chmod pki")?;
        fs::set_permissions(layout.path("pki/ca.crt"), fs::Permissions::from_mode(0o644))
            .ctx("chmod ca")?;
        netns::create(&layout)?;
        control_plane::start_etcd(&layout, &bin).await?;
        if opts.patroni.dcs == Dcs::Etcd {
            crate::dcs::start(&layout).await?;
        }
        control_plane::start_apiserver(&layout, &bin).await?;
        info!(secs = t0.elapsed().as_secs_f32(), "apiserver ready");
        let server = format!("https://127.0.0.1:{}", layout.apiserver_port);
        let ca = layout.path("pki/ca.crt");
        let admin_kc = control_plane::write_kubeconfig(
            &layout.path("kubeconfig-admin"),
            &server,
            &ca,
            "admin",
            Credential::Cert {
                cert: &layout.path("pki/admin.crt"),
                key: &layout.path("pki/admin.key"),
            },
        )?;
        cluster::bootstrap(&layout, &bin, &admin_kc, &repo)?;
        for (file, ns, sa) in [
            (
                "kubeconfig-controller",
                layout.system_namespace.as_str(),
                "pgvip-controller",
            ),
            (
                "kubeconfig-agent",
                layout.system_namespace.as_str(),
                "pgvip-node-agent",
            ),
            (
                "kubeconfig-patroni",
                layout.db_namespace.as_str(),
                "patroni",
            ),
        ] {
            let token = cluster::sa_token(&bin, &admin_kc, ns, sa)?;
            let path = control_plane::write_kubeconfig(
                &layout.path(file),
                &server,
                &ca,
                sa,
                Credential::Token(&token),
            )?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
                .ctx("chmod kubeconfig")?;
        }
        let client = admin_client(&layout).await?;
        cluster::create_nodes(&client, &layout).await?;
        cluster::create_member_pods(&client, &layout).await?;
        crate::cloud::ensure_api_key(&layout.path("oci"))?;
        start_supervisor(&layout)?;
        patroni::prepare(&layout, &opts.patroni, &layout.path("kubeconfig-patroni"))?;
        for n in &layout.nodes {
            patroni::start_member(&layout, n, &patroni_bin, &layout.path("kubeconfig-patroni"))?;
        }
        let mut env = envfile::describe(&layout, &bin, &patronictl);
        env.insert(
            "PGVIP_PATRONI_USE_ENDPOINTS".into(),
            opts.patroni.use_endpoints.to_string(),
        );
        env.insert(
            "PGVIP_PATRONI_FLAVOR".into(),
            format!("{:?}", opts.patroni.flavor),
        );
        env.insert(
            "PGVIP_PATRONI_DCS".into(),
            format!("{:?}", opts.patroni.dcs),
        );
        envfile::write(&layout, &env)?;
        let tb = Testbed {
            layout,
            bin,
            patronictl,
            client,
            use_endpoints: opts.patroni.use_endpoints,
            flavor: opts.patroni.flavor,
            dcs: opts.patroni.dcs,
        };
        let leader = tb.wait_leader(Duration::from_secs(120)).await?;
        tb.wait_healthy(Duration::from_secs(120)).await?;
        info!(secs = t0.elapsed().as_secs_f32(), %leader, "testbed up");
        Ok(tb)
    }

    /// Attaches to the testbed described by the env file in the state directory.
    pub async fn attach() -> Result<Testbed> {
        let dir = state_dir();
        let env = envfile::read(&dir)?;
        let layout = Layout::standard(dir);
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .ok_or_else(|| Error::Other(format!("testbed.json lacks {k}")))
        };
        let client = admin_client(&layout).await?;
        let use_endpoints = env
            .get("PGVIP_PATRONI_USE_ENDPOINTS")
            .is_some_and(|v| v == "true");
        Ok(Testbed {
            bin: get("PGVIP_BIN")?.into(),
            patronictl: get("PGVIP_PATRONICTL")?.into(),
            layout,
            client,
            use_endpoints,
            dcs: if env.get("PGVIP_PATRONI_DCS").is_some_and(|d| d == "Etcd") {
                Dcs::Etcd
            } else {
                Dcs::Kubernetes
            },
            flavor: if env
                .get("PGVIP_PATRONI_FLAVOR")
                .is_some_and(|f| f == "V3Debian")
            {
                patroni::PatroniFlavor::V3Debian
            } else {
                patroni::PatroniFlavor::V4
            },
        })
    }

    /// The Patroni leader named by the leader lock (the `<scope>-leader` ConfigMap, or the
    /// `<scope>` Endpoints in Endpoints mode, or etcd's leader key), once one is held.
    pub async fn wait_leader(&self, limit: Duration) -> Result<String> {
        if self.dcs == Dcs::Etcd {
            return cluster::wait_for("a Patroni leader (etcd)", limit, || async {
                crate::dcs::leader(&self.layout).ok().flatten()
            })
            .await;
        }
        let ns = &self.layout.db_namespace;
        let (cms, eps): (Api<ConfigMap>, Api<Endpoints>) = (
            Api::namespaced(self.client.clone(), ns),
            Api::namespaced(self.client.clone(), ns),
        );
        cluster::wait_for("a Patroni leader", limit, || async {
            let annotations = if self.use_endpoints {
                eps.get_opt(&self.layout.scope)
                    .await
                    .ok()
                    .flatten()?
                    .metadata
                    .annotations
            } else {
                cms.get_opt(&format!("{}-leader", self.layout.scope))
                    .await
                    .ok()
                    .flatten()?
                    .metadata
                    .annotations
            };
            annotations?
                .get("leader")
                .filter(|l| !l.is_empty())
                .cloned()
        })
        .await
    }

    /// Waits until every member runs: a leader, the others streaming, one of them sync standby.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<()> {
        cluster::wait_for(
            "a healthy Patroni cluster (all streaming, a sync standby)",
            limit,
            || async {
                let out = self.patronictl(&["list", "-f", "json"]).ok()?;
                let members: Vec<serde_json::Value> = serde_json::from_str(&out).ok()?;
                // Patroni 3.0.2 reports a streaming replica as "running"; 4.x says "streaming".
                let replica_ok = |m: &&serde_json::Value| {
                    m["State"] == "streaming"
                        || (self.flavor == patroni::PatroniFlavor::V3Debian
                            && m["State"] == "running"
                            && m["Role"] != "Leader")
                };
                let streaming = members.iter().filter(replica_ok).count();
                let sync = members.iter().any(|m| m["Role"] == "Sync Standby");
                let leader = members
                    .iter()
                    .any(|m| m["Role"] == "Leader" && m["State"] == "running");
                (members.len() == self.layout.nodes.len()
                    && leader
                    && sync
                    && streaming == members.len() - 1)
                    .then_some(())
            },
        )
        .await
    }

    /// kubectl with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        cluster::kubectl(&self.bin, &self.layout.path("kubeconfig-admin"), args)
    }
}

fn start_supervisor(layout: &Layout) -> Result<()> {
    let exe = std::env::current_exe().ctx("locating the testbed binary")?;
    let exe = if exe.file_name().is_some_and(|f| f == "testbed") {
        exe
    } else {
        crate::pgvip::binary("testbed")?
    };
    let mut cmd = Command::new(exe);
    cmd.arg("serve").env("PGVIP_TESTBED_DIR", &layout.state_dir);
    spawn_detached(
        &mut cmd,
        &layout.path("serve.pid"),
        &layout.path("logs/serve.log"),
    )?;
    // The forwarders must be listening before anything in a namespace dials the apiserver.
    let probe = format!("127.0.0.1:{}", layout.apiserver_port);
    let ns = layout.nodes[0].netns.clone();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if cmd::run_in(
            &ns,
            "bash",
            &[
                "-c",
                &format!("exec 3<>/dev/tcp/{}", probe.replace(':', "/")),
            ],
        )
        .is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::Timeout {
        what: "the testbed supervisor's forwarders".into(),
        secs: 20,
    })
}

/// With `PGVIP_TESTBED_KEEP_LOGS=<dir>`, copies the testbed's `logs/` to a new
/// `<dir>/<UTC time>/` before teardown removes them (to read a run's timeline afterwards).
fn keep_logs(layout: &Layout) -> Result<()> {
    let (Some(dir), true) = (
        std::env::var_os("PGVIP_TESTBED_KEEP_LOGS"),
        layout.path("logs").is_dir(),
    ) else {
        return Ok(());
    };
    let to = PathBuf::from(dir).join(chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string());
    fs::create_dir_all(&to).ctx("creating the kept logs' directory")?;
    run(
        "cp",
        &[
            "-r",
            &layout.path("logs").to_string_lossy(),
            &to.to_string_lossy(),
        ],
    )?;
    info!(to = %to.display(), "testbed logs kept");
    Ok(())
}

/// Tears down everything a testbed at `layout` may have left: processes it recorded, processes
/// inside its namespaces, postmasters, namespaces, the state directory. Collects all errors.
pub fn down(layout: &Layout) -> Result<()> {
    let mut errors = vec![];
    let grace = Duration::from_secs(3);
    if let Ok(entries) = fs::read_dir(&layout.state_dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pid")
                && !p.ends_with("etcd.pid")
                && !p.ends_with("apiserver.pid")
            {
                if let Err(e) = stop_pidfile(&p, grace) {
                    errors.push(e.to_string());
                }
            }
        }
    }
    for n in &layout.nodes {
        patroni::kill_postmaster(&layout.path(&format!("pg/{}/data", n.member)));
    }
    if let Err(e) = netns::destroy(layout) {
        errors.push(e.to_string());
    }
    if let Err(e) = control_plane::stop(layout) {
        errors.push(e.to_string());
    }
    if let Err(e) = keep_logs(layout) {
        errors.push(e.to_string());
    }
    if layout.state_dir.exists() {
        if let Err(e) = fs::remove_dir_all(&layout.state_dir) {
            errors.push(format!("removing {}: {e}", layout.state_dir.display()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(errors.join("; ")))
    }
}

impl Testbed {
    /// Runs SQL with psql from the client namespace against `host` (as the application would).
    pub fn psql(&self, host: &str, sql: &str) -> Result<String> {
        let conn = format!(
            "host={host} port=5432 user=postgres password={} dbname=postgres connect_timeout=3",
            patroni::SUPERUSER_PASSWORD
        );
        cmd::run_in(
            &self.layout.client.netns,
            "psql",
            &[&conn, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
        )
    }

    /// Tears this testbed down.
    pub fn down(&self) -> Result<()> {
        down(&self.layout)
    }
}

impl Testbed {
    /// `kubectl apply` of a manifest with the admin credentials (server-side validation applies).
    pub fn kubectl_apply(&self, yaml: &str) -> Result<String> {
        cluster::apply_yaml(&self.bin, &self.layout.path("kubeconfig-admin"), yaml)
    }
}

impl Testbed {
    /// Runs patronictl from the first node's namespace with that member's config.
    pub fn patronictl(&self, args: &[&str]) -> Result<String> {
        let n = &self.layout.nodes[0];
        let cfg = self.layout.path(&format!("pg/{}/patroni.yml", n.member));
        let kc = format!(
            "KUBECONFIG={}",
            self.layout.path("kubeconfig-patroni").display()
        );
        let ctl = self.patronictl.to_string_lossy().into_owned();
        let cfg = cfg.to_string_lossy().into_owned();
        let mut full = vec![
            "-u",
            "postgres",
            "--",
            "env",
            kc.as_str(),
            ctl.as_str(),
            "-c",
            cfg.as_str(),
        ];
        full.extend_from_slice(args);
        cmd::run_in(&n.netns, "runuser", &full)
    }
}

impl Testbed {
    /// Crashes `node`'s member: SIGKILL to Patroni and its postmaster.
    pub fn kill_member(&self, node: &crate::layout::NodeLayout) {
        cmd::kill_pidfile(&self.layout.path(&format!("patroni-{}.pid", node.member)));
        patroni::kill_postmaster(&self.layout.path(&format!("pg/{}/data", node.member)));
    }

    /// Starts `node`'s member again (after a crash or a stop).
    pub fn start_member(&self, node: &crate::layout::NodeLayout) -> Result<()> {
        let patroni = self.patronictl.with_file_name("patroni");
        patroni::start_member(
            &self.layout,
            node,
            &patroni,
            &self.layout.path("kubeconfig-patroni"),
        )
        .map(|_| ())
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) every process inside `node`'s namespace but the
    /// harness's own `ip` commands: the holder sampler's `ip -n <node> addr` enters the
    /// namespace for a few milliseconds every 100 ms, and one caught there stayed stopped and
    /// hung the scenario (and the bench) for good.
    pub fn freeze_node(&self, node: &crate::layout::NodeLayout, frozen: bool) -> Result<()> {
        let pids = cmd::run("ip", &["netns", "pids", &node.netns])?;
        let sig = if frozen {
            nix::sys::signal::Signal::SIGSTOP
        } else {
            nix::sys::signal::Signal::SIGCONT
        };
        let harness_ip = |p: i32| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "ip")
        };
        for p in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter(|&p| !(frozen && harness_ip(p)))
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
        }
        Ok(())
    }

    /// Cuts (or restores) `node`'s access to the apiserver, leaving its data path alone.
    pub fn partition_from_api(&self, node: &crate::layout::NodeLayout, cut: bool) -> Result<()> {
        let port = self.layout.apiserver_port;
        let rule = format!("type filter hook output priority 0;\n    tcp dport {port} drop");
        filter_table(node, "pgvip_partition", cut.then_some(rule.as_str()))
    }

    /// Cuts (or restores) `node`'s agent alone from the apiserver: root's connections to it are
    /// dropped, Patroni's (it runs as `postgres`) still pass.
    pub fn cut_agent_from_api(&self, node: &crate::layout::NodeLayout, cut: bool) -> Result<()> {
        let port = self.layout.apiserver_port;
        let rule =
            format!("type filter hook output priority 0;\n    meta skuid 0 tcp dport {port} drop");
        filter_table(node, "pgvip_agent_cut", cut.then_some(rule.as_str()))
    }
}

/// Adds nftables table `name` with one chain holding `chain_body` inside `node`'s namespace,
/// or deletes the table when `chain_body` is `None`.
pub fn filter_table(
    node: &crate::layout::NodeLayout,
    name: &str,
    chain_body: Option<&str>,
) -> Result<()> {
    crate::netns::nft_table(&node.netns, "inet", name, chain_body)
}
