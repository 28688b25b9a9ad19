//! `PostgresVip.spec`: what the user asks for. Every field's `///` doc becomes its
//! `kubectl explain` text; validation that can run at admission time lives here as OpenAPI
//! bounds and CEL rules, so a bad object is rejected by `kubectl apply` with a clear message.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::PostgresVipStatus;

/// A virtual IP that follows the primary (or a healthy replica) of one PostgreSQL cluster.
///
/// The controller moves the cloud assignment of `address` to the VNIC of the node that hosts
/// the confirmed leader, and the node-agent on that node configures the address and announces
/// it with gratuitous ARP; every other node removes it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "pgvip.dev",
    version = "v1alpha1",
    kind = "PostgresVip",
    plural = "postgresvips",
    singular = "postgresvip",
    shortname = "pgvip",
    namespaced,
    status = "PostgresVipStatus",
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.address"}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.role"}"#,
    printcolumn = r#"{"name":"Leader","type":"string","jsonPath":".status.leader.pod"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.assignedNode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.patroni) != has(self.labels)",
        "message": "set exactly one leader source: spec.patroni (Patroni clusters) or spec.labels (label-marked primaries of other operators)"
    }
]))]
pub struct PostgresVipSpec {
    /// The virtual IP address, IPv4 or IPv6 (for example 10.0.1.100). It must lie inside the
    /// subnet named by the provider; unspecified, loopback, link-local, multicast and broadcast
    /// addresses are rejected.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isIP(self) && ip(self).isGlobalUnicast()",
        "message": "address must be a unicast IPv4 or IPv6 address, such as 10.0.1.100 or fd00::64"
    }]))]
    pub address: String,

    /// Which member the address follows: `primary` (the Patroni leader; writes) or `replica`
    /// (a healthy streaming replica; reads, sticky while it stays healthy).
    #[serde(default)]
    pub role: VipRole,

    /// Patroni cluster whose leader lock the address follows. Set this or `labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patroni: Option<PatroniSource>,

    /// Label-selected members for operators that mark their primary with a pod label (Zalando
    /// Spilo, CloudNativePG, Crunchy PGO). Set this or `patroni`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelSource>,

    /// The cloud whose control plane must assign the address to the holder's network interface.
    pub provider: ProviderSpec,

    /// How the holder announces the address on its link after the cloud assignment.
    #[serde(default)]
    pub announce: AnnounceSpec,

    /// What the data-path check proves through the address, besides Patroni's REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_path: Option<DataPathSpec>,
}

/// Extra proof of the data path.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataPathSpec {
    /// PostgreSQL port on the address. When set, every data-path check (after a failover and
    /// every `--data-path-interval-seconds`) also opens a TCP connection to it and sends
    /// PostgreSQL's SSLRequest; a server answering `S` or `N` proves PostgreSQL itself answers
    /// through the address. No credentials are needed or sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub postgres_port: Option<u16>,
}

/// The role a VIP follows.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VipRole {
    /// The cluster's primary (Patroni leader). The default.
    #[default]
    Primary,
    /// A healthy replica.
    Replica,
}

/// A Patroni cluster using the Kubernetes DCS, in the PostgresVip's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatroniSource {
    /// Patroni `scope` (cluster name). The leader lock is the `<scope>-leader` ConfigMap, or the
    /// `<scope>` Endpoints when `useEndpoints` is true.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub scope: String,

    /// Patroni's `kubernetes.use_endpoints` setting: the leader lock lives in an Endpoints object
    /// instead of a ConfigMap.
    #[serde(default)]
    pub use_endpoints: bool,

    /// Label selector of the cluster's member pods. Defaults to Patroni's own
    /// `cluster-name=<scope>` labelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<BTreeMap<String, String>>,

    /// Patroni REST API used to confirm the leader (`GET /primary`) or a replica (`GET /replica`).
    #[serde(default)]
    pub rest_api: RestApiSpec,
}

/// How to reach a member's health endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestApiSpec {
    /// TCP port of the REST API on the pod IP.
    #[serde(default = "default_rest_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,

    /// `http` or `https`.
    #[serde(default)]
    pub scheme: Scheme,

    /// Secret key holding the PEM CA bundle that signs the REST API's certificate (https only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

impl Default for RestApiSpec {
    fn default() -> Self {
        Self {
            port: default_rest_port(),
            scheme: Scheme::Http,
            ca_secret_ref: None,
        }
    }
}

fn default_rest_port() -> u16 {
    8008
}

/// URL scheme of a health endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP. The default.
    #[default]
    Http,
    /// HTTPS, verified against `caSecretRef`.
    Https,
}

/// A key inside a Secret in the PostgresVip's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Members selected by labels, with the primary marked by a role label, confirmed through a
/// health endpoint (Spilo: `spilo-role=master`; CloudNativePG: `cnpg.io/instanceRole=primary`;
/// Crunchy: `postgres-operator.crunchydata.com/role=master`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSource {
    /// Labels every member pod of the cluster carries.
    #[schemars(length(min = 1))]
    pub match_labels: BTreeMap<String, String>,
    /// The label whose value names a member's role.
    #[schemars(length(min = 1, max = 317))]
    pub role_label: String,
    /// Value of `roleLabel` on the primary.
    #[schemars(length(min = 1, max = 63))]
    pub primary_value: String,
    /// Value of `roleLabel` on a replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_value: Option<String>,
    /// Health endpoint that must answer 200 on the selected member before it gets the address.
    pub health: HealthCheck,
}

/// An HTTP(S) health endpoint on the member's pod IP.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// TCP port on the pod IP.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Path that answers 200 only on a healthy member of the wanted role.
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// Secret key holding the PEM CA bundle for https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

/// The provider block: which system makes the network deliver the address to its holder.
/// Exactly one is set, and it must be the one the controller runs with (`--cloud-provider`);
/// a mismatch is reported as `InvalidSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "[has(self.oci), has(self.aws), has(self.l2)].filter(x, x).size() == 1",
    "message": "exactly one of provider.oci, provider.aws and provider.l2 must be set"
}]))]
pub struct ProviderSpec {
    /// Oracle Cloud Infrastructure: the address is a secondary private IP moved between VNICs.
    /// Credentials live in the controller's configuration, not here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciProvider>,
    /// Amazon EC2 (EKS): the address is a secondary private IP moved between network interfaces
    /// with `AssignPrivateIpAddresses` (`AllowReassignment`). Credentials live in the
    /// controller's configuration (IRSA, EKS Pod Identity or the instance profile), not here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsProvider>,
    /// One layer-2 segment, no cloud (bare metal, VMs on one VLAN): the node-agents configure
    /// the address on the holder and announce it (gratuitous ARP, unsolicited neighbour
    /// advertisement); nothing else has to be told. Needs `--cloud-provider l2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<L2Provider>,
}

impl ProviderSpec {
    /// The provider's key (`oci`, `aws`) and the subnet the address belongs to, when one is set.
    pub fn subnet(&self) -> Option<(&'static str, &str)> {
        match (&self.oci, &self.aws) {
            (Some(o), _) => Some(("oci", o.subnet_id.as_str())),
            (None, Some(a)) => Some(("aws", a.subnet_id.as_str())),
            (None, None) => None,
        }
    }

    /// The key of the block that is set (`oci`, `aws`, `l2`), the first one when several are.
    pub fn kind(&self) -> Option<&'static str> {
        match (&self.oci, &self.aws, &self.l2) {
            (Some(_), _, _) => Some("oci"),
            (None, Some(_), _) => Some("aws"),
            (None, None, Some(_)) => Some("l2"),
            (None, None, None) => None,
        }
    }

    /// The subnet of the provider `kind` (`oci`, `aws`), when that provider is the one set.
    pub fn subnet_for(&self, kind: &str) -> Option<&str> {
        self.subnet().filter(|(k, _)| *k == kind).map(|(_, s)| s)
    }
}

/// OCI settings of one VIP.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciProvider {
    /// OCID of the subnet the address belongs to. The holder's VNIC is the ATTACHED VNIC of the
    /// node's instance in this subnet.
    #[schemars(regex(pattern = r"^ocid1\.subnet\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9.-]+$"))]
    pub subnet_id: String,
}

/// AWS settings of one VIP.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    /// ID of the VPC subnet the address belongs to (`subnet-` and 8 or 17 hex digits). The
    /// holder's network interface is the one attached to the node's instance in this subnet.
    #[schemars(regex(pattern = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"))]
    pub subnet_id: String,
}

/// Layer-2 mode settings of one VIP (none yet: the block says which mode the VIP is in).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct L2Provider {}

/// Gratuitous ARP (IPv4) / unsolicited neighbour advertisement (IPv6) settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnounceSpec {
    /// How many announcements to send after each assignment (1 to 20). Around a move the
    /// agent also announces every 10 ms while the move to its node is under way (at most 3 s)
    /// and for 500 ms after it, since a cloud's data plane can lag its API.
    #[serde(default = "default_garp_count")]
    #[schemars(range(min = 1, max = 20))]
    pub garp_count: u32,
    /// Milliseconds between announcements (10 to 10000).
    #[serde(default = "default_garp_interval")]
    #[schemars(range(min = 10, max = 10000))]
    pub garp_interval_millis: u32,
    /// Interface to configure the address on. Default: the interface whose connected subnet
    /// contains the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    pub interface: Option<String>,
}

impl Default for AnnounceSpec {
    fn default() -> Self {
        Self {
            garp_count: default_garp_count(),
            garp_interval_millis: default_garp_interval(),
            interface: None,
        }
    }
}

fn default_garp_count() -> u32 {
    3
}

fn default_garp_interval() -> u32 {
    500
}
