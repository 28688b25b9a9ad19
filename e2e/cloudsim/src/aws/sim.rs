//! Start-up of the AWS front and the handle tests and the testbed hold: builds the PKI
//! (the same CA machinery as the OCI front), IAM and the EC2 state from the inventory,
//! programs the initial fabric, binds the EC2 and STS (HTTPS), admin, Pod Identity agent and
//! per-instance IMDS listeners, and spawns them. [`AwsSimHandle`] exposes URLs, the CA, faults, the call log,
//! the control-plane owner of an address and the fabric status, and shuts everything down.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::Request;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::ctx::{AwsCallLog, AwsCtx};
use super::faults::AwsFaults;
use super::iam::Iam;
use super::inventory::AwsInventory;
use super::sessions::SessionStore;
use super::state::AwsState;
use super::{admin, imds, pod_identity, server, sigv4, sts};
use crate::fabric::{self, FabricConfig, FabricStatus, Feed};
use crate::pki::Pki;
use crate::ratelimit::RateLimit;
use crate::Result;

/// GUESS: how long AWS takes to make a reassigned secondary address visible on its new
/// interface (undocumented; "a few seconds" in practice). The default keeps tests fast.
pub const DEFAULT_REMAP_DELAY: Duration = Duration::from_millis(30);

/// AWS front configuration.
#[derive(Debug, Clone)]
pub struct AwsSimConfig {
    /// The world to simulate.
    pub inventory: AwsInventory,
    /// EC2 API listener (HTTPS); port 0 picks one.
    pub listen: SocketAddr,
    /// Admin listener (plain HTTP); `127.0.0.1:0` when absent.
    pub admin_listen: Option<SocketAddr>,
    /// STS listener (HTTPS, same certificate as EC2); an ephemeral port on the EC2
    /// listener's IP when absent.
    pub sts_listen: Option<SocketAddr>,
    /// EKS Pod Identity agent listener (plain HTTP); an ephemeral port on the EC2 listener's
    /// IP when absent.
    pub pod_identity_listen: Option<SocketAddr>,
    /// IP of the per-instance IMDS listeners (plain HTTP); the EC2 listener's when absent.
    /// Ports come from each instance's `imdsPort`, else ephemeral.
    pub imds_ip: Option<IpAddr>,
    /// Extra names/IPs for the TLS certificate (localhost and 127.0.0.1 are always in).
    pub tls_names: Vec<String>,
    /// Where to write the CA certificate (PEM), if anywhere.
    pub ca_out: Option<PathBuf>,
    /// The fabric to program, if any (its `propagation_delay` is added after a change
    /// becomes visible).
    pub fabric: Option<FabricConfig>,
    /// Delay before a reassigned address is visible on its new interface.
    pub remap_delay: Duration,
    /// Account rate limit; unlimited when absent.
    pub rate_limit: Option<RateLimit>,
    /// Allowed client clock skew; `None` disables the check.
    pub max_clock_skew: Option<Duration>,
}

impl AwsSimConfig {
    /// Defaults: loopback, ephemeral ports, no CA file, no fabric, 30 ms remaps, no rate
    /// limit, five-minute skew.
    pub fn new(inventory: AwsInventory) -> Self {
        AwsSimConfig {
            inventory,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: None,
            sts_listen: None,
            pod_identity_listen: None,
            imds_ip: None,
            tls_names: vec![],
            ca_out: None,
            fabric: None,
            remap_delay: DEFAULT_REMAP_DELAY,
            rate_limit: None,
            max_clock_skew: Some(sigv4::MAX_SKEW),
        }
    }
}

/// Every URL the AWS front serves (printed as one JSON line by the binary).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsSimUrls {
    /// EC2 endpoint, e.g. `https://127.0.0.1:4431` (POST `/`).
    pub ec2: String,
    /// Admin base (plain HTTP).
    pub admin: String,
    /// STS endpoint, e.g. `https://127.0.0.1:4432` (`AWS_ENDPOINT_URL_STS`).
    pub sts: String,
    /// The Pod Identity agent's credentials URL (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub pod_identity: String,
    /// IMDS base per instance id (plain HTTP; append `/latest/...`).
    pub imds: BTreeMap<String, String>,
    /// Region.
    pub region: String,
    /// Where the CA certificate was written, if anywhere.
    pub ca_path: Option<PathBuf>,
}

/// The AWS front's entry point.
pub struct AwsSim;

/// A running AWS front.
pub struct AwsSimHandle {
    ctx: Arc<AwsCtx>,
    urls: AwsSimUrls,
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

impl AwsSim {
    /// Starts the front; returns once every listener is bound and the initial fabric
    /// ruleset is applied.
    pub async fn start(cfg: AwsSimConfig) -> Result<AwsSimHandle> {
        if cfg.fabric.is_some() {
            fabric::check_nft()?;
        }
        let state = AwsState::from_inventory(&cfg.inventory)?;
        let iam = Iam::new(&cfg.inventory)?;
        let pki = Pki::generate(&cfg.tls_names)?;
        if let Some(path) = &cfg.ca_out {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, &pki.ca_pem)?;
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (feed, fabric_task) =
            Feed::start(cfg.fabric.clone(), state.assignments(Instant::now())).await?;
        let fabric_delay = cfg
            .fabric
            .as_ref()
            .map(|f| f.propagation_delay)
            .unwrap_or_default();
        let ctx = Arc::new(AwsCtx {
            state: Mutex::new(state),
            iam,
            faults: AwsFaults::new(cfg.remap_delay, fabric_delay, cfg.rate_limit),
            calls: AwsCallLog::default(),
            fabric: feed,
            max_skew: cfg.max_clock_skew,
            shutdown: shutdown_rx.clone(),
            sessions: SessionStore::default(),
            imds_tokens: Mutex::new(HashMap::new()),
            remaps_in_flight: AtomicUsize::new(0),
        });
        let tls = TlsAcceptor::from(pki.server_config()?);
        let (ec2_l, ec2_a) = bind(cfg.listen).await?;
        let (adm_l, adm_a) = bind(
            cfg.admin_listen
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await?;
        let mut tasks = vec![fabric_task];
        let c = ctx.clone();
        let ec2 = Arc::new(move |req: Request<Incoming>| server::handle(c.clone(), req));
        tasks.push(tokio::spawn(crate::http::serve(
            ec2_l,
            Some(tls.clone()),
            shutdown_rx.clone(),
            ec2,
        )));
        let (sts_l, sts_a) = bind(
            cfg.sts_listen
                .unwrap_or(SocketAddr::new(cfg.listen.ip(), 0)),
        )
        .await?;
        let c = ctx.clone();
        let svc = Arc::new(move |req: Request<Incoming>| sts::handle(c.clone(), req));
        tasks.push(tokio::spawn(crate::http::serve(
            sts_l,
            Some(tls.clone()),
            shutdown_rx.clone(),
            svc,
        )));
        let (pod_l, pod_a) = bind(
            cfg.pod_identity_listen
                .unwrap_or(SocketAddr::new(cfg.listen.ip(), 0)),
        )
        .await?;
        let c = ctx.clone();
        let svc = Arc::new(move |req: Request<Incoming>| {
            pod_identity::handle(c.clone(), req, pod_a.ip())
        });
        tasks.push(tokio::spawn(crate::http::serve(
            pod_l,
            None,
            shutdown_rx.clone(),
            svc,
        )));
        let c = ctx.clone();
        let adm = Arc::new(move |req: Request<Incoming>| admin::handle(c.clone(), req));
        tasks.push(tokio::spawn(crate::http::serve(
            adm_l,
            None,
            shutdown_rx.clone(),
            adm,
        )));
        let imds_ip = cfg.imds_ip.unwrap_or(cfg.listen.ip());
        let (mut imds_addrs, mut imds_urls) = (HashMap::new(), BTreeMap::new());
        for inst in &cfg.inventory.instances {
            let (l, a) = bind(SocketAddr::new(imds_ip, inst.imds_port.unwrap_or(0))).await?;
            let (c, id) = (ctx.clone(), inst.id.clone());
            let svc =
                Arc::new(move |req: Request<Incoming>| imds::handle(c.clone(), req, id.clone()));
            tasks.push(tokio::spawn(crate::http::serve(
                l,
                None,
                shutdown_rx.clone(),
                svc,
            )));
            imds_addrs.insert(inst.id.clone(), a);
            imds_urls.insert(inst.id.clone(), format!("http://{a}"));
        }
        let urls = AwsSimUrls {
            ec2: format!("https://{ec2_a}"),
            admin: format!("http://{adm_a}"),
            sts: format!("https://{sts_a}"),
            pod_identity: format!("http://{pod_a}{}", pod_identity::PATH),
            imds: imds_urls,
            region: cfg.inventory.region.clone(),
            ca_path: cfg.ca_out.clone(),
        };
        tracing::info!(ec2 = %urls.ec2, admin = %urls.admin, region = %urls.region, "cloudsim aws front started");
        Ok(AwsSimHandle {
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

impl AwsSimHandle {
    /// All URLs.
    pub fn urls(&self) -> &AwsSimUrls {
        &self.urls
    }
    /// EC2 endpoint URL.
    pub fn ec2_url(&self) -> &str {
        &self.urls.ec2
    }
    /// Admin base URL.
    pub fn admin_url(&self) -> &str {
        &self.urls.admin
    }
    /// STS endpoint URL.
    pub fn sts_url(&self) -> &str {
        &self.urls.sts
    }
    /// The Pod Identity agent's credentials URL.
    pub fn pod_identity_url(&self) -> &str {
        &self.urls.pod_identity
    }
    /// IMDS base URL of an instance.
    pub fn imds_url(&self, instance_id: &str) -> Option<&str> {
        self.urls.imds.get(instance_id).map(String::as_str)
    }
    /// IMDS listener address of an instance (for a loopback forwarder).
    pub fn imds_addr(&self, instance_id: &str) -> Option<SocketAddr> {
        self.imds_addrs.get(instance_id).copied()
    }
    /// The CA certificate (PEM) to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// The region (the SigV4 scope accepted).
    pub fn region(&self) -> &str {
        &self.urls.region
    }
    /// Fault injection.
    pub fn faults(&self) -> AwsFaults {
        self.ctx.faults.clone()
    }
    /// The call log.
    pub fn call_log(&self) -> AwsCallLog {
        self.ctx.calls.clone()
    }
    /// The ENI a secondary address is visible on now (what Describe answers).
    pub fn owner(&self, ip: Ipv4Addr) -> Option<String> {
        self.ctx.owner(ip)
    }
    /// What the fabric applied last.
    pub fn fabric_status(&self) -> FabricStatus {
        self.ctx.fabric.status()
    }
    /// Waits until every remap in flight is visible and the fabric has applied every
    /// change made so far.
    pub async fn wait_fabric_synced(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.ctx.remaps_in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.ctx.fabric.wait_synced(left).await
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
