//! The fence: while the cloud still routes a VIP to this node but this node must not hold it
//! (no confirmed leader, or the leader is elsewhere and the move has not landed), every TCP
//! packet to the VIP that arrives here is answered with a reset. Clients then fail at once and
//! retry, instead of waiting out their connect timeout in a black hole, and nothing on this node
//! (a Postgres that may still think it is primary included) can accept a connection to the VIP.
//!
//! It is an nf_tables table `inet pgvip_fence` with one prerouting chain (before routing, so the
//! address need not be local) and one `reject with tcp reset` rule per fenced address. The whole
//! table is replaced in one netlink batch each time the set changes; an empty set deletes it.
//!
//! Data flow: the planner's [`crate::plan::FenceWant`] per VIP → [`FenceSet`] (the set, with a
//! short linger after a fence is no longer needed) → [`batch`] (pure: the netlink messages) →
//! [`Nftables::replace`] (the kernel).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND,
    NLM_F_CREATE, NLM_F_REQUEST,
};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, Cmp, DataAttribute, Expressions, Hook, InetHookNumber, ListAttribute, Meta,
    MetaKey, NfTablesMessage, Operator, Payload, Register, RuleAttribute, RuleMessage,
    TableAttribute, TableMessage,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};

use tracing::{debug, info, warn};

use crate::error::{Error, Result};
use crate::plan::FenceWant;

/// The nf_tables table pgvip owns on every node (family `inet`).
pub const TABLE: &str = "pgvip_fence";
/// Its one chain.
pub const CHAIN: &str = "prerouting";
/// Hook priority: `raw` (-300), ahead of conntrack and of any filter a node already has.
pub const PRIORITY: i32 = -300;
/// How long a fence stays after the VIP stopped needing it (the cloud moved the address away):
/// the cloud's data plane applies a move a moment after its API confirms it, and clients with a
/// stale neighbour entry keep sending here until the new holder's announcement reaches them.
pub const LINGER: Duration = Duration::from_secs(5);

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFTA_REJECT_TYPE: u16 = 1;
const NFT_REJECT_TCP_RST: u32 = 1;
const NF_ACCEPT: u32 = 1;

/// The fenced addresses, each with the moment it stopped being needed (`None` while needed).
#[derive(Debug, Default)]
pub struct FenceSet {
    entries: BTreeMap<IpAddr, Option<Instant>>,
}

impl FenceSet {
    /// Fence `address` (again) from now on.
    pub fn raise(&mut self, address: IpAddr) {
        self.entries.insert(address, None);
    }

    /// Lift the fence on `address` at once (this node is to hold it, or the VIP is gone).
    pub fn lift(&mut self, address: IpAddr) {
        self.entries.remove(&address);
    }

    /// `address` no longer needs a fence: it goes [`LINGER`] after the first such call.
    pub fn lapse(&mut self, address: IpAddr, now: Instant) {
        if let Some(since @ None) = self.entries.get_mut(&address) {
            *since = Some(now);
        }
    }

    /// Drops the fences whose linger is over.
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|_, since| since.is_none_or(|t| now.saturating_duration_since(t) < LINGER));
    }

    /// The addresses fenced now.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.entries.keys().copied().collect()
    }
}

/// The fence as the agent drives it: the wanted set, what the kernel has, and the socket. When
/// the socket cannot be opened or the kernel refuses the table (no nf_tables, no reject in the
/// prerouting hook), the agent runs without fences: addresses are still removed (fail closed),
/// clients only wait for their timeouts as before.
pub struct Fencer {
    set: FenceSet,
    applied: Option<BTreeSet<IpAddr>>,
    nft: Option<Nftables>,
    failing: bool,
}

impl Fencer {
    /// Opens the kernel side; logs and carries on without fences when it cannot.
    pub fn new() -> Self {
        let nft = match Nftables::open() {
            Ok(n) => Some(n),
            Err(error) => {
                warn!(%error, "running without the fence: clients of a VIP in transit wait for their connect timeout");
                None
            }
        };
        Self {
            set: FenceSet::default(),
            applied: None,
            nft,
            failing: false,
        }
    }

    /// Applies the planner's decision for `address`.
    pub fn want(&mut self, address: IpAddr, want: FenceWant, now: Instant) {
        match want {
            FenceWant::Raise => self.set.raise(address),
            FenceWant::Lift => self.set.lift(address),
            FenceWant::Lapse => self.set.lapse(address, now),
        }
    }

    /// Lifts the fence on `address` at once (its VIP is gone or has a new address).
    pub fn lift(&mut self, address: IpAddr) {
        self.set.lift(address);
    }

    /// Drops the fences whose linger is over.
    pub fn expire(&mut self, now: Instant) {
        self.set.expire(now);
    }

    /// Lifts every fence (at shutdown: the fence only speeds clients up, and a stale one must
    /// not outlive the agent).
    pub fn lift_all(&mut self) {
        self.set = FenceSet::default();
    }

    /// Addresses fenced in the kernel now.
    pub fn fenced(&self) -> usize {
        self.applied.as_ref().map_or(0, BTreeSet::len)
    }

    /// Makes the kernel match the set, when it differs. `Err` only when it starts failing, so a
    /// kernel without support is reported once, not on every event.
    pub fn sync(&mut self) -> Result<()> {
        let Some(nft) = &self.nft else {
            return Ok(());
        };
        let wanted = self.set.addresses();
        if self.applied.as_ref() == Some(&wanted) {
            return Ok(());
        }
        match nft.replace(&wanted) {
            Ok(()) => {
                let before = self.applied.take().unwrap_or_default();
                for address in wanted.difference(&before) {
                    info!(%address, "fence raised: TCP to the address is reset on this node until the cloud routes it elsewhere");
                }
                for address in before.difference(&wanted) {
                    info!(%address, "fence lifted");
                }
                if self.failing {
                    info!("fence working again");
                    self.failing = false;
                }
                self.applied = Some(wanted);
                Ok(())
            }
            Err(error) => {
                self.applied = None;
                if std::mem::replace(&mut self.failing, true) {
                    debug!(%error, "fence still failing");
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }
}

impl Default for Fencer {
    fn default() -> Self {
        Self::new()
    }
}

fn message(inner: NfTablesMessage, flags: u16) -> NetlinkMessage<NetfilterMessage> {
    let mut m = NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::Inet, 0, 0),
        inner,
    ));
    m.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    m
}

fn control(c: ControlMessage) -> NetlinkMessage<NetfilterMessage> {
    let mut m = NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, NFNL_SUBSYS_NFTABLES),
        c,
    ));
    m.header.flags = NLM_F_REQUEST;
    m
}

fn new_table() -> NfTablesMessage {
    NfTablesMessage::NewTable(TableMessage {
        attributes: vec![TableAttribute::Name(TABLE.into())],
    })
}

fn cmp_eq(value: Vec<u8>) -> Expressions {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(Operator::Equal),
        Cmp::Data(DataAttribute::Value(value)),
    ])
}

fn meta(key: MetaKey) -> Expressions {
    Expressions::Meta(vec![
        Meta::Key(key),
        Meta::DestinationRegister(Register::Reg1),
    ])
}

/// The expressions of `meta nfproto <v4|v6> <ip|ip6> daddr <address> meta l4proto tcp
/// reject with tcp reset`.
pub fn rule_expressions(address: IpAddr) -> Vec<Expressions> {
    let (proto, offset, octets) = match address {
        IpAddr::V4(a) => (NFPROTO_IPV4, 16, a.octets().to_vec()),
        IpAddr::V6(a) => (NFPROTO_IPV6, 24, a.octets().to_vec()),
    };
    vec![
        meta(MetaKey::Nfproto),
        cmp_eq(vec![proto]),
        Expressions::Payload(vec![
            Payload::DestinationRegister(Register::Reg1),
            Payload::Base(NFT_PAYLOAD_NETWORK_HEADER),
            Payload::Offset(offset),
            Payload::Len(octets.len() as u32),
        ]),
        cmp_eq(octets),
        meta(MetaKey::L4Proto),
        cmp_eq(vec![IPPROTO_TCP]),
        Expressions::Other {
            expression_type: "reject".into(),
            attributes: vec![DefaultNla::new(
                NFTA_REJECT_TYPE,
                NFT_REJECT_TCP_RST.to_be_bytes().to_vec(),
            )],
        },
    ]
}

/// The batch that replaces pgvip's table with one fencing exactly `fenced`: create the table
/// (a no-op when it exists), delete it, and, when anything is fenced, create it again with its
/// chain and one rule per address. The kernel applies a batch all or nothing.
pub fn batch(fenced: &BTreeSet<IpAddr>) -> Vec<NetlinkMessage<NetfilterMessage>> {
    let mut out = vec![
        control(ControlMessage::BatchBegin),
        message(new_table(), NLM_F_CREATE),
        message(
            NfTablesMessage::DeleteTable(TableMessage {
                attributes: vec![TableAttribute::Name(TABLE.into())],
            }),
            0,
        ),
    ];
    if !fenced.is_empty() {
        out.push(message(new_table(), NLM_F_CREATE));
        out.push(message(
            NfTablesMessage::NewChain(netlink_packet_netfilter::nftables::ChainMessage {
                attributes: vec![
                    ChainAttribute::Table(TABLE.into()),
                    ChainAttribute::Name(CHAIN.into()),
                    ChainAttribute::Hook(vec![
                        Hook::Number(InetHookNumber::PreRouting.into()),
                        Hook::Priority(PRIORITY as u32),
                    ]),
                    ChainAttribute::Policy(NF_ACCEPT),
                    ChainAttribute::Type("filter".into()),
                ],
            }),
            NLM_F_CREATE,
        ));
        for address in fenced {
            let expressions: Vec<ListAttribute<_>> = rule_expressions(*address)
                .into_iter()
                .map(Into::into)
                .collect();
            out.push(message(
                NfTablesMessage::NewRule(RuleMessage {
                    attributes: vec![
                        RuleAttribute::Table(TABLE.into()),
                        RuleAttribute::Chain(CHAIN.into()),
                        RuleAttribute::Expressions(expressions),
                    ],
                }),
                NLM_F_CREATE | NLM_F_APPEND,
            ));
        }
    }
    out.push(control(ControlMessage::BatchEnd));
    for (seq, m) in out.iter_mut().enumerate() {
        m.header.sequence_number = seq as u32 + 1;
        m.finalize();
    }
    out
}

/// A netfilter-netlink socket in the network namespace of the thread that opened it.
pub struct Nftables {
    socket: netlink_sys::Socket,
}

impl Nftables {
    /// Opens the socket (needs CAP_NET_ADMIN to change anything).
    pub fn open() -> Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER)
            .map_err(|e| Error::Fence(format!("cannot open a netfilter netlink socket: {e}")))?;
        socket
            .bind_auto()
            .map_err(|e| Error::Fence(format!("cannot bind the netfilter netlink socket: {e}")))?;
        Ok(Self { socket })
    }

    /// Makes the kernel's table fence exactly `fenced`, and waits for its answer.
    pub fn replace(&self, fenced: &BTreeSet<IpAddr>) -> Result<()> {
        let msgs = batch(fenced);
        let mut buf = Vec::new();
        let mut acks = BTreeSet::new();
        for m in &msgs {
            let start = buf.len();
            buf.resize(start + m.buffer_len(), 0);
            m.serialize(&mut buf[start..]);
            if m.header.flags & NLM_F_ACK != 0 {
                acks.insert(m.header.sequence_number);
            }
        }
        self.socket
            .send(&buf, 0)
            .map_err(|e| Error::Fence(format!("cannot send the nf_tables batch: {e}")))?;
        while !acks.is_empty() {
            let (reply, _) = self
                .socket
                .recv_from_full()
                .map_err(|e| Error::Fence(format!("no answer to the nf_tables batch: {e}")))?;
            let mut offset = 0;
            while offset < reply.len() {
                let parsed = NetlinkMessage::<NetfilterMessage>::deserialize(&reply[offset..])
                    .map_err(|e| Error::Fence(format!("unreadable nf_tables answer: {e}")))?;
                let header: NetlinkHeader = parsed.header;
                if header.length == 0 {
                    break;
                }
                offset += header.length as usize;
                if let NetlinkPayload::Error(err) = parsed.payload {
                    if let Some(code) = err.code {
                        return Err(Error::Fence(format!(
                            "the kernel refused the fence (errno {}): {}",
                            -code.get(),
                            std::io::Error::from_raw_os_error(-code.get())
                        )));
                    }
                    acks.remove(&header.sequence_number);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(addrs: &[&str]) -> BTreeSet<IpAddr> {
        addrs.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn kinds(msgs: &[NetlinkMessage<NetfilterMessage>]) -> Vec<u16> {
        msgs.iter().map(|m| m.header.message_type).collect()
    }

    #[test]
    fn empty_set_only_deletes_the_table() {
        let msgs = batch(&BTreeSet::new());
        // batch begin, new table, delete table, batch end.
        assert_eq!(kinds(&msgs), vec![0x10, 0x0a00, 0x0a02, 0x11]);
        assert!(msgs.iter().all(|m| m.buffer_len() >= 20));
    }

    #[test]
    fn one_rule_per_address_in_one_batch() {
        let msgs = batch(&set(&["10.0.1.100", "fd00::100"]));
        assert_eq!(
            kinds(&msgs),
            vec![0x10, 0x0a00, 0x0a02, 0x0a00, 0x0a03, 0x0a06, 0x0a06, 0x11]
        );
        let seqs: Vec<u32> = msgs.iter().map(|m| m.header.sequence_number).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn rule_matches_family_address_and_tcp() {
        let v4 = rule_expressions("10.0.1.100".parse().unwrap());
        assert_eq!(v4[1], cmp_eq(vec![NFPROTO_IPV4]));
        assert_eq!(v4[3], cmp_eq(vec![10, 0, 1, 100]));
        assert_eq!(v4[5], cmp_eq(vec![IPPROTO_TCP]));
        let v6 = rule_expressions("fd00::100".parse().unwrap());
        assert_eq!(v6[1], cmp_eq(vec![NFPROTO_IPV6]));
        assert!(matches!(&v6[2], Expressions::Payload(p) if p.contains(&Payload::Offset(24))));
        assert!(
            matches!(&v6[6], Expressions::Other { expression_type, .. } if expression_type == "reject")
        );
    }

    #[test]
    fn fence_set_lingers_after_lapse_and_lifts_at_once() {
        let a: IpAddr = "10.0.1.100".parse().unwrap();
        let b: IpAddr = "10.0.1.101".parse().unwrap();
        let t0 = Instant::now();
        let mut f = FenceSet::default();
        f.raise(a);
        f.raise(b);
        f.lapse(a, t0);
        f.lapse(a, t0 + Duration::from_secs(4)); // the first lapse counts
        f.expire(t0 + LINGER - Duration::from_millis(1));
        assert_eq!(f.addresses(), set(&["10.0.1.100", "10.0.1.101"]));
        f.expire(t0 + LINGER);
        assert_eq!(f.addresses(), set(&["10.0.1.101"]));
        f.lift(b);
        assert!(f.addresses().is_empty());
        // Raising again after a lapse makes it needed again.
        f.raise(a);
        f.lapse(a, t0);
        f.raise(a);
        f.expire(t0 + LINGER * 2);
        assert_eq!(f.addresses(), set(&["10.0.1.100"]));
        // Lapse on an address never fenced does nothing.
        f.lapse(b, t0);
        assert_eq!(f.addresses(), set(&["10.0.1.100"]));
    }
}
