//! The crate's only `unsafe`: building a `sockaddr_ll` for AF_PACKET sockets, which neither
//! `socket2` nor `nix` can construct safely. Everything else about the sockets goes through
//! `socket2`'s safe API.
//!
//! Data flow: `announce` sends finished Ethernet frames through [`PacketSocket::send_frame`];
//! tests capture them with [`PacketSocket::capture`].
#![allow(unsafe_code)]

use std::io::{self, Read};
use std::mem::size_of;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

/// `ETH_P_ALL`: every protocol.
pub const ETH_P_ALL: u16 = 0x0003;

/// An AF_PACKET `SOCK_RAW` socket (frames include the Ethernet header).
pub struct PacketSocket {
    socket: Socket,
}

impl PacketSocket {
    /// A send-only socket: protocol 0, so the kernel queues no received frames to it.
    /// Needs CAP_NET_RAW. Non-blocking: a full device queue is an error, never a stall.
    pub fn sender() -> io::Result<Self> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)?;
        socket.set_nonblocking(true)?;
        Ok(Self { socket })
    }

    /// Sends one complete frame out of interface `ifindex`.
    pub fn send_frame(
        &self,
        ifindex: u32,
        ethertype: u16,
        dst: [u8; 6],
        frame: &[u8],
    ) -> io::Result<()> {
        let sent = self
            .socket
            .send_to(frame, &link_addr(ifindex, ethertype, dst))?;
        if sent == frame.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "short send: {sent} of {} bytes",
                frame.len()
            )))
        }
    }

    /// A socket receiving every frame that arrives on interface `ifindex` (tests and
    /// diagnostics), with a receive timeout.
    pub fn capture(ifindex: u32, timeout: Duration) -> io::Result<Self> {
        let proto = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(proto))?;
        socket.bind(&link_addr(ifindex, ETH_P_ALL, [0; 6]))?;
        socket.set_read_timeout(Some(timeout))?;
        Ok(Self { socket })
    }

    /// Receives one frame into `buf`; `WouldBlock`/`TimedOut` after the capture timeout.
    pub fn recv_frame(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }
}

/// A `sockaddr_ll` naming interface `ifindex`, `protocol` (host order) and destination `dst`.
fn link_addr(ifindex: u32, protocol: u16, dst: [u8; 6]) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's `sockaddr_*` types, and `view_as`
    // asserts that it fits in the (zeroed, suitably aligned) storage.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dst);
    // SAFETY: the storage holds an initialised `sockaddr_ll` whose family is AF_PACKET, and
    // the length passed is exactly that structure's size.
    unsafe { SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t) }
}
