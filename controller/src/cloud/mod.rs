//! The cloud side of a move, behind one small trait so the reconciler does not know which cloud
//! it talks to.
//!
//! Data flow: the reconciler hands a [`MoveRequest`] (VIP, subnet, the node's providerID) to
//! [`CloudProvider::ensure_assigned`], which returns once the cloud confirms the assignment;
//! the [`CloudAssignment`] identifiers go into `status.cloud`, and come back as a [`CloudRef`]
//! for a release or a permission check. Implementations: [`none`] (L2-only, no call), [`fake`]
//! (in memory, for tests) and, with the `oci` and `aws` features, the OCI and AWS adapters.

use std::net::IpAddr;

use futures::future::BoxFuture;

#[cfg(feature = "aws")]
pub mod aws;
pub mod fake;
pub mod none;
#[cfg(feature = "oci")]
pub mod oci;

/// Reads the extra PEM CA bundle a cloud flag (`flag`, for the message) names, if any.
pub fn read_ca_bundle(
    path: Option<&std::path::Path>,
    flag: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    path.map(|p| {
        std::fs::read(p).map_err(|e| anyhow::anyhow!("reading {flag} {}: {e}", p.display()))
    })
    .transpose()
}

/// What to assign where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveRequest {
    /// The VIP.
    pub address: IpAddr,
    /// The subnet the address belongs to (OCI subnet OCID); empty in L2-only mode.
    pub subnet_id: String,
    /// `spec.providerID` of the target node.
    pub provider_id: String,
    /// A display name for a newly created private IP (e.g. `pgvip-<ns>-<name>`).
    pub display_name: Option<String>,
}

/// The cloud's confirmation of where the address sits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudAssignment {
    /// VNIC holding the address.
    pub vnic_id: Option<String>,
    /// The private IP object.
    pub private_ip_id: Option<String>,
    /// The provider created the private IP in this call.
    pub created: bool,
    /// The call changed anything (create or move).
    pub changed: bool,
    /// Request ids of the calls made, for support cases.
    pub opc_request_ids: Vec<String>,
}

/// Where `status.cloud` says an address sits: what a release or a permission check acts on.
/// OCI needs the private IP object; AWS, which has none, the network interface and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudRef {
    /// The VIP.
    pub address: IpAddr,
    /// The subnet from the spec.
    pub subnet_id: String,
    /// The interface holding the address (OCI VNIC, AWS ENI).
    pub vnic_id: Option<String>,
    /// The private IP object (OCI only).
    pub private_ip_id: Option<String>,
}

impl CloudRef {
    /// The reference to an assignment the cloud reported.
    pub fn of(address: IpAddr, subnet_id: &str, a: &CloudAssignment) -> Self {
        Self {
            address,
            subnet_id: subnet_id.to_string(),
            vnic_id: a.vnic_id.clone(),
            private_ip_id: a.private_ip_id.clone(),
        }
    }

    /// The reference `status.cloud` records for `address` in `subnet_id`.
    pub fn recorded(address: IpAddr, subnet_id: &str, c: &pgvip_api::CloudStatus) -> Self {
        Self {
            address,
            subnet_id: subnet_id.to_string(),
            vnic_id: c.vnic_id.clone(),
            private_ip_id: c.private_ip_id.clone(),
        }
    }

    /// Names anything to act on.
    pub fn is_known(&self) -> bool {
        self.vnic_id.is_some() || self.private_ip_id.is_some()
    }
}

/// A failed cloud call. `category` is a fixed string for metrics, Events and conditions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CloudError {
    /// Fixed, low-cardinality kind (e.g. `permission`, `throttled`, `timeout`).
    pub category: &'static str,
    /// What failed and what to check; never contains secrets.
    pub message: String,
    /// Retrying later may succeed without operator action.
    pub transient: bool,
    /// Request id of the failing call, when there was one.
    pub opc_request_id: Option<String>,
}

/// A cloud whose control plane must bind the VIP to the holder's network interface.
pub trait CloudProvider: Send + Sync {
    /// Short name for logs and metrics (`oci`, `aws`, `l2`, `none`, `fake`).
    fn name(&self) -> &'static str;

    /// The PostgresVip provider block this cloud reads (`spec.provider.<key>.subnetId`).
    fn spec_key(&self) -> &'static str {
        self.name()
    }

    /// Whether a PostgresVip with this provider block is for this cloud (the block of
    /// [`spec_key`](Self::spec_key) is the one set).
    fn accepts_spec(&self, spec: &pgvip_api::ProviderSpec) -> bool {
        spec.kind() == Some(self.spec_key())
    }

    /// True when no cloud call is made (bare metal, L2 only): nodes need no providerID and
    /// specs need no subnet.
    fn l2_only(&self) -> bool;

    /// Makes the cloud route `address` to the node named by `req.provider_id`, creating the
    /// private IP when needed and doing nothing when it is already there. Idempotent.
    fn ensure_assigned<'a>(
        &'a self,
        req: &'a MoveRequest,
    ) -> BoxFuture<'a, Result<CloudAssignment, CloudError>>;

    /// Confirms, without a call of its own, that `req.address` already sits where
    /// [`Self::ensure_assigned`] would put it: `Some` from a listing of the subnet no older than
    /// `max_age` that many VIPs share, `None` when that cannot tell (then call
    /// `ensure_assigned`). For the confirmations after a takeover; never for a move.
    fn confirm_assigned<'a>(
        &'a self,
        _req: &'a MoveRequest,
        _max_age: std::time::Duration,
    ) -> BoxFuture<'a, Result<Option<CloudAssignment>, CloudError>> {
        Box::pin(async { Ok(None) })
    }

    /// Where the cloud routes `address` now, if anywhere.
    fn current_assignment<'a>(
        &'a self,
        address: IpAddr,
        subnet_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CloudAssignment>, CloudError>>;

    /// Removes an address pgvip created from the cloud (OCI: deletes the private IP; AWS:
    /// unassigns it from the interface). Releasing one that is already gone succeeds.
    fn release<'a>(&'a self, target: &'a CloudRef) -> BoxFuture<'a, Result<(), CloudError>>;

    /// The interface a move to the node `provider_id` would bind the address to (OCI: the
    /// ATTACHED VNIC in `subnet_id`), for the failover-readiness check: from a lookup no older
    /// than `max_age`, which a move may already have made.
    fn node_interface<'a>(
        &'a self,
        provider_id: &'a str,
        subnet_id: &'a str,
        max_age: std::time::Duration,
    ) -> BoxFuture<'a, Result<String, CloudError>>;

    /// True when [`Self::check_move_permission`] can prove the move permission without moving
    /// anything. EC2 cannot: `AssignPrivateIpAddresses` has no `DryRun` parameter, so on AWS the
    /// first move is the proof.
    fn proves_move_permission(&self) -> bool {
        true
    }

    /// Proves the credentials may move the address `target` names, without moving it.
    fn check_move_permission<'a>(
        &'a self,
        target: &'a CloudRef,
    ) -> BoxFuture<'a, Result<(), CloudError>>;
}
