//! HAProxy as users run it in front of Patroni: Debian's haproxy inside the client namespace,
//! listening on the client's own address, health-checking each member's `GET /primary` on the
//! REST port and forwarding to the one that answers 200. The configuration is rendered by a pure
//! function; starting it is a detached process whose pid file `testbed down` also stops.

use std::{path::PathBuf, process::Command};

use crate::{
    cmd::{self, spawn_detached},
    error::{Context, Result},
    layout::Layout,
};

/// The check settings users copy from Patroni's documentation.
pub const DEFAULT_SERVER: &str = "inter 3s fall 3 rise 2 on-marked-down shutdown-sessions";

/// haproxy.cfg for `layout`: one TCP listener on the client's address, one server per member.
pub fn config(layout: &Layout) -> String {
    let mut s = format!(
        "global\n    maxconn 100\n\ndefaults\n    mode tcp\n    retries 2\n    timeout client 30m\n    timeout connect 4s\n    timeout server 30m\n    timeout check 5s\n\nlisten primary\n    bind {}:5432\n    option httpchk GET /primary\n    http-check expect status 200\n    default-server {DEFAULT_SERVER}\n",
        layout.client.ip
    );
    for n in &layout.nodes {
        s.push_str(&format!(
            "    server {} {}:5432 maxconn 100 check port 8008\n",
            n.member, n.ip
        ));
    }
    s
}

fn pidfile(layout: &Layout) -> PathBuf {
    layout.path("bench-haproxy.pid")
}

/// Writes the configuration and starts haproxy in the client namespace; returns the address
/// the application connects to (port 5432).
pub fn start(layout: &Layout) -> Result<String> {
    let dir = layout.path("bench");
    std::fs::create_dir_all(&dir).ctx("creating bench dir")?;
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config(layout)).ctx("writing haproxy.cfg")?;
    cmd::run("haproxy", &["-c", "-q", "-f", &cfg.to_string_lossy()])?;
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        &layout.client.netns,
        "haproxy",
        "-db",
        "-f",
    ])
    .arg(&cfg);
    spawn_detached(&mut c, &pidfile(layout), &layout.path("logs/haproxy.log"))?;
    Ok(layout.client.ip.clone())
}

/// `haproxy -v`'s first line.
pub fn version() -> String {
    cmd::run("haproxy", &["-v"])
        .ok()
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks_primary_on_every_member_through_the_rest_port() {
        let l = Layout::standard("/tmp/x".into());
        let c = config(&l);
        assert!(c.contains("bind 10.0.10.100:5432\n"));
        assert!(c.contains("option httpchk GET /primary\n    http-check expect status 200\n"));
        assert!(
            c.contains("default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions\n")
        );
        for n in &l.nodes {
            assert!(c.contains(&format!(
                "server {} {}:5432 maxconn 100 check port 8008\n",
                n.member, n.ip
            )));
        }
        assert_eq!(c.matches(" check port 8008").count(), 3);
    }
}
