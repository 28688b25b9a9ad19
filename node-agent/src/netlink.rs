//! The only code that changes the node's addresses: one short function per netlink request,
//! over an rtnetlink connection. Messages are built and parsed by pure functions (tested
//! below); errno handling is deliberate: EEXIST on add and EADDRNOTAVAIL/ENODEV on delete mean
//! the kernel already has the state we want. Deletion refuses any address without pgvip's mark.
//!
//! Data flow: `agent` calls [`Netlink::snapshot`] → pure planner → [`Netlink::add_owned`] /
//! [`Netlink::delete_owned`] / [`Netlink::delete_all_owned`].

use std::net::IpAddr;

use futures::{Stream, TryStreamExt};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
    AddressScope,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::Handle;
use tokio::task::JoinHandle;

use crate::error::{Error, NetlinkOp, Result};
use crate::netstate::{host_prefix, owned_label, IfAddr, Link, NetState, PGVIP_ADDR_PROTO};

/// What an add did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The address was added.
    Added,
    /// The kernel already had this address on the link (EEXIST); nothing changed.
    AlreadyPresent,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelOutcome {
    /// The address was deleted.
    Deleted,
    /// The address (or its link) was already gone (EADDRNOTAVAIL / ENODEV).
    AlreadyGone,
    /// The address does not carry pgvip's mark; it was left alone.
    NotOwned,
}

/// A route-netlink connection in the network namespace of the thread that opened it.
pub struct Netlink {
    handle: Handle,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Netlink {
    /// Opens the socket and spawns its connection task on the current tokio runtime.
    pub fn connect() -> Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::NetlinkSocket)?;
        Ok(Self {
            handle,
            connection: tokio::spawn(connection),
        })
    }

    /// The rtnetlink handle (tests use it to build fixtures).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Links and addresses, in two dumps.
    pub async fn snapshot(&self) -> Result<NetState> {
        Ok(NetState {
            links: self.links().await?,
            addrs: self.addresses().await?,
        })
    }

    /// Dumps all links.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> =
            dump(self.handle.link().get().execute(), NetlinkOp::DumpLinks).await?;
        Ok(msgs.iter().map(parse_link).collect())
    }

    /// Dumps all addresses of all families.
    pub async fn addresses(&self) -> Result<Vec<IfAddr>> {
        let msgs: Vec<AddressMessage> = dump(
            self.handle.address().get().execute(),
            NetlinkOp::DumpAddresses,
        )
        .await?;
        Ok(msgs.iter().filter_map(parse_address).collect())
    }

    /// Adds `address` as a pgvip-owned host address on `link`.
    pub async fn add_owned(&self, link: &Link, address: IpAddr) -> Result<AddOutcome> {
        let mut req = self
            .handle
            .address()
            .add(link.index, address, host_prefix(address));
        *req.message_mut() = add_message(link, address);
        match req.execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(AddOutcome::AlreadyPresent),
            Err(source) => Err(Error::Netlink {
                op: NetlinkOp::Add,
                source,
            }),
        }
    }

    /// Deletes one pgvip-owned address; refuses (without a request) one that is not owned.
    pub async fn delete_owned(&self, addr: &IfAddr) -> Result<DelOutcome> {
        if !addr.is_owned() {
            return Ok(DelOutcome::NotOwned);
        }
        match self
            .handle
            .address()
            .del(delete_message(addr))
            .execute()
            .await
        {
            Ok(()) => Ok(DelOutcome::Deleted),
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => {
                Ok(DelOutcome::AlreadyGone)
            }
            Err(source) => Err(Error::Netlink {
                op: NetlinkOp::Delete,
                source,
            }),
        }
    }

    /// Deletes every address in `addrs` that pgvip owns, trying all of them and returning
    /// every error rather than stopping at the first.
    pub async fn delete_all_owned(&self, addrs: &[IfAddr]) -> Vec<Error> {
        let mut errors = Vec::new();
        for a in addrs.iter().filter(|a| a.is_owned()) {
            if let Err(e) = self.delete_owned(a).await {
                errors.push(e);
            }
        }
        errors
    }
}

/// Collects the replies of one dump request; a failure names `op`.
async fn dump<T>(
    replies: impl Stream<Item = Result<T, rtnetlink::Error>>,
    op: NetlinkOp,
) -> Result<Vec<T>> {
    replies
        .try_collect()
        .await
        .map_err(|source| Error::Netlink { op, source })
}

/// The positive errno of a netlink error reply.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

/// `RTM_NEWADDR` body for a pgvip host address: /32 or /128, global scope, protocol 0x70,
/// IPv4 label `<ifname>:pgvip` when it fits, IFA_F_NOPREFIXROUTE, and for IPv6 IFA_F_NODAD
/// so the address is usable at once.
pub fn add_message(link: &Link, address: IpAddr) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = link.index;
    msg.header.prefix_len = host_prefix(address);
    msg.header.scope = AddressScope::Universe;
    let mut flags = AddressFlags::Noprefixroute;
    match address {
        IpAddr::V4(_) => msg.header.family = AddressFamily::Inet,
        IpAddr::V6(_) => {
            msg.header.family = AddressFamily::Inet6;
            msg.header.flags = AddressHeaderFlags::Nodad;
            flags |= AddressFlags::Nodad;
        }
    }
    msg.attributes.push(AddressAttribute::Local(address));
    msg.attributes.push(AddressAttribute::Address(address));
    if address.is_ipv4() {
        if let Some(label) = owned_label(&link.name) {
            msg.attributes.push(AddressAttribute::Label(label));
        }
    }
    msg.attributes.push(AddressAttribute::Flags(flags));
    msg.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(
            PGVIP_ADDR_PROTO,
        )));
    msg
}

/// `RTM_DELADDR` body matching exactly the dumped address (index, prefix, local address, and
/// for IPv4 its label, which the kernel also matches).
pub fn delete_message(addr: &IfAddr) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = addr.index;
    msg.header.prefix_len = addr.prefix_len;
    msg.header.family = match addr.address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.attributes.push(AddressAttribute::Local(addr.address));
    msg.attributes.push(AddressAttribute::Address(addr.address));
    if let (IpAddr::V4(_), Some(label)) = (addr.address, &addr.label) {
        msg.attributes.push(AddressAttribute::Label(label.clone()));
    }
    msg
}

/// Reads one dumped address; `None` for multicast/anycast entries without a local address.
pub fn parse_address(msg: &AddressMessage) -> Option<IfAddr> {
    let mut local = None;
    let mut address = None;
    let mut protocol = None;
    let mut label = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Protocol(p) => protocol = Some(u8::from(*p)),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            _ => {}
        }
    }
    Some(IfAddr {
        index: msg.header.index,
        address: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        protocol,
        label,
    })
}

/// Reads one dumped link.
pub fn parse_link(msg: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(a) => {
                mac = <[u8; 6]>::try_from(a.as_slice())
                    .ok()
                    .filter(|m| m != &[0; 6]);
            }
            _ => {}
        }
    }
    Link {
        index: msg.header.index,
        name,
        mac,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::link;

    fn eth(name: &str) -> Link {
        link(7, name)
    }

    fn has_label(m: &AddressMessage) -> bool {
        m.attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Label(_)))
    }

    #[test]
    fn ipv4_add_message_is_marked_host_address() {
        let m = add_message(&eth("eth0"), "10.0.1.100".parse().unwrap());
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert_eq!(m.header.prefix_len, 32);
        assert_eq!(m.header.index, 7);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Label("eth0:pgvip".into())));
        assert!(m
            .attributes
            .contains(&AddressAttribute::Protocol(AddressProtocol::Other(0x70))));
        assert!(m
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Noprefixroute)));
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Broadcast(_))));
    }

    #[test]
    fn ipv4_long_ifname_has_no_label() {
        let m = add_message(&eth("enp0s31f6xy"), "10.0.1.100".parse().unwrap());
        assert!(!has_label(&m));
    }

    #[test]
    fn ipv6_add_message_skips_dad() {
        let m = add_message(&eth("eth0"), "fd00::64".parse().unwrap());
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert_eq!(m.header.prefix_len, 128);
        assert_eq!(m.header.flags, AddressHeaderFlags::Nodad);
        assert!(m.attributes.contains(&AddressAttribute::Flags(
            AddressFlags::Nodad | AddressFlags::Noprefixroute
        )));
        assert!(!has_label(&m));
    }

    #[test]
    fn round_trip_through_parse() {
        let link = eth("eth0");
        for ip in ["10.0.1.100", "fd00::64"] {
            let parsed = parse_address(&add_message(&link, ip.parse().unwrap())).unwrap();
            assert!(parsed.is_owned(), "{ip}");
            let del = delete_message(&parsed);
            assert_eq!(del.header.index, 7);
            assert_eq!(del.header.prefix_len, parsed.prefix_len);
            assert!(del
                .attributes
                .contains(&AddressAttribute::Local(parsed.address)));
        }
    }
}
