//! L2-only mode (`--cloud-provider none`): no cloud call; an assignment is confirmed at once.
//! For bare metal (the address plus gratuitous ARP is all it takes) and as the e2e negative
//! control on a cloud that does need the call.

use std::net::IpAddr;

use futures::future::BoxFuture;

use super::{CloudAssignment, CloudError, CloudProvider, CloudRef, MoveRequest};

/// The provider that does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCloud;

impl CloudProvider for NoCloud {
    fn name(&self) -> &'static str {
        "none"
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
