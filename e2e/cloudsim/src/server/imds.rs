//! Instance metadata service v2, one plain-HTTP listener per instance (as the real IMDS
//! at 169.254.169.254 is plain HTTP; a node namespace reaches its own listener through a
//! loopback forwarder, so the listener port selects the instance).
//!
//! Paths: `/opc/v2/instance/` (and `/opc/v2/instance/<field>` as text), `/opc/v2/vnics/`,
//! `/opc/v2/identity/{cert,key,intermediate}.pem`. Requires `Authorization: Bearer Oracle`
//! (401 otherwise). GUESS: requests carrying `Forwarded`, `X-Forwarded-For` or
//! `X-Forwarded-Host` are refused with 403, as OCI documents IMDSv2 refusing them.

use std::sync::Arc;

use serde_json::{json, Value};

use super::ctx::lock;
use super::{boxed, Ctx, Handled, HandlerFuture, Req, Resp};
use crate::faults::Operation;

/// Short region codes IMDS reports in `region` (others fall back to the identifier).
pub fn region_key(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-ashburn-1" => "iad",
        "us-phoenix-1" => "phx",
        "us-sanjose-1" => "sjc",
        "us-chicago-1" => "ord",
        "eu-frankfurt-1" => "fra",
        "eu-amsterdam-1" => "ams",
        "uk-london-1" => "lhr",
        "ap-tokyo-1" => "nrt",
        "ca-toronto-1" => "yyz",
        _ => return None,
    })
}

/// Routes one instance's IMDS request.
pub fn route(ctx: Arc<Ctx>, req: Req, instance_id: String) -> (Operation, HandlerFuture) {
    (
        Operation::Imds,
        boxed(async move { Handled::anon(answer(&ctx, &req, &instance_id)) }),
    )
}

fn err(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(status, &json!({"code": code, "message": message}))
}

/// The `/opc/v2/instance/` document.
pub fn instance_doc(ctx: &Ctx, instance_id: &str) -> Option<Value> {
    let st = lock(&ctx.state);
    let i = st.instance(instance_id)?;
    let compartment = st.get_instance(instance_id).ok()?.compartment_id;
    let short = region_key(&st.region).unwrap_or(&st.region).to_string();
    Some(json!({
        "availabilityDomain": i.availability_domain,
        "faultDomain": i.fault_domain.clone().unwrap_or_else(|| "FAULT-DOMAIN-1".into()),
        "compartmentId": compartment,
        "displayName": i.display_name,
        "hostname": i.display_name,
        "id": i.id,
        "image": "ocid1.image.oc1..ocisim",
        "metadata": {},
        "region": short,
        "canonicalRegionName": st.region,
        "ociAdName": i.availability_domain,
        "regionInfo": {
            "realmKey": "oc1",
            "realmDomainComponent": "oraclecloud.com",
            "regionKey": short.to_ascii_uppercase(),
            "regionIdentifier": st.region,
        },
        "shape": i.shape.clone().unwrap_or_else(|| "VM.Standard.E4.Flex".into()),
        "state": if i.lifecycle_state == "RUNNING" { "Running" } else { "Stopped" },
        "tenantId": st.tenancy_id,
        "timeCreated": 1_704_067_200_000u64,
    }))
}

fn vnics_doc(ctx: &Ctx, instance_id: &str) -> Value {
    let st = lock(&ctx.state);
    let list: Vec<Value> = st
        .vnics_of(instance_id)
        .into_iter()
        .filter_map(|v| {
            let subnet = st.subnet(&v.subnet_id)?;
            let vnic = st.get_vnic(&v.id).ok()?;
            Some(json!({
                "vnicId": v.id,
                "privateIp": vnic.private_ip,
                "vlanTag": 0,
                "macAddr": v.mac,
                "virtualRouterIp": subnet.inv.virtual_router_ip,
                "subnetCidrBlock": subnet.inv.cidr_block,
                "nicIndex": v.nic_index,
                "ipv6SubnetCidrBlock": subnet.inv.ipv6_cidr_block,
                "ipv6Addresses": vnic.ipv6_addresses,
            }))
        })
        .collect();
    Value::Array(list)
}

fn answer(ctx: &Ctx, req: &Req, instance_id: &str) -> Resp {
    if req.header("authorization") != Some("Bearer Oracle") {
        return err(
            401,
            "NotAuthenticated",
            "Authorization: Bearer Oracle header is required.",
        );
    }
    if ["forwarded", "x-forwarded-for", "x-forwarded-host"]
        .iter()
        .any(|h| req.headers.contains_key(*h))
    {
        return err(403, "Forbidden", "Forwarded requests are not allowed.");
    }
    if req.method != "GET" {
        return err(405, "MethodNotAllowed", "Only GET is supported.");
    }
    let path = req.path.trim_end_matches('/');
    let identity = ctx.identities.get(instance_id);
    match path {
        "/opc/v2/instance" => match instance_doc(ctx, instance_id) {
            Some(doc) => Resp::json(200, &doc),
            None => err(404, "NotFound", "Not Found"),
        },
        "/opc/v2/vnics" => Resp::json(200, &vnics_doc(ctx, instance_id)),
        "/opc/v2/identity/cert.pem" => identity.map_or_else(
            || err(404, "NotFound", "Not Found"),
            |i| Resp::text(200, i.cert_pem.clone()),
        ),
        "/opc/v2/identity/key.pem" => identity.map_or_else(
            || err(404, "NotFound", "Not Found"),
            |i| Resp::text(200, i.key_pem.clone()),
        ),
        "/opc/v2/identity/intermediate.pem" => Resp::text(200, ctx.intermediate_pem.clone()),
        p => {
            let field = p.strip_prefix("/opc/v2/instance/");
            let value =
                field.and_then(|f| instance_doc(ctx, instance_id).and_then(|d| d.get(f).cloned()));
            match value {
                Some(Value::String(s)) => Resp::text(200, s),
                Some(v) => Resp::json(200, &v),
                None => err(404, "NotFound", "Not Found"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn region_keys() {
        assert_eq!(super::region_key("us-ashburn-1"), Some("iad"));
        assert_eq!(super::region_key("xx-nowhere-1"), None);
    }
}
