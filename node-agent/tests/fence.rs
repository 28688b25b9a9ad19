//! The fence against a real kernel: a node namespace and a client namespace joined by a veth
//! pair, the client routing the VIP through the node (as OCI routes a VIP to the VNIC that still
//! holds it). Without a fence the client's connect to the VIP black-holes until its timeout;
//! with one it is refused at once (TCP reset); lifting it restores the black hole. Run as root:
//! `cargo test -p pgvip-node-agent --test fence`.

mod common;

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{add_foreign, in_netns, link, set_up};
use nix::sched::{unshare, CloneFlags};
use pgvip_node_agent::fence::Nftables;
use pgvip_node_agent::netlink::Netlink;
use rtnetlink::{LinkUnspec, LinkVeth, RouteMessageBuilder};

/// What one connect attempt from the client saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Refused (a reset) within the time.
    Refused,
    /// Nothing came back within the time.
    TimedOut,
    /// Anything else (a bug in the fixture).
    Other(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);

/// The client side: its own namespace, `cl0` moved in by the node side, a route to the VIPs
/// through the node's address; answers each request with what a connect to it saw.
fn client(
    fd_tx: mpsc::Sender<OwnedFd>,
    ready: mpsc::Receiver<()>,
    asks: mpsc::Receiver<SocketAddr>,
    answers: mpsc::Sender<(Seen, Duration)>,
) {
    unshare(CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    let fd = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
    fd_tx.send(OwnedFd::from(fd)).expect("send netns");
    ready.recv().expect("node side ready");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let net = Netlink::connect().expect("netlink");
        let cl0 = link(&net, "cl0").await;
        set_up(&net, &cl0).await;
        add_foreign(&net, &cl0, "10.0.1.2", 24).await;
        add_foreign(&net, &cl0, "fd00::2", 64).await;
        let v4 = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix("10.0.1.100".parse().unwrap(), 32)
            .gateway("10.0.1.1".parse().unwrap())
            .build();
        net.handle()
            .route()
            .add(v4)
            .execute()
            .await
            .expect("v4 route");
        let v6 = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix("fd00::100".parse().unwrap(), 128)
            .gateway("fd00::1".parse().unwrap())
            .build();
        net.handle()
            .route()
            .add(v6)
            .execute()
            .await
            .expect("v6 route");
    });
    for to in asks {
        let start = Instant::now();
        let seen = match TcpStream::connect_timeout(&to, CONNECT_TIMEOUT) {
            Ok(_) => Seen::Other("connected".into()),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Seen::Refused,
            Err(e) if e.kind() == ErrorKind::TimedOut => Seen::TimedOut,
            Err(e) => Seen::Other(e.to_string()),
        };
        let _ = answers.send((seen, start.elapsed()));
    }
}

#[test]
fn fence_turns_a_black_hole_into_a_reset_and_lifts() {
    in_netns(|| async {
        let (fd_tx, fd_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (ask_tx, ask_rx) = mpsc::channel();
        let (ans_tx, ans_rx) = mpsc::channel();
        let client = std::thread::spawn(move || client(fd_tx, ready_rx, ask_rx, ans_tx));
        let client_ns = fd_rx.recv().expect("client netns");

        let net = Netlink::connect().expect("netlink");
        net.handle()
            .link()
            .add(LinkVeth::new("eth0", "cl0").up().build())
            .execute()
            .await
            .expect("veth");
        let peer = link(&net, "cl0").await;
        net.handle()
            .link()
            .set(
                LinkUnspec::new_with_index(peer.index)
                    .setns_by_fd(client_ns.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .expect("move cl0 to the client");
        let eth0 = link(&net, "eth0").await;
        set_up(&net, &eth0).await;
        add_foreign(&net, &eth0, "10.0.1.1", 24).await;
        add_foreign(&net, &eth0, "fd00::1", 64).await;
        ready_tx.send(()).expect("client");

        let nft = Nftables::open().expect("netfilter socket");
        let ask = |to: &str| {
            ask_tx.send(to.parse().unwrap()).expect("ask");
            ans_rx.recv().expect("answer")
        };
        let v4 = "10.0.1.100:5432";
        let v6 = "[fd00::100]:5432";

        // The VIP is not on the node: what arrives is dropped (no forwarding), silently.
        assert_eq!(ask(v4).0, Seen::TimedOut, "no fence: a black hole");

        let fenced: BTreeSet<IpAddr> = ["10.0.1.100", "fd00::100"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        nft.replace(&fenced).expect("raise the fence");
        for to in [v4, v6] {
            let (seen, took) = ask(to);
            assert_eq!(seen, Seen::Refused, "{to}: fenced, so reset");
            assert!(
                took < Duration::from_millis(300),
                "{to}: refused in {took:?}"
            );
        }
        // Replacing the set is idempotent, and other ports and addresses are untouched.
        nft.replace(&fenced).expect("raise it again");
        assert_eq!(ask("10.0.1.101:5432").0, Seen::TimedOut, "not fenced");

        // Only the IPv4 VIP stays fenced.
        let only_v4: BTreeSet<IpAddr> = ["10.0.1.100".parse().unwrap()].into();
        nft.replace(&only_v4).expect("narrow the fence");
        assert_eq!(ask(v4).0, Seen::Refused);
        assert_eq!(ask(v6).0, Seen::TimedOut, "v6 fence lifted");

        nft.replace(&BTreeSet::new()).expect("lift the fence");
        assert_eq!(ask(v4).0, Seen::TimedOut, "lifted: a black hole again");
        // Lifting what is already gone succeeds.
        nft.replace(&BTreeSet::new()).expect("lift again");

        drop(ask_tx);
        client.join().expect("client thread");
    });
}
