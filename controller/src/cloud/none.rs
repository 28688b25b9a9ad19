//! No cloud call; an assignment is confirmed at once. Two modes share it:
//! - `--cloud-provider l2`: bare metal or VMs on one layer-2 segment, where the address plus
//!   the announcement is all it takes. PostgresVips must say so (`spec.provider.l2`).
//! - `--cloud-provider none`: the same with any provider block, for the e2e negative control on
//!   a cloud that does need the call (it reproduces the bug the cloud move fixes).

use std::net::IpAddr;

use futures::future::BoxFuture;

use super::{CloudAssignment, CloudError, CloudProvider, CloudRef, MoveRequest};

/// The provider that does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoCloud {
    /// L2 mode (`l2`): only PostgresVips with `spec.provider.l2`; else (`none`) any.
    l2_mode: bool,
}

impl NoCloud {
    /// `--cloud-provider l2`.
    pub const L2: NoCloud = NoCloud { l2_mode: true };
    /// `--cloud-provider none`.
    pub const ANY_SPEC: NoCloud = NoCloud { l2_mode: false };
}

impl CloudProvider for NoCloud {
    fn name(&self) -> &'static str {
        if self.l2_mode {
            "l2"
        } else {
            "none"
        }
    }

    fn accepts_spec(&self, spec: &pgvip_api::ProviderSpec) -> bool {
        !self.l2_mode || spec.kind() == Some("l2")
    }

    fn l2_only(&self) -> bool {
        true
    }

    fn ensure_assigned<'a>(
        &'a self,
        _req: &'a MoveRequest,
    ) -> BoxFuture<'a, Result<CloudAssignment, CloudError>> {
        Box::pin(async { Ok(CloudAssignment::default()) })
    }

    fn current_assignment<'a>(
        &'a self,
        _address: IpAddr,
        _subnet_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CloudAssignment>, CloudError>> {
        Box::pin(async { Ok(None) })
    }

    fn release<'a>(&'a self, _target: &'a CloudRef) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async { Ok(()) })
    }

    fn node_interface<'a>(
        &'a self,
        _provider_id: &'a str,
        _subnet_id: &'a str,
        _max_age: std::time::Duration,
    ) -> BoxFuture<'a, Result<String, CloudError>> {
        Box::pin(async { Ok(String::new()) })
    }

    fn check_move_permission<'a>(
        &'a self,
        _target: &'a CloudRef,
    ) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async { Ok(()) })
    }
}
