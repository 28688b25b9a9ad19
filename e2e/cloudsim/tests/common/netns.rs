//! Network-namespace topology shared by the fabric tests (root only): `fab` holds bridge
//! `br0` with ports `pa`, `pb` (the interfaces of n1, n2, MACs `02:00:17:00:00:01`/`02`)
//! and `pcl` (client); `a`, `b`, `cl` each have `eth0` in 10.0.10.0/24 and a TCP listener
//! on :5432 in `a` and `b` answering "A" / "B". Everything is created here and deleted when
//! the [`Testbed`] drops (also when a test panics); nothing touches the root namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The VIP of the example inventories.
pub const VIP: &str = "10.0.10.200";
static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn must(args: &[&str]) -> String {
    sh(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Namespaces and listener threads, torn down on drop (also when the test panics).
pub struct Testbed {
    pub fab: String,
    pub a: String,
    pub b: String,
    pub cl: String,
    stop: Arc<AtomicBool>,
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        for ns in [&self.fab, &self.a, &self.b, &self.cl] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

pub fn can_run() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    let tools = ["ip", "nft", "arping"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !(root && tools) {
        eprintln!("skipped: needs root, ip, nft and arping (iputils-arping)");
    }
    root && tools
}

pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns file");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// Serves `name` on every TCP connection to port 5432 inside `ns` until `stop`.
fn listen(ns: &str, name: &'static str, stop: Arc<AtomicBool>) {
    let (tx, rx) = std::sync::mpsc::channel();
    in_netns(ns, move || {
        let l = TcpListener::bind("0.0.0.0:5432").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        tx.send(()).expect("ready");
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.write_all(name.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("listener ready");
}

/// Who answers a TCP connection from the client namespace to `ip:5432` (None = nobody).
pub fn who_answers(tb: &Testbed, ip: &str) -> Option<String> {
    let addr: SocketAddr = format!("{ip}:5432").parse().unwrap();
    in_netns(&tb.cl, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        Some(buf)
    })
    .join()
    .unwrap()
}

pub fn testbed() -> Testbed {
    let id = format!(
        "csimt-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let tb = Testbed {
        fab: format!("{id}-fab"),
        a: format!("{id}-a"),
        b: format!("{id}-b"),
        cl: format!("{id}-cl"),
        stop: Arc::new(AtomicBool::new(false)),
    };
    for ns in [&tb.fab, &tb.a, &tb.b, &tb.cl] {
        must(&["ip", "netns", "add", ns]);
        must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    must(&["ip", "-n", &tb.fab, "link", "add", "br0", "type", "bridge"]);
    must(&["ip", "-n", &tb.fab, "link", "set", "br0", "up"]);
    for (ns, port, mac, ip) in [
        (&tb.a, "pa", "02:00:17:00:00:01", "10.0.10.11/24"),
        (&tb.b, "pb", "02:00:17:00:00:02", "10.0.10.12/24"),
        (&tb.cl, "pcl", "02:00:17:00:00:99", "10.0.10.50/24"),
    ] {
        must(&[
            "ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns",
            &tb.fab,
        ]);
        must(&["ip", "-n", ns, "link", "set", "eth0", "address", mac]);
        must(&["ip", "-n", ns, "addr", "add", ip, "dev", "eth0"]);
        must(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
        must(&["ip", "-n", &tb.fab, "link", "set", port, "master", "br0"]);
        must(&["ip", "-n", &tb.fab, "link", "set", port, "up"]);
    }
    listen(&tb.a, "A", tb.stop.clone());
    listen(&tb.b, "B", tb.stop.clone());
    tb
}

pub fn add_vip_and_garp(ns: &str) {
    must(&[
        "ip",
        "-n",
        ns,
        "addr",
        "add",
        &format!("{VIP}/32"),
        "dev",
        "eth0",
    ]);
    garp(ns);
}

pub fn garp(ns: &str) {
    must(&[
        "ip", "netns", "exec", ns, "arping", "-q", "-U", "-c", "2", "-w", "2", "-I", "eth0", "-s",
        VIP, VIP,
    ]);
}
