//! Starting an in-process `pgvip-cloudsim` on 127.0.0.1 and building real `OciClient`s for each
//! auth mode against it.
//!
//! Data flow: [`inventory`] describes the simulated tenancy (the simulator's example world plus
//! API users with different IAM grants and two accepted service-account tokens); [`start`]
//! boots the simulator from it with a pre-generated key pool; the `*_client` helpers build
//! clients the way the controller does (`OciClient::new` from an `OciConfig`), pointed at the
//! simulator's URLs and trusting its CA. Tests then assert on the simulator's own state and
//! call log, never on the client's view alone.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use pgvip_cloudsim::inventory::{ApiUser, Instance, Permissions, SecondaryIp, Vnic, WorkloadToken};
use pgvip_cloudsim::{CallRecord, Failure, Inventory, Operation, Sim, SimConfig, SimHandle};
use pgvip_oci::{AuthConfig, MoveRequest, OciClient, OciConfig, OciError};

/// The OCI documentation's sample key (PKCS#1), and the same key as PKCS#8 and encrypted PKCS#8.
pub const KEY_PKCS1: &str = include_str!("../fixtures/oci_doc_key.pem");
pub const KEY_PKCS8: &str = include_str!("../fixtures/oci_doc_key_pkcs8.pem");
pub const KEY_PKCS8_ENC: &str = include_str!("../fixtures/oci_doc_key_pkcs8_enc.pem");
pub const KEY_PASSPHRASE: &str = "s3cret";
const PUBLIC_KEY: &str = include_str!("../fixtures/oci_doc_pub.pem");
pub const FINGERPRINT: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";
/// Throw-away RSA-2048 keys for the simulator's token signer and instance identities.
const KEY_POOL: &str = include_str!("../fixtures/sim_key_pool.pem");

/// API user with every grant pgvip needs.
pub const USER: &str = "ocid1.user.oc1..pgvip";
/// API user that may read but not `use private-ips` / `use vnics`.
pub const USER_READ_ONLY: &str = "ocid1.user.oc1..readonly";
/// API user with no grant at all.
pub const USER_NO_GRANTS: &str = "ocid1.user.oc1..nogrants";
/// Service-account tokens the proxymux accepts, and the workload principals they map to.
pub const SA_TOKEN: &str = "sa-token-pgvip-1";
pub const SA_TOKEN_ROTATED: &str = "sa-token-pgvip-2";
pub const WORKLOAD: &str = "workload:pgvip-system/pgvip-controller";
pub const WORKLOAD_ROTATED: &str = "workload:pgvip-system/pgvip-controller#2";

/// The example world: subnet A `10.0.10.0/24` (+ `fd00:10::/64`) holds n1 and n2, subnet B
/// `10.0.20.0/24` holds n3; the VIP `10.0.10.200` starts on n1.
pub const SUBNET_A: &str = "ocid1.subnet.oc1.iad.a";
pub const COMPARTMENT: &str = "ocid1.compartment.oc1..ocisim";
pub const I1: &str = "ocid1.instance.oc1.iad.n1";
pub const I2: &str = "ocid1.instance.oc1.iad.n2";
pub const I3: &str = "ocid1.instance.oc1.iad.n3";
pub const VNIC1: &str = "ocid1.vnic.oc1.iad.n1";
pub const VNIC2: &str = "ocid1.vnic.oc1.iad.n2";
pub const VIP: &str = "10.0.10.200";
pub const VIP_ID: &str = "ocid1.privateip.oc1.iad.vip";
pub const VIP6: &str = "fd00:10::200";
pub const VIP6_ID: &str = "ocid1.ipv6.oc1.iad.vip6";

/// A running simulator and the directory holding its CA file.
pub struct Env {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
}

fn user(id: &str, read: bool, update: bool) -> ApiUser {
    ApiUser {
        user_id: id.into(),
        fingerprint: FINGERPRINT.into(),
        public_key_pem: PUBLIC_KEY.into(),
        permissions: Permissions { read, update },
    }
}

/// The simulated tenancy every test starts from.
pub fn inventory() -> Inventory {
    let mut inv = Inventory::example();
    inv.users = vec![
        user(USER, true, true),
        user(USER_READ_ONLY, true, false),
        user(USER_NO_GRANTS, false, false),
    ];
    for (token, principal) in [(SA_TOKEN, WORKLOAD), (SA_TOKEN_ROTATED, WORKLOAD_ROTATED)] {
        inv.workload_tokens.push(WorkloadToken {
            token: token.into(),
            principal: principal.into(),
            permissions: Permissions::default(),
        });
    }
    inv.secondary_ips.push(SecondaryIp {
        id: Some(VIP6_ID.into()),
        ip_address: VIP6.into(),
        vnic_id: VNIC1.into(),
        display_name: Some("vip6".into()),
        hostname_label: None,
    });
    inv
}

/// Adds `count` more instances in subnet A (`ocid1.instance.oc1.iad.m<i>`, one VNIC each) and
/// `ips` secondary IPs `10.0.10.(20+j)`, the j-th on instance `j % count`. Returns their
/// instance OCIDs and VNIC OCIDs.
pub fn add_load_world(inv: &mut Inventory, count: usize, ips: usize) -> Vec<(String, String)> {
    let template = inv.instances[0].clone();
    let mut out = Vec::new();
    for i in 0..count {
        let id = format!("ocid1.instance.oc1.iad.m{i}");
        let vnic = format!("ocid1.vnic.oc1.iad.m{i}");
        inv.instances.push(Instance {
            id: id.clone(),
            display_name: format!("m{i}"),
            vnics: vec![Vnic::primary(
                &vnic,
                &format!("02:00:17:00:01:{i:02x}"),
                SUBNET_A,
                &format!("10.0.10.{}", 2 + i),
                &format!("m{i}"),
            )],
            ..template.clone()
        });
        out.push((id, vnic));
    }
    for j in 0..ips {
        inv.secondary_ips.push(SecondaryIp {
            id: None,
            ip_address: load_ip(j).to_string(),
            vnic_id: out[j % count].1.clone(),
            display_name: None,
            hostname_label: None,
        });
    }
    out
}

/// The j-th address of [`add_load_world`].
pub fn load_ip(j: usize) -> IpAddr {
    format!("10.0.10.{}", 20 + j).parse().unwrap()
}

/// Starts the simulator with [`inventory`] after `f` adjusts the configuration.
pub async fn start(f: impl FnOnce(&mut SimConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::new(inventory(), dir.path().join("ca.pem"));
    cfg.key_pool = pgvip_cloudsim::keys::split_pem_private_keys(KEY_POOL);
    f(&mut cfg);
    let sim = Sim::start(cfg).await.unwrap();
    Env { sim, dir }
}

/// The simulator as [`inventory`] describes it, and a client for API user `user`.
pub async fn start_as(user: &str) -> (Env, OciClient) {
    let env = start(|_| {}).await;
    let client = env.user_client(user).await;
    (env, client)
}

impl Env {
    /// A config pointed at the simulator's Core Services, trusting its CA, with fast retries.
    pub fn config(&self, auth: AuthConfig) -> OciConfig {
        let mut c = OciConfig::new(Some("us-ashburn-1".into()), auth);
        c.iaas_endpoint = Some(self.sim.core_url().to_string());
        c.extra_ca_pem = Some(self.sim.ca_pem().as_bytes().to_vec());
        c.rate_limit_per_sec = 1000.0;
        c.burst = 1000;
        c.backoff_base = Duration::from_millis(20);
        c.backoff_max = Duration::from_millis(200);
        c.call_timeout = Duration::from_secs(5);
        c.move_deadline = Duration::from_secs(30);
        c
    }

    /// API-key auth for `user` with the key PEM `key` (written to a file).
    pub fn api_key(&self, user: &str, key: &str, passphrase: Option<&str>) -> AuthConfig {
        let key_path = self.write(&format!("key-{}.pem", rand_suffix()), key);
        let passphrase_path = passphrase.map(|p| self.write(&format!("pass-{}", rand_suffix()), p));
        AuthConfig::ApiKey {
            tenancy: inventory().tenancy_id,
            user: user.into(),
            fingerprint: FINGERPRINT.into(),
            key_path,
            passphrase_path,
        }
    }

    /// A config for API user `user` (PKCS#1 key), as [`Env::config`] sets it up.
    pub fn user_config(&self, user: &str) -> OciConfig {
        self.config(self.api_key(user, KEY_PKCS1, None))
    }

    /// A client for API user `user` (PKCS#1 key).
    pub async fn user_client(&self, user: &str) -> OciClient {
        OciClient::new(self.user_config(user)).await.unwrap()
    }

    /// Instance-principal auth of `instance` through the simulator's IMDS and federation.
    pub fn instance_principal(&self, instance: &str) -> AuthConfig {
        AuthConfig::InstancePrincipal {
            imds_url: Some(self.sim.imds_url(instance).unwrap().to_string()),
            federation_url: Some(self.sim.federation_url().to_string()),
        }
    }

    /// Workload-identity auth reading the service-account token from `token_path` and trusting
    /// only the CA in `ca_path` for the proxymux.
    pub fn workload_identity(&self, token_path: PathBuf, ca_path: PathBuf) -> AuthConfig {
        AuthConfig::WorkloadIdentity {
            token_path,
            ca_path,
            endpoint: Some(format!(
                "{}/resourcePrincipalSessionTokens",
                self.sim.proxymux_url()
            )),
        }
    }

    /// Writes a file in the test directory.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// The simulator's call log for `op`.
    pub fn calls(&self, op: Operation) -> Vec<CallRecord> {
        self.sim.call_log().of(op)
    }

    /// Every Core Services record of the call log (identity and IMDS calls excluded).
    pub fn core_calls(&self) -> Vec<CallRecord> {
        self.sim
            .call_log()
            .records()
            .into_iter()
            .filter(|r| {
                !matches!(
                    r.operation,
                    Operation::X509Federation
                        | Operation::OkeWorkloadToken
                        | Operation::Imds
                        | Operation::Admin
                )
            })
            .collect()
    }

    /// The VNIC holding `ip` according to the simulator's control plane.
    pub fn holder(&self, ip: &str) -> Option<String> {
        self.sim.assignment(ip.parse().unwrap())
    }

    /// Asserts that the simulator's control plane has `ip` on `vnic`.
    #[track_caller]
    pub fn assert_on(&self, ip: &str, vnic: &str) {
        assert_eq!(self.holder(ip).as_deref(), Some(vnic), "holder of {ip}");
    }

    /// Makes the simulator answer the next `times` calls of `op` with `failure`.
    pub fn fail_next(&self, op: Operation, times: u32, failure: Failure) {
        self.sim.faults().fail_next(Some(op), times, failure);
    }
}

/// The error a move of `ip` onto `instance` fails with; panics if it succeeds.
pub async fn move_err(client: &OciClient, ip: &str, instance: &str) -> OciError {
    match client.ensure_assigned(&to(ip, instance)).await {
        Ok(a) => panic!("moving {ip} to {instance} succeeded: {a:?}"),
        Err(e) => e,
    }
}

/// The `(operation, resource, policy)` of a [`OciError::Permission`]; panics on any other error.
#[track_caller]
pub fn permission(e: &OciError) -> (&'static str, &str, &str) {
    match e {
        OciError::Permission {
            operation,
            resource,
            policy,
            ..
        } => (operation, resource, policy),
        other => panic!("not a permission error: {other:?}"),
    }
}

/// Put `ip` (subnet A) on `instance`'s VNIC.
pub fn to(ip: &str, instance: &str) -> MoveRequest {
    MoveRequest {
        ip: ip.parse().unwrap(),
        subnet_id: SUBNET_A.into(),
        provider_id: format!("oci://{instance}"),
        display_name: Some("pgvip-test".into()),
    }
}

fn rand_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Milliseconds since midnight of a call-log timestamp (`…THH:MM:SS.mmm…`).
pub fn millis_of_day(ts: &str) -> u64 {
    let t = ts.split('T').nth(1).unwrap();
    let h: u64 = t[0..2].parse().unwrap();
    let m: u64 = t[3..5].parse().unwrap();
    let s: u64 = t[6..8].parse().unwrap();
    let ms: u64 = t
        .get(9..12)
        .and_then(|x| x.parse().ok())
        .unwrap_or_default();
    ((h * 60 + m) * 60 + s) * 1000 + ms
}
