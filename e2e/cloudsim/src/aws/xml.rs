//! EC2's XML answers (namespace `http://ec2.amazonaws.com/doc/2016-11-15/`, a
//! `<requestId>` in every success) and AWS's error document, as pure string builders.
//!
//! Flow: the server renders a successful action with [`describe_network_interfaces`],
//! [`assign_private_ip_addresses`] or [`unassign_private_ip_addresses`], and every error
//! (its own or injected) with [`error`].

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::error::Ec2Error;
use super::state::EniView;

/// The EC2 API namespace.
pub const NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escapes text for element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn leaf(out: &mut String, tag: &str, value: &str) {
    let _ = write!(out, "<{tag}>{}</{tag}>", escape(value));
}

fn response(action: &str, request_id: &str, body: &str) -> String {
    format!(
        "{PROLOG}<{action}Response xmlns=\"{NS}\"><requestId>{}</requestId>{body}</{action}Response>",
        escape(request_id)
    )
}

/// `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
pub fn error(e: &Ec2Error, request_id: &str) -> String {
    format!(
        "{PROLOG}<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
        escape(&e.code),
        escape(&e.message),
        escape(request_id)
    )
}

fn eni_item(out: &mut String, v: &EniView) {
    out.push_str("<item>");
    leaf(out, "networkInterfaceId", &v.id);
    leaf(out, "subnetId", &v.subnet_id);
    leaf(out, "vpcId", &v.vpc_id);
    leaf(out, "availabilityZone", &v.az);
    leaf(out, "description", &v.description);
    leaf(out, "ownerId", &v.owner_id);
    leaf(out, "requesterManaged", "false");
    leaf(out, "status", v.status);
    leaf(out, "macAddress", &v.mac);
    leaf(out, "privateIpAddress", &v.primary_ip.to_string());
    leaf(out, "privateDnsName", &v.dns_name(v.primary_ip));
    leaf(out, "sourceDestCheck", "true");
    out.push_str("<groupSet/>");
    if let Some(a) = &v.attachment {
        out.push_str("<attachment>");
        leaf(out, "attachmentId", &a.id);
        leaf(out, "instanceId", &a.instance_id);
        leaf(out, "instanceOwnerId", &v.owner_id);
        leaf(out, "deviceIndex", &a.device_index.to_string());
        leaf(out, "status", &a.status);
        leaf(out, "attachTime", "2024-01-01T00:00:00.000Z");
        leaf(
            out,
            "deleteOnTermination",
            if a.device_index == 0 { "true" } else { "false" },
        );
        leaf(out, "networkCardIndex", "0");
        out.push_str("</attachment>");
    }
    out.push_str("<tagSet/><privateIpAddressesSet>");
    let all =
        std::iter::once((v.primary_ip, true)).chain(v.secondary.iter().map(|ip| (*ip, false)));
    for (ip, primary) in all {
        out.push_str("<item>");
        leaf(out, "privateIpAddress", &ip.to_string());
        leaf(out, "privateDnsName", &v.dns_name(ip));
        leaf(out, "primary", if primary { "true" } else { "false" });
        out.push_str("</item>");
    }
    out.push_str("</privateIpAddressesSet><ipv6AddressesSet/>");
    leaf(out, "interfaceType", "interface");
    out.push_str("</item>");
}

/// `DescribeNetworkInterfacesResponse`.
pub fn describe_network_interfaces(
    request_id: &str,
    enis: &[EniView],
    next_token: Option<&str>,
) -> String {
    let mut body = String::from("<networkInterfaceSet>");
    for v in enis {
        eni_item(&mut body, v);
    }
    body.push_str("</networkInterfaceSet>");
    if let Some(t) = next_token {
        leaf(&mut body, "nextToken", t);
    }
    response("DescribeNetworkInterfaces", request_id, &body)
}

/// `AssignPrivateIpAddressesResponse`: the interface and the addresses of this call.
pub fn assign_private_ip_addresses(request_id: &str, eni: &str, assigned: &[Ipv4Addr]) -> String {
    let mut body = String::new();
    leaf(&mut body, "networkInterfaceId", eni);
    body.push_str("<assignedPrivateIpAddressesSet>");
    for ip in assigned {
        body.push_str("<item>");
        leaf(&mut body, "privateIpAddress", &ip.to_string());
        body.push_str("</item>");
    }
    body.push_str("</assignedPrivateIpAddressesSet><assignedIpv4PrefixSet/>");
    response("AssignPrivateIpAddresses", request_id, &body)
}

/// `UnassignPrivateIpAddressesResponse`.
pub fn unassign_private_ip_addresses(request_id: &str) -> String {
    response(
        "UnassignPrivateIpAddresses",
        request_id,
        "<return>true</return>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::{example_eni, AwsInventory};
    use crate::aws::state::AwsState;

    #[test]
    fn shapes() {
        let e = Ec2Error::new(400, "X.Y", "a < b & \"c\"");
        assert_eq!(
            error(&e, "r-1"),
            format!("{PROLOG}<Response><Errors><Error><Code>X.Y</Code><Message>a &lt; b &amp; &quot;c&quot;</Message></Error></Errors><RequestID>r-1</RequestID></Response>")
        );
        let st = AwsState::from_inventory(&AwsInventory::example()).unwrap();
        let v = st.view(&example_eni(1), std::time::Instant::now()).unwrap();
        let xml = describe_network_interfaces("r-2", &[v], Some("tok"));
        for needle in [
            "<DescribeNetworkInterfacesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-2</requestId><networkInterfaceSet><item><networkInterfaceId>eni-0e2e0000000000001</networkInterfaceId>",
            "<attachment><attachmentId>eni-attach-0e2e0000000000001</attachmentId><instanceId>i-0e2e0000000000001</instanceId>",
            "<deviceIndex>0</deviceIndex><status>attached</status>",
            "<item><privateIpAddress>10.0.10.11</privateIpAddress><privateDnsName>ip-10-0-10-11.ec2.internal</privateDnsName><primary>true</primary></item>",
            "<item><privateIpAddress>10.0.10.200</privateIpAddress><privateDnsName>ip-10-0-10-200.ec2.internal</privateDnsName><primary>false</primary></item>",
            "<macAddress>02:00:17:00:00:01</macAddress>",
            "</networkInterfaceSet><nextToken>tok</nextToken></DescribeNetworkInterfacesResponse>",
        ] {
            assert!(xml.contains(needle), "missing {needle} in {xml}");
        }
        let a = assign_private_ip_addresses("r", "eni-1", &["10.0.0.9".parse().unwrap()]);
        assert!(a.contains("<networkInterfaceId>eni-1</networkInterfaceId><assignedPrivateIpAddressesSet><item><privateIpAddress>10.0.0.9</privateIpAddress></item></assignedPrivateIpAddressesSet>"));
        assert!(unassign_private_ip_addresses("r").contains("<return>true</return>"));
    }
}
