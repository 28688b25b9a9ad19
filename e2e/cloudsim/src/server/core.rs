//! Core Services API `20160918` routes: instances, VNIC attachments, VNICs, private IPs
//! and IPv6 addresses.
//!
//! Flow per call: route → authenticate (signature) → rate limit → permission (404 when
//! missing, as OCI) → parse → run the [`State`] method under the lock → notify the fabric
//! on assignment changes → render OCI JSON with `etag` / `opc-next-page` headers.

use std::sync::Arc;

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ctx::lock;
use super::retry::request_hash;
use super::{boxed, no_route, Ctx, Handled, HandlerFuture, Req, Resp};
use crate::api_error::ApiError;
use crate::auth::Principal;
use crate::faults::Operation;
use crate::model::{CreateIpDetails, UpdateIpDetails};
use crate::state::{Family, IpFilter, IpRec, State};

/// API version prefix.
pub const PREFIX: &str = "/20160918/";

/// GUESS: OCI's default page size for these lists is not documented per operation; the
/// simulator returns everything up to 1000 unless `limit` is given, and rejects a
/// `limit` outside 1..=1000.
const MAX_LIMIT: usize = 1000;

/// Routes a Core Services request.
pub fn route(ctx: Arc<Ctx>, req: Req) -> (Operation, HandlerFuture) {
    let Some(rest) = req.path.strip_prefix(PREFIX) else {
        return no_route();
    };
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(String::from)
        .collect();
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let fam = |s: &str| if s == "ipv6" { Family::V6 } else { Family::V4 };
    let (op, need_update) = match (m, seg.as_slice()) {
        ("GET", ["instances", _]) => (Operation::GetInstance, false),
        ("GET", ["vnicAttachments"]) => (Operation::ListVnicAttachments, false),
        ("GET", ["vnics", _]) => (Operation::GetVnic, false),
        ("GET", ["privateIps"]) => (Operation::ListPrivateIps, false),
        ("GET", ["privateIps", _]) => (Operation::GetPrivateIp, false),
        ("POST", ["privateIps"]) => (Operation::CreatePrivateIp, true),
        ("PUT", ["privateIps", _]) => (Operation::UpdatePrivateIp, true),
        ("DELETE", ["privateIps", _]) => (Operation::DeletePrivateIp, true),
        ("GET", ["ipv6"]) => (Operation::ListIpv6s, false),
        ("GET", ["ipv6", _]) => (Operation::GetIpv6, false),
        ("POST", ["ipv6"]) => (Operation::CreateIpv6, true),
        ("PUT", ["ipv6", _]) => (Operation::UpdateIpv6, true),
        ("DELETE", ["ipv6", _]) => (Operation::DeleteIpv6, true),
        (
            _,
            ["instances" | "vnics" | "privateIps" | "ipv6", _]
            | ["vnicAttachments" | "privateIps" | "ipv6"],
        ) => {
            return (
                Operation::Unknown,
                boxed(async { Handled::anon(ApiError::method_not_allowed()) }),
            );
        }
        _ => return no_route(),
    };
    let id = seg.get(1).map(|s| s.to_string());
    let family = fam(seg[0]);
    let fut = async move {
        let principal = match ctx.authenticate_core(&req) {
            Ok(p) => p,
            Err(h) => return h,
        };
        if let Err(h) = ctx.rate_limit(&principal) {
            return h;
        }
        let perms = ctx.permissions(&principal.name);
        let allowed = perms.read && (!need_update || perms.update);
        let resp = if !allowed {
            ApiError::not_found().into()
        } else {
            dispatch(&ctx, op, family, id.as_deref(), &req, &principal)
        };
        Handled {
            resp,
            principal: Some(principal.name),
            injected: false,
        }
    };
    (op, boxed(fut))
}

fn etag_of(body: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_body<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, ApiError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))
}

fn render(st: &State, family: Family, r: &IpRec) -> Resp {
    let resp = match family {
        Family::V4 => Resp::json(200, &st.render_private_ip(r)),
        Family::V6 => Resp::json(200, &st.render_ipv6(r)),
    };
    resp.with("etag", r.etag.clone())
}

/// Page of a list: `(items, next page token)`.
pub fn paginate<T: Clone>(
    items: &[T],
    limit: Option<&str>,
    page: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = match limit {
        None => MAX_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::invalid(format!("Invalid limit '{l}'.")))?,
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let start = match page {
        None => 0,
        Some(p) => b64
            .decode(p)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("offset:")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::invalid(format!("Invalid page '{p}'.")))?,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| b64.encode(format!("offset:{end}")));
    Ok((items[start..end].to_vec(), next))
}

fn list_resp<T: Serialize + Clone>(items: &[T], req: &Req) -> Resp {
    match paginate(items, req.param("limit"), req.param("page")) {
        Ok((page, next)) => {
            let r = Resp::json(200, &page);
            match next {
                Some(n) => r.with("opc-next-page", n),
                None => r,
            }
        }
        Err(e) => e.into(),
    }
}

fn dispatch(
    ctx: &Ctx,
    op: Operation,
    family: Family,
    id: Option<&str>,
    req: &Req,
    principal: &Principal,
) -> Resp {
    let id = id.unwrap_or_default();
    let if_match = req.header("if-match");
    match op {
        Operation::GetInstance => match lock(&ctx.state).get_instance(id) {
            Ok(i) => Resp::json(200, &i).with("etag", etag_of(&i)),
            Err(e) => e.into(),
        },
        Operation::ListVnicAttachments => {
            let Some(compartment) = req.param("compartmentId") else {
                return ApiError::missing("compartmentId").into();
            };
            let st = lock(&ctx.state);
            match st.list_vnic_attachments(
                compartment,
                req.param("instanceId"),
                req.param("vnicId"),
                req.param("availabilityDomain"),
            ) {
                Ok(list) => list_resp(&list, req),
                Err(e) => e.into(),
            }
        }
        Operation::GetVnic => match lock(&ctx.state).get_vnic(id) {
            Ok(v) => Resp::json(200, &v).with("etag", etag_of(&v)),
            Err(e) => e.into(),
        },
        Operation::ListPrivateIps | Operation::ListIpv6s => {
            let filter = IpFilter {
                ip_address: req.param("ipAddress").map(String::from),
                subnet_id: req.param("subnetId").map(String::from),
                vnic_id: req.param("vnicId").map(String::from),
            };
            let st = lock(&ctx.state);
            match st.list_ips(family, &filter) {
                Ok(list) if family == Family::V4 => list_resp(
                    &list
                        .iter()
                        .map(|r| st.render_private_ip(r))
                        .collect::<Vec<_>>(),
                    req,
                ),
                Ok(list) => list_resp(
                    &list.iter().map(|r| st.render_ipv6(r)).collect::<Vec<_>>(),
                    req,
                ),
                Err(e) => e.into(),
            }
        }
        Operation::GetPrivateIp | Operation::GetIpv6 => {
            let st = lock(&ctx.state);
            match st.get_ip(family, id) {
                Ok(r) => render(&st, family, r),
                Err(e) => e.into(),
            }
        }
        Operation::CreatePrivateIp | Operation::CreateIpv6 => {
            let token = req.header("opc-retry-token").map(String::from);
            let hash = request_hash(&principal.name, &req.method, &req.path, &req.body);
            if let Some(t) = &token {
                if let Some(prev) = lock(&ctx.retry).lookup(t, &hash) {
                    return prev.unwrap_or_else(Resp::from);
                }
            }
            let details: CreateIpDetails = match parse_body(req) {
                Ok(d) => d,
                Err(e) => return e.into(),
            };
            let mut st = lock(&ctx.state);
            let resp = match st.create_ip(family, &details) {
                Ok(r) => {
                    ctx.assignments_changed(&st);
                    tracing::info!(vip = %r.address, vnic = %r.vnic_id, principal = %principal.name, "private IP created");
                    render(&st, family, &r)
                }
                Err(e) => e.into(),
            };
            if let Some(t) = &token {
                lock(&ctx.retry).remember(t, hash, &resp);
            }
            resp
        }
        Operation::UpdatePrivateIp | Operation::UpdateIpv6 => {
            let details: UpdateIpDetails = match parse_body(req) {
                Ok(d) => d,
                Err(e) => return e.into(),
            };
            let mut st = lock(&ctx.state);
            let before = st.get_ip(family, id).map(|r| r.vnic_id.clone()).ok();
            match st.update_ip(family, id, &details, if_match) {
                Ok(r) => {
                    if before.as_deref() != Some(r.vnic_id.as_str()) {
                        ctx.assignments_changed(&st);
                        tracing::info!(vip = %r.address, vnic = %r.vnic_id, principal = %principal.name, "private IP moved");
                    }
                    render(&st, family, &r)
                }
                Err(e) => e.into(),
            }
        }
        Operation::DeletePrivateIp | Operation::DeleteIpv6 => {
            let mut st = lock(&ctx.state);
            match st.delete_ip(family, id, if_match) {
                Ok(()) => {
                    ctx.assignments_changed(&st);
                    Resp::empty(204)
                }
                Err(e) => e.into(),
            }
        }
        _ => ApiError::no_route().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_table() {
        let items: Vec<u32> = (0..5).collect();
        let (p1, n1) = paginate(&items, Some("2"), None).unwrap();
        assert_eq!(p1, [0, 1]);
        let (p2, n2) = paginate(&items, Some("2"), n1.as_deref()).unwrap();
        assert_eq!(p2, [2, 3]);
        let (p3, n3) = paginate(&items, Some("2"), n2.as_deref()).unwrap();
        assert_eq!((p3, n3), (vec![4], None));
        assert_eq!(paginate(&items, None, None).unwrap(), (items.clone(), None));
        for (limit, page) in [
            (Some("0"), None),
            (Some("1001"), None),
            (Some("x"), None),
            (None, Some("garbage")),
        ] {
            assert_eq!(
                paginate(&items, limit, page).unwrap_err().code,
                "InvalidParameter"
            );
        }
    }
}
