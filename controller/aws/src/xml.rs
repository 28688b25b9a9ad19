//! Parsing EC2's XML answers with `roxmltree` (a small read-only DOM without dependencies of its
//! own: the documents are a few KB, and a tree reads more plainly than a pull parser).
//!
//! Data flow: the transport hands the body of a 2xx answer to [`parse_eni_page`] or
//! [`parse_ack`], and the body of any other answer to [`parse_error`]. Elements are matched by
//! local name, so the `http://ec2.amazonaws.com/doc/2016-11-15/` namespace (or its absence in
//! error documents) does not matter. Pure.

use std::net::IpAddr;

use roxmltree::{Document, Node};

use crate::model::{Eni, EniAddress, EniPage};

/// An `<Errors>` document: (`Code`, `Message`, `RequestID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDoc {
    /// `Errors/Error/Code` of the first error.
    pub code: String,
    /// `Errors/Error/Message` of the first error.
    pub message: String,
    /// `RequestID` (or `RequestId`).
    pub request_id: Option<String>,
}

/// A mutation's answer: `requestId` and, when present, `return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// `requestId`.
    pub request_id: Option<String>,
    /// `return` (`UnassignPrivateIpAddresses` answers `true`).
    pub ret: Option<bool>,
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn items<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "item")
}

fn text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The request id of a success (`requestId`) or error (`RequestID` / `RequestId`) document.
fn request_id(root: Node<'_, '_>) -> Option<String> {
    text(root, "requestId")
        .or_else(|| text(root, "RequestID"))
        .or_else(|| text(root, "RequestId"))
}

/// Parses a `DescribeNetworkInterfacesResponse`.
pub fn parse_eni_page(body: &str) -> Result<EniPage, String> {
    let doc = Document::parse(body).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "DescribeNetworkInterfacesResponse" {
        return Err(format!(
            "expected DescribeNetworkInterfacesResponse, got <{}>",
            root.tag_name().name()
        ));
    }
    let mut enis = Vec::new();
    if let Some(set) = child(root, "networkInterfaceSet") {
        for item in items(set) {
            enis.push(parse_eni(item)?);
        }
    }
    Ok(EniPage {
        enis,
        next_token: text(root, "nextToken"),
        request_id: request_id(root),
    })
}

fn parse_eni(item: Node<'_, '_>) -> Result<Eni, String> {
    let id = text(item, "networkInterfaceId").ok_or("an interface without networkInterfaceId")?;
    let attachment = child(item, "attachment");
    let mut addresses = Vec::new();
    if let Some(set) = child(item, "privateIpAddressesSet") {
        for a in items(set) {
            let Some(raw) = text(a, "privateIpAddress") else {
                continue;
            };
            let ip: IpAddr = raw
                .parse()
                .map_err(|_| format!("{id}: bad privateIpAddress {raw:?}"))?;
            addresses.push(EniAddress {
                ip,
                primary: text(a, "primary").as_deref() == Some("true"),
            });
        }
    }
    Ok(Eni {
        subnet_id: text(item, "subnetId").unwrap_or_default(),
        status: text(item, "status").unwrap_or_default(),
        instance_id: attachment.and_then(|a| text(a, "instanceId")),
        attachment_status: attachment.and_then(|a| text(a, "status")),
        device_index: attachment
            .and_then(|a| text(a, "deviceIndex"))
            .and_then(|d| d.parse().ok()),
        addresses,
        id,
    })
}

/// Parses the answer of `AssignPrivateIpAddresses` / `UnassignPrivateIpAddresses`.
pub fn parse_ack(body: &str) -> Result<Ack, String> {
    let doc = Document::parse(body).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    Ok(Ack {
        request_id: request_id(root),
        ret: text(root, "return").map(|r| r == "true"),
    })
}

/// Parses `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`;
/// `None` when the body is not such a document (a load balancer's HTML page, an empty body).
pub fn parse_error(body: &str) -> Option<ErrorDoc> {
    let doc = Document::parse(body).ok()?;
    let root = doc.root_element();
    // Some AWS Query services wrap one <Error> in <ErrorResponse>; EC2 uses <Response><Errors>.
    let error = match child(root, "Errors") {
        Some(errors) => child(errors, "Error")?,
        None => child(root, "Error")?,
    };
    Some(ErrorDoc {
        code: text(error, "Code").unwrap_or_default(),
        message: text(error, "Message").unwrap_or_default(),
        request_id: request_id(root).or_else(|| request_id(error)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped like the example in the EC2 API reference for DescribeNetworkInterfaces
    // (API version 2016-11-15), with a secondary address and a second page.
    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>fc45294c-006b-457b-bab9-012f5b3b0e40</requestId>
    <networkInterfaceSet>
        <item>
            <networkInterfaceId>eni-0f62d866</networkInterfaceId>
            <subnetId>subnet-c53c87ac</subnetId>
            <vpcId>vpc-cc3c87a5</vpcId>
            <availabilityZone>ap-southeast-1b</availabilityZone>
            <description/>
            <ownerId>053230519467</ownerId>
            <requesterManaged>false</requesterManaged>
            <status>in-use</status>
            <macAddress>02:81:60:cb:27:37</macAddress>
            <privateIpAddress>10.0.0.146</privateIpAddress>
            <sourceDestCheck>true</sourceDestCheck>
            <groupSet>
                <item>
                    <groupId>sg-3f4b5653</groupId>
                    <groupName>default</groupName>
                </item>
            </groupSet>
            <attachment>
                <attachmentId>eni-attach-6537fc0c</attachmentId>
                <instanceId>i-1234567890abcdef0</instanceId>
                <instanceOwnerId>053230519467</instanceOwnerId>
                <deviceIndex>0</deviceIndex>
                <status>attached</status>
                <attachTime>2013-11-30T23:36:42.000Z</attachTime>
                <deleteOnTermination>true</deleteOnTermination>
            </attachment>
            <tagSet/>
            <privateIpAddressesSet>
                <item>
                    <privateIpAddress>10.0.0.146</privateIpAddress>
                    <primary>true</primary>
                </item>
                <item>
                    <privateIpAddress>10.0.0.148</privateIpAddress>
                    <primary>false</primary>
                </item>
            </privateIpAddressesSet>
            <ipv6AddressesSet/>
        </item>
        <item>
            <networkInterfaceId>eni-a66ed5cf</networkInterfaceId>
            <subnetId>subnet-cd8a35a4</subnetId>
            <status>available</status>
            <privateIpAddress>10.0.1.233</privateIpAddress>
            <privateIpAddressesSet>
                <item>
                    <privateIpAddress>10.0.1.233</privateIpAddress>
                    <primary>true</primary>
                </item>
            </privateIpAddressesSet>
        </item>
    </networkInterfaceSet>
    <nextToken>eyJ2IjoiMiIsImMiOiJ3In0=</nextToken>
</DescribeNetworkInterfacesResponse>"#;

    #[test]
    fn describe_page() {
        let page = parse_eni_page(PAGE).unwrap();
        assert_eq!(
            page.request_id.as_deref(),
            Some("fc45294c-006b-457b-bab9-012f5b3b0e40")
        );
        assert_eq!(page.next_token.as_deref(), Some("eyJ2IjoiMiIsImMiOiJ3In0="));
        assert_eq!(page.enis.len(), 2);
        let a = &page.enis[0];
        assert_eq!(a.id, "eni-0f62d866");
        assert_eq!(a.subnet_id, "subnet-c53c87ac");
        assert_eq!(a.status, "in-use");
        assert_eq!(a.instance_id.as_deref(), Some("i-1234567890abcdef0"));
        assert_eq!(a.attachment_status.as_deref(), Some("attached"));
        assert_eq!(a.device_index, Some(0));
        assert_eq!(
            a.addresses,
            vec![
                EniAddress {
                    ip: "10.0.0.146".parse().unwrap(),
                    primary: true
                },
                EniAddress {
                    ip: "10.0.0.148".parse().unwrap(),
                    primary: false
                },
            ]
        );
        let b = &page.enis[1];
        assert_eq!(
            (b.instance_id.as_deref(), b.attachment_status.as_deref()),
            (None, None)
        );
        assert_eq!(b.status, "available");
    }

    #[test]
    fn empty_last_page() {
        let body = r#"<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
            <requestId>r-1</requestId><networkInterfaceSet/></DescribeNetworkInterfacesResponse>"#;
        let page = parse_eni_page(body).unwrap();
        assert!(page.enis.is_empty());
        assert_eq!(page.next_token, None);
        assert!(parse_eni_page("<Other/>").unwrap_err().contains("expected"));
        assert!(parse_eni_page("garbage").unwrap_err().contains("not XML"));
    }

    #[test]
    fn acks() {
        let assign = r#"<AssignPrivateIpAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
            <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
            <networkInterfaceId>eni-1</networkInterfaceId>
            <assignedPrivateIpAddressesSet><item><privateIpAddress>10.0.2.1</privateIpAddress></item></assignedPrivateIpAddressesSet>
            </AssignPrivateIpAddressesResponse>"#;
        assert_eq!(
            parse_ack(assign).unwrap(),
            Ack {
                request_id: Some("59dbff89-35bd-4eac-99ed-be587EXAMPLE".into()),
                ret: None
            }
        );
        let unassign = r#"<UnassignPrivateIpAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
            <requestId>r-2</requestId><return>true</return></UnassignPrivateIpAddressesResponse>"#;
        assert_eq!(
            parse_ack(unassign).unwrap(),
            Ack {
                request_id: Some("r-2".into()),
                ret: Some(true)
            }
        );
    }

    #[test]
    fn error_documents() {
        // The shape of the EC2 API reference's "Example error response".
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Errors>
        <Error>
            <Code>UnauthorizedOperation</Code>
            <Message>You are not authorized to perform this operation. Encoded authorization failure message: abc</Message>
        </Error>
    </Errors>
    <RequestID>ea966190-f9aa-478e-9ede-example</RequestID>
</Response>"#;
        assert_eq!(
            parse_error(body).unwrap(),
            ErrorDoc {
                code: "UnauthorizedOperation".into(),
                message: "You are not authorized to perform this operation. Encoded authorization failure message: abc".into(),
                request_id: Some("ea966190-f9aa-478e-9ede-example".into()),
            }
        );
        let dry = "<Response><Errors><Error><Code>DryRunOperation</Code><Message>Request would have succeeded, but DryRun flag is set.</Message></Error></Errors><RequestId>r-9</RequestId></Response>";
        let e = parse_error(dry).unwrap();
        assert_eq!(
            (e.code.as_str(), e.request_id.as_deref()),
            ("DryRunOperation", Some("r-9"))
        );
        // The single-error form other Query services use.
        let sts = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-3</RequestId></ErrorResponse>";
        assert_eq!(parse_error(sts).unwrap().code, "Throttling");
        assert_eq!(parse_error("<html>502 Bad Gateway</html>"), None);
        assert_eq!(parse_error(""), None);
    }
}
