//! Confirming an assignment without a call of its own: after a takeover the controller checks,
//! for every VIP, that the cloud still has the address where the status says, before it trusts
//! the status. One listing of the subnet answers that for all of a subnet's VIPs.
//!
//! Data flow: [`OciClient::confirm_from_listing`] → the node's VNIC (shared cache, as for a
//! move) and the subnet's listing (`ListPrivateIps`/`ListIpv6s` by subnet, paged, shared by
//! concurrent callers and reused while younger than the caller's `max_age`) → `Some` when the
//! address sits on that VNIC; `None` sends the caller to [`OciClient::ensure_assigned`], which
//! reads the address itself and moves it if needed.

use std::sync::Arc;
use std::time::Duration;

use crate::client::{Assignment, Context, Listing, MoveRequest, OciClient};
use crate::decision::parse_provider_id;
use crate::error::OciError;
use crate::ops::Family;

/// Most pages one listing may take (1000 addresses a page).
const MAX_PAGES: usize = 64;

impl OciClient {
    /// Where `req.ip` is according to a listing of its subnet no older than `max_age`, if that
    /// is the VNIC a move to `req.provider_id` would use; `None` otherwise (not listed, elsewhere,
    /// unassigned): the caller then calls [`OciClient::ensure_assigned`]. Confirming every VIP of
    /// a subnet this way costs one listing (a page per 1000 addresses) and one VNIC lookup per
    /// node, where `ensure_assigned` costs a call per VIP.
    pub async fn confirm_from_listing(
        &self,
        req: &MoveRequest,
        max_age: Duration,
    ) -> Result<Option<Assignment>, OciError> {
        let deadline = self.inner.cfg.move_deadline;
        match tokio::time::timeout(deadline, self.confirm_inner(req, max_age)).await {
            Ok(r) => r,
            Err(_) => Err(OciError::Timeout {
                operation: "ConfirmFromListing",
                after: deadline,
            }),
        }
    }

    async fn confirm_inner(
        &self,
        req: &MoveRequest,
        max_age: Duration,
    ) -> Result<Option<Assignment>, OciError> {
        let instance_id = parse_provider_id(&req.provider_id)?;
        let mut ids = Vec::new();
        let (target, _) = self
            .target_vnic(&instance_id, &req.subnet_id, &mut ids, None)
            .await?;
        let listing = self
            .listing(&req.subnet_id, Family::of(req.ip), max_age)
            .await?;
        let Some(rec) = listing.by_ip.get(&req.ip) else {
            return Ok(None);
        };
        if rec.vnic_id.as_deref() != Some(target.vnic_id.as_str()) {
            return Ok(None);
        }
        ids.extend(listing.request_ids.iter().cloned());
        Ok(Some(Assignment {
            private_ip_id: rec.id.clone(),
            vnic_id: target.vnic_id,
            ip: req.ip,
            created: false,
            changed: false,
            opc_request_ids: ids,
        }))
    }

    /// The subnet's addresses of family `fam`, listed at most `max_age` ago; concurrent
    /// callers wait for one listing.
    async fn listing(
        &self,
        subnet_id: &str,
        fam: Family,
        max_age: Duration,
    ) -> Result<Arc<Listing>, OciError> {
        let key = (subnet_id.to_string(), fam);
        let cache = &self.inner.listings;
        if let Some(l) = cache.get(&key, Some(max_age)) {
            return Ok(l);
        }
        let gate = cache.gate(&key);
        let _one = gate.lock().await;
        if let Some(l) = cache.get(&key, Some(max_age)) {
            return Ok(l);
        }
        let r = self
            .ops()
            .list_subnet_ips(fam, subnet_id, MAX_PAGES)
            .await
            .map_err(|f| self.map_failure(f, fam.ops()[0], subnet_id, Context::MayBeMissing))?;
        let by_ip = r
            .value
            .into_iter()
            .filter_map(|rec| rec.ip_address.parse().ok().map(|ip| (ip, rec)))
            .collect();
        let listing = Arc::new(Listing {
            by_ip,
            request_ids: r.request_ids,
        });
        tracing::debug!(
            subnet = subnet_id,
            addresses = listing.by_ip.len(),
            "subnet listed for confirmations"
        );
        cache.put(key, listing.clone());
        Ok(listing)
    }
}
