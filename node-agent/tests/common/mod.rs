//! Helpers shared by the root-only integration tests: every test runs on its own thread in a
//! fresh, unnamed network namespace (`unshare(CLONE_NEWNET)`), which the kernel destroys when
//! the thread and its sockets are gone, so nothing is ever left behind, even on a panic.
//! Inside it, the fixtures below make links and addresses, VIP views, watch inputs and an
//! agent wired to that namespace's sockets.
#![allow(dead_code)]

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use nix::sched::{unshare, CloneFlags};
use pgvip_node_agent::agent::{Agent, AgentConfig, Input, ReportRequest};
use pgvip_node_agent::announce::Announcer;
use pgvip_node_agent::metrics::Metrics;
use pgvip_node_agent::model::{VipKey, VipView};
use pgvip_node_agent::netlink::{AddOutcome, Netlink};
use pgvip_node_agent::netstate::{IfAddr, Link};
use rtnetlink::{LinkUnspec, LinkVeth};
use tokio::sync::mpsc;

/// The node the agent under test runs on.
pub const NODE: &str = "w1";

/// Runs `f` on a new thread inside a fresh network namespace with a current-thread runtime
/// (so every socket the test and the code under test open lives in that namespace).
pub fn in_netns<F, Fut, T>(f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET): run the tests as root");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f())
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Creates an up Ethernet link called `name` (one end of a veth pair whose other end,
/// `<name>-p` or `p<n>` when that is too long, is also up; this kernel has no dummy links)
/// and returns it as the agent sees it.
pub async fn test_link(net: &Netlink, name: &str) -> Link {
    static PEERS: AtomicU32 = AtomicU32::new(0);
    let mut peer = format!("{name}-p");
    if peer.len() > 15 {
        peer = format!("p{}", PEERS.fetch_add(1, Ordering::Relaxed));
    }
    net.handle()
        .link()
        .add(LinkVeth::new(name, &peer).up().build())
        .execute()
        .await
        .expect("create veth pair");
    set_up(net, &link(net, &peer).await).await;
    link(net, name).await
}

/// Sets `link` administratively up.
pub async fn set_up(net: &Netlink, link: &Link) {
    net.handle()
        .link()
        .set(LinkUnspec::new_with_index(link.index).up().build())
        .execute()
        .await
        .unwrap_or_else(|e| panic!("set {} up: {e}", link.name));
}

/// The link called `name`.
pub async fn link(net: &Netlink, name: &str) -> Link {
    net.links()
        .await
        .expect("dump links")
        .into_iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no link {name}"))
}

/// Adds an address the way an administrator would (`ip addr add`): no pgvip mark.
pub async fn add_foreign(net: &Netlink, link: &Link, addr: &str, prefix: u8) {
    let ip: IpAddr = addr.parse().unwrap();
    let mut req = net.handle().address().add(link.index, ip, prefix);
    if ip.is_ipv6() {
        // Skip DAD so the address is usable (and its subnet "connected") at once.
        use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute().await.expect("add foreign address");
}

/// Adds `addr` the way the agent does (pgvip's mark, host prefix).
pub async fn add_owned(net: &Netlink, link: &Link, addr: &str) -> AddOutcome {
    net.add_owned(link, addr.parse().unwrap())
        .await
        .expect("add owned address")
}

/// Every address equal to `addr` on the node.
pub async fn find(net: &Netlink, addr: &str) -> Vec<IfAddr> {
    let ip: IpAddr = addr.parse().unwrap();
    net.addresses()
        .await
        .expect("dump addresses")
        .into_iter()
        .filter(|a| a.address == ip)
        .collect()
}

/// Raw `IFA_FLAGS` of the address `addr` (to check IFA_F_NODAD / tentative state).
pub async fn flags_of(net: &Netlink, addr: &str) -> u32 {
    use rtnetlink::packet_route::address::AddressAttribute;
    let ip: IpAddr = addr.parse().unwrap();
    let msgs: Vec<_> = net
        .handle()
        .address()
        .get()
        .set_address_filter(ip)
        .execute()
        .try_collect()
        .await
        .expect("dump");
    msgs.iter()
        .flat_map(|m| m.attributes.iter())
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(f.bits()),
            _ => None,
        })
        .expect("IFA_FLAGS")
}

/// A VIP view for tests.
pub fn vip(
    name: &str,
    address: &str,
    desired: Option<&str>,
    assigned: Option<&str>,
    at: Option<&str>,
) -> VipView {
    VipView {
        key: VipKey {
            namespace: "db".into(),
            name: name.into(),
        },
        address: address.parse().map_err(|_| address.to_string()),
        desired_node: desired.map(Into::into),
        assigned_node: assigned.map(Into::into),
        assigned_at: at.map(Into::into),
        garp_count: 1,
        garp_interval: Duration::from_millis(10),
        interface: None,
        reported: None,
        cloud_failure: None,
        drain_node: None,
        local_primary_url: None,
    }
}

/// An agent for [`NODE`] watching every namespace, on this namespace's netlink and packet
/// sockets; also returns the receiving end of its reports and its metrics.
pub fn new_agent(
    hold: Duration,
    resync: Duration,
    release_on_exit: bool,
) -> (Agent, mpsc::UnboundedReceiver<ReportRequest>, Metrics) {
    let metrics = Metrics::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let agent = Agent::new(
        AgentConfig {
            node: NODE.into(),
            hold,
            resync,
            scopes: vec![None],
            release_on_exit,
        },
        Netlink::connect().unwrap(),
        Announcer::open(metrics.clone()).unwrap(),
        tx,
        metrics.clone(),
    );
    (agent, rx, metrics)
}

/// The watch's initial list: exactly `vips` exist, received now.
pub fn relisted(vips: Vec<VipView>) -> Input {
    Input::Relisted {
        scope: None,
        vips,
        received: Instant::now(),
    }
}

/// The watch saw `vip` added or changed, now.
pub fn applied(vip: VipView) -> Input {
    Input::Applied {
        vip: Box::new(vip),
        received: Instant::now(),
    }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
