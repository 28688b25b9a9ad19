//! Loopback forwarders: a listener on an address inside a testbed namespace that relays every
//! connection to an address in the harness's own namespace (normally loopback). This is how
//! processes in node namespaces reach the apiserver and the OCI simulator on 127.0.0.1 without
//! adding any address or route to the machine's own interfaces.
//!
//! The listening socket is created on a short-lived thread that first joins the target network
//! namespace (a socket stays in the namespace it was created in); the relay connections are
//! made from the runtime's threads, which never leave the harness's namespace.

use std::{fs::File, net::SocketAddr, path::Path};

use nix::sched::{setns, CloneFlags};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::error::{Context, Error, Result};

/// Binds `listen` inside network namespace `netns` (from `/var/run/netns/<netns>`).
pub fn bind_in(netns: &str, listen: SocketAddr) -> Result<std::net::TcpListener> {
    let path = Path::new("/var/run/netns").join(netns);
    let ns = File::open(&path).ctx(format!("opening {}", path.display()))?;
    let handle = std::thread::spawn(move || -> Result<std::net::TcpListener> {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Other(format!("setns: {e}")))?;
        let l = std::net::TcpListener::bind(listen).ctx(format!("binding {listen}"))?;
        l.set_nonblocking(true).ctx("non-blocking listener")?;
        Ok(l)
    });
    handle
        .join()
        .map_err(|_| Error::Other("forwarder bind thread panicked".into()))?
}

/// Starts relaying connections from `listen` inside `netns` to `target`.
pub fn spawn(
    netns: &str,
    listen: SocketAddr,
    target: SocketAddr,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::from_std(bind_in(netns, listen)?).ctx("registering listener")?;
    let netns = netns.to_string();
    Ok(tokio::spawn(async move {
        loop {
            let (mut inbound, _) = match listener.accept().await {
                Ok(c) => c,
                Err(error) => {
                    warn!(%netns, %listen, ?error, "forwarder accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                match TcpStream::connect(target).await {
                    Ok(mut outbound) => {
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    Err(error) => debug!(%target, ?error, "forwarder target refused"),
                }
            });
        }
    }))
}

/// Runs `f` on a new thread that first joins network namespace `netns`; every socket `f` opens
/// lives in that namespace.
pub fn spawn_in_netns<F>(netns: &str, f: F) -> Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let path = Path::new("/var/run/netns").join(netns);
    let ns = File::open(&path).ctx(format!("opening {}", path.display()))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || match setns(&ns, CloneFlags::CLONE_NEWNET) {
        Ok(()) => {
            let _ = tx.send(Ok(()));
            f()
        }
        Err(e) => {
            let _ = tx.send(Err(Error::Other(format!("setns: {e}"))));
        }
    });
    rx.recv()
        .map_err(|_| Error::Other("netns thread died".into()))??;
    Ok(h)
}
