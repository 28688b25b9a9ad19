//! The crate's one error type. Every variant has a fixed `category()` string that feeds the
//! `pgvip_agent_errors_total{category}` metric; the free text only goes to logs and to
//! `status.nodes[].lastError`.

use std::io;
use std::net::IpAddr;

/// Which netlink request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetlinkOp {
    /// `RTM_GETLINK` dump.
    DumpLinks,
    /// `RTM_GETADDR` dump.
    DumpAddresses,
    /// `RTM_NEWADDR`.
    Add,
    /// `RTM_DELADDR`.
    Delete,
}

impl std::fmt::Display for NetlinkOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DumpLinks => "link dump",
            Self::DumpAddresses => "address dump",
            Self::Add => "address add",
            Self::Delete => "address delete",
        })
    }
}

/// Everything that can go wrong in the node-agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A netlink request was refused by the kernel or the socket failed.
    #[error("netlink {op} failed: {source}")]
    Netlink {
        /// The request.
        op: NetlinkOp,
        /// What rtnetlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// The netlink socket could not be opened.
    #[error("cannot open netlink socket: {0}")]
    NetlinkSocket(#[source] io::Error),
    /// `spec.address` is not an IP address (the CRD's CEL rule should prevent this).
    #[error("spec.address {0:?} is not an IP address")]
    InvalidAddress(String),
    /// No interface has a connected subnet that contains the VIP.
    #[error("no interface has a connected subnet containing {0}; set spec.announce.interface")]
    NoInterface(IpAddr),
    /// `spec.announce.interface` names an interface this node does not have.
    #[error("interface {0:?} (spec.announce.interface) does not exist on this node")]
    InterfaceNotFound(String),
    /// The interface has no Ethernet address, so there is nothing to announce from.
    #[error("interface {0} has no Ethernet address to announce from")]
    NoMac(String),
    /// The AF_PACKET socket could not be opened (needs CAP_NET_RAW).
    #[error("cannot open AF_PACKET socket: {0}")]
    AnnounceSocket(#[source] io::Error),
    /// Sending a gratuitous ARP / unsolicited NA frame failed.
    #[error("cannot send announcement on {interface}: {source}")]
    AnnounceSend {
        /// Interface name.
        interface: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// A Kubernetes API call failed (client set-up, status write).
    #[error("kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// The metrics/health HTTP server failed.
    #[error("metrics/health server on {addr}: {source}")]
    Http {
        /// Listen address.
        addr: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// Invalid command-line configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// The VIP is an address a Node or a pod uses: never configured.
    #[error("refused: {address} is {user}; pgvip never configures an address a node or pod uses")]
    AddressInUse {
        /// The VIP.
        address: IpAddr,
        /// Who uses it, for a person (e.g. "node worker-1's InternalIP").
        user: String,
    },
    /// The cloud move to this node failed: the address waits until one succeeds.
    #[error("not configured: the cloud move to this node failed, so the address is withheld until a move succeeds ({0})")]
    Withheld(String),
    /// The fence (nf_tables reset rules for a VIP routed here) could not be set or lifted.
    #[error("fence: {0}")]
    Fence(String),
}

impl Error {
    /// Fixed, low-cardinality name of the error kind (metric label).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Netlink { op, .. } => match op {
                NetlinkOp::DumpLinks | NetlinkOp::DumpAddresses => "netlink_dump",
                NetlinkOp::Add => "netlink_add",
                NetlinkOp::Delete => "netlink_delete",
            },
            Self::NetlinkSocket(_) => "netlink_socket",
            Self::InvalidAddress(_) => "invalid_address",
            Self::NoInterface(_) => "no_interface",
            Self::InterfaceNotFound(_) => "interface_not_found",
            Self::NoMac(_) => "no_mac",
            Self::AnnounceSocket(_) => "announce_socket",
            Self::AnnounceSend { .. } => "announce_send",
            Self::Kube(_) => "kube",
            Self::Http { .. } => "http",
            Self::Config(_) => "config",
            Self::AddressInUse { .. } => "address_in_use",
            Self::Withheld(_) => "withheld",
            Self::Fence(_) => "fence",
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
