//! Start-up and the handle tests hold: builds the PKI, keys, state and registry from the
//! configuration, binds every listener, programs the initial fabric, and spawns the
//! servers and the fabric task. [`SimHandle`] exposes URLs, faults, the call log, the
//! control-plane assignment and the fabric status, and shuts everything down.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::calllog::CallLog;
use crate::fabric::{self, FabricConfig, FabricStatus, Feed};
use crate::faults::Faults;
use crate::inventory::Inventory;
use crate::jwt::TokenIssuer;
use crate::pki::{self, InstanceIdentity, Pki};
use crate::ratelimit::RateLimit;
use crate::server::{self, admin, core, identity, imds, Ctx, Router};
use crate::state::State;
use crate::{auth::Registry, Error, Result};

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The world to simulate.
    pub inventory: Inventory,
    /// Core Services API listener (HTTPS); port 0 picks one.
    pub listen: SocketAddr,
    /// Auth service (federation) listener; same IP, ephemeral port when absent.
    pub auth_listen: Option<SocketAddr>,
    /// OKE proxymux (workload identity) listener; same IP, ephemeral port when absent.
    pub proxymux_listen: Option<SocketAddr>,
    /// Admin listener (plain HTTP); `127.0.0.1:0` when absent.
    pub admin_listen: Option<SocketAddr>,
    /// IP for the per-instance IMDS listeners (plain HTTP); the core IP when absent.
    /// Ports come from each instance's `imdsPort`, else ephemeral.
    pub imds_ip: Option<IpAddr>,
    /// Extra names/IPs for the TLS certificate (localhost and 127.0.0.1 are always in).
    pub tls_names: Vec<String>,
    /// Where to write the CA certificate (PEM).
    pub ca_out: PathBuf,
    /// The fabric to program, if any.
    pub fabric: Option<FabricConfig>,
    /// Lifetime of session tokens (short, so refresh gets exercised).
    pub token_ttl: Duration,
    /// Per-tenancy rate limit; unlimited when absent.
    pub rate_limit: Option<RateLimit>,
    /// Allowed client clock skew; `None` disables the check (only for vector tests).
    pub max_clock_skew: Option<Duration>,
    /// RSA size of generated instance and token-signing keys (at least 2048: the
    /// certificate signer refuses smaller RSA keys).
    pub rsa_bits: usize,
    /// Ready-made RSA private keys (PEM) used before generating any, first for the token
    /// signer, then per instance. Key generation is slow in unoptimised builds; tests and
    /// the harness can pass a cached pool.
    pub key_pool: Vec<String>,
}

impl SimConfig {
    /// Defaults: loopback, ephemeral ports, no fabric, 5-minute tokens, OCI's 5-minute
    /// skew limit, no rate limit, 2048-bit keys.
    pub fn new(inventory: Inventory, ca_out: PathBuf) -> Self {
        SimConfig {
            inventory,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth_listen: None,
            proxymux_listen: None,
            admin_listen: None,
            imds_ip: None,
            tls_names: vec![],
            ca_out,
            fabric: None,
            token_ttl: Duration::from_secs(300),
            rate_limit: None,
            max_clock_skew: Some(crate::signature::MAX_SKEW),
            rsa_bits: 2048,
            key_pool: vec![],
        }
    }
}

/// Every URL the simulator serves (printed as one JSON line by the binary).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimUrls {
    /// Core Services API base, e.g. `https://127.0.0.1:4431` (append `/20160918/...`).
    pub core: String,
    /// Auth service base (append `/v1/x509`).
    pub auth: String,
    /// OKE proxymux base (append `/resourcePrincipalSessionTokens`).
    pub proxymux: String,
    /// Admin base (plain HTTP).
    pub admin: String,
    /// IMDS base per instance OCID (plain HTTP; append `/opc/v2/...`).
    pub imds: BTreeMap<String, String>,
    /// Where the CA certificate was written.
    pub ca_path: PathBuf,
}

/// The simulator entry point.
pub struct Sim;

/// A running simulator.
pub struct SimHandle {
    ctx: Arc<Ctx>,
    urls: SimUrls,
    imds_addrs: HashMap<String, SocketAddr>,
    ca_pem: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    fabric: Option<FabricConfig>,
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

async fn keys(n: usize, bits: usize, pool: &[String]) -> Result<Vec<rsa::RsaPrivateKey>> {
    let mut out = pool
        .iter()
        .take(n)
        .map(|p| crate::keys::private_key_from_pem(p))
        .collect::<Result<Vec<_>>>()?;
    let jobs: Vec<_> = (out.len()..n)
        .map(|_| tokio::task::spawn_blocking(move || pki::generate_rsa(bits)))
        .collect();
    for j in jobs {
        out.push(j.await.map_err(|e| Error::Crypto(e.to_string()))??);
    }
    Ok(out)
}

impl Sim {
    /// Starts the simulator; returns once every listener is bound and the initial fabric
    /// ruleset is applied.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle> {
        if cfg.fabric.is_some() {
            fabric::check_nft()?;
        }
        let state = State::from_inventory(&cfg.inventory)?;
        let pki = Pki::generate(&cfg.tls_names)?;
        let mut rsa = keys(
            cfg.inventory.instances.len() + 1,
            cfg.rsa_bits,
            &cfg.key_pool,
        )
        .await?
        .into_iter();
        let issuer = TokenIssuer::new(rsa.next().ok_or_else(|| Error::Crypto("no key".into()))?);
        let mut identities = HashMap::new();
        for (inst, key) in cfg.inventory.instances.iter().zip(rsa) {
            identities.insert(
                inst.id.clone(),
                pki.issue_instance(&cfg.inventory.tenancy_id, &inst.id, &key)?,
            );
        }
        if let Some(dir) = cfg.ca_out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&cfg.ca_out, &pki.ca_pem)?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let (feed, fabric_task) = Feed::start(cfg.fabric.clone(), state.assignments()).await?;

        let ctx = Arc::new(Ctx {
            registry: Registry::new(&cfg.inventory, issuer)?,
            state: Mutex::new(state),
            faults: Faults::new(
                cfg.fabric
                    .as_ref()
                    .map(|f| f.propagation_delay)
                    .unwrap_or_default(),
                cfg.rate_limit,
            ),
            calls: CallLog::default(),
            identities,
            intermediate_pem: pki.intermediate_pem.clone(),
            intermediate_der: pki.intermediate_der.clone(),
            workload_tokens: cfg
                .inventory
                .workload_tokens
                .iter()
                .map(|w| (w.token.clone(), w.principal.clone()))
                .collect(),
            token_ttl: cfg.token_ttl,
            max_skew: cfg.max_clock_skew,
            retry: Mutex::new(Default::default()),
            shutdown: shutdown_rx,
            fabric: feed,
        });

        let tls = TlsAcceptor::from(pki.server_config()?);
        let ip = cfg.listen.ip();
        let (core_l, core_a) = bind(cfg.listen).await?;
        let (auth_l, auth_a) = bind(cfg.auth_listen.unwrap_or(SocketAddr::new(ip, 0))).await?;
        let (pm_l, pm_a) = bind(cfg.proxymux_listen.unwrap_or(SocketAddr::new(ip, 0))).await?;
        let (adm_l, adm_a) = bind(
            cfg.admin_listen
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await?;
        let mut tasks = vec![fabric_task];
        let routers: [(TcpListener, Option<TlsAcceptor>, Router); 4] = [
            (core_l, Some(tls.clone()), Arc::new(core::route)),
            (auth_l, Some(tls.clone()), Arc::new(identity::route_auth)),
            (pm_l, Some(tls.clone()), Arc::new(identity::route_proxymux)),
            (adm_l, None, Arc::new(admin::route)),
        ];
        for (l, t, r) in routers {
            tasks.push(tokio::spawn(server::serve(l, t, ctx.clone(), r)));
        }
        let imds_ip = cfg.imds_ip.unwrap_or(ip);
        let mut imds_addrs = HashMap::new();
        let mut imds_urls = BTreeMap::new();
        for inst in &cfg.inventory.instances {
            let (l, a) = bind(SocketAddr::new(imds_ip, inst.imds_port.unwrap_or(0))).await?;
            let id = inst.id.clone();
            let router: Router = Arc::new(move |ctx, req| imds::route(ctx, req, id.clone()));
            tasks.push(tokio::spawn(server::serve(l, None, ctx.clone(), router)));
            imds_addrs.insert(inst.id.clone(), a);
            imds_urls.insert(inst.id.clone(), format!("http://{a}"));
        }
        let urls = SimUrls {
            core: format!("https://{core_a}"),
            auth: format!("https://{auth_a}"),
            proxymux: format!("https://{pm_a}"),
            admin: format!("http://{adm_a}"),
            imds: imds_urls,
            ca_path: cfg.ca_out.clone(),
        };
        tracing::info!(core = %urls.core, admin = %urls.admin, "cloudsim oci front started");
        Ok(SimHandle {
            ctx,
            urls,
            imds_addrs,
            ca_pem: pki.ca_pem,
            shutdown,
            tasks,
            fabric: cfg.fabric,
        })
    }
}

impl SimHandle {
    /// All URLs.
    pub fn urls(&self) -> &SimUrls {
        &self.urls
    }
    /// Core Services API base URL.
    pub fn core_url(&self) -> &str {
        &self.urls.core
    }
    /// Auth service (federation) base URL.
    pub fn federation_url(&self) -> &str {
        &self.urls.auth
    }
    /// OKE proxymux base URL.
    pub fn proxymux_url(&self) -> &str {
        &self.urls.proxymux
    }
    /// Admin base URL.
    pub fn admin_url(&self) -> &str {
        &self.urls.admin
    }
    /// IMDS base URL of an instance.
    pub fn imds_url(&self, instance_id: &str) -> Option<&str> {
        self.urls.imds.get(instance_id).map(String::as_str)
    }
    /// IMDS listener address of an instance (for a loopback forwarder).
    pub fn imds_addr(&self, instance_id: &str) -> Option<SocketAddr> {
        self.imds_addrs.get(instance_id).copied()
    }
    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// Fault injection.
    pub fn faults(&self) -> Faults {
        self.ctx.faults.clone()
    }
    /// The call log.
    pub fn call_log(&self) -> CallLog {
        self.ctx.calls.clone()
    }
    /// The VNIC holding `ip` in the control plane.
    pub fn assignment(&self, ip: IpAddr) -> Option<String> {
        self.ctx.assignment(ip)
    }
    /// An instance's identity (certificate and key as IMDS serves them).
    pub fn identity(&self, instance_id: &str) -> Option<InstanceIdentity> {
        self.ctx.identities.get(instance_id).cloned()
    }
    /// What the fabric applied last.
    pub fn fabric_status(&self) -> FabricStatus {
        self.ctx.fabric.status()
    }
    /// Waits until the fabric has applied every control-plane change made so far.
    pub async fn wait_fabric_synced(&self, timeout: Duration) -> bool {
        self.ctx.fabric.wait_synced(timeout).await
    }
    /// Stops every listener and task and removes the fabric table.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        if let Some(f) = &self.fabric {
            fabric::remove(&f.netns).await;
        }
    }
}
