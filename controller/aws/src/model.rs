//! What this crate reads from EC2: network interfaces and their private IPv4 addresses.
//!
//! Data flow: `xml` parses `DescribeNetworkInterfaces` pages into [`Eni`]s; `decision` and the
//! client read only these structs, never XML.

use std::net::IpAddr;

/// One private IPv4 address of an interface (`privateIpAddressesSet/item`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniAddress {
    /// The address.
    pub ip: IpAddr,
    /// It is the interface's primary private IP (which never moves).
    pub primary: bool,
}

/// A network interface (`networkInterfaceSet/item`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Eni {
    /// `eni-...`.
    pub id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// `available`, `in-use`, `attaching`...
    pub status: String,
    /// The instance it is attached to, if any.
    pub instance_id: Option<String>,
    /// `attaching`, `attached`, `detaching`, `detached`, if attached at all.
    pub attachment_status: Option<String>,
    /// Device index of the attachment (0 = the instance's primary interface).
    pub device_index: Option<u32>,
    /// Its private IPv4 addresses, primary and secondary.
    pub addresses: Vec<EniAddress>,
}

impl Eni {
    /// The entry for `ip`, if this interface holds it.
    pub fn address(&self, ip: IpAddr) -> Option<&EniAddress> {
        self.addresses.iter().find(|a| a.ip == ip)
    }
}

/// One page of `DescribeNetworkInterfaces`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EniPage {
    /// The interfaces on this page.
    pub enis: Vec<Eni>,
    /// Token for the next page (absent or empty on the last one).
    pub next_token: Option<String>,
    /// `requestId` of the answer.
    pub request_id: Option<String>,
}
