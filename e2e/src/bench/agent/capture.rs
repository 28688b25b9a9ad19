//! Watching the node from outside the agent: `ip -ts monitor address` for address events and
//! `tcpdump -tt` for ARP frames on the node's interface, both inside the node's namespace.
//! Each line carries the time the tool saw the event (wall clock, microseconds).
//!
//! Data flow: child processes' stdout → line parsers ([`parse_monitor`], [`parse_arp`], pure)
//! → [`Event`]s on a channel the bench reads. The children are killed on drop.

use std::{
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

use crate::error::{Context, Result};

/// What was observed, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The address was added.
    Added(SystemTime),
    /// The address was removed.
    Deleted(SystemTime),
    /// An ARP frame naming the address left or arrived.
    Arp(SystemTime),
}

/// Pure: an address event for `ip` in a line of `ip -ts monitor address` (timestamps in UTC:
/// the tool runs with `TZ=UTC`).
pub fn parse_monitor(line: &str, ip: &str) -> Option<Event> {
    let rest = line.strip_prefix('[')?;
    let (ts, body) = rest.split_once(']')?;
    let at = chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let at = system_time(at.and_utc().timestamp_micros())?;
    let mut words = body.split_whitespace();
    let deleted = body.trim_start().starts_with("Deleted");
    let inet = words.position(|w| w == "inet")?;
    let addr = body.split_whitespace().nth(inet + 1)?;
    if addr.split('/').next()? != ip {
        return None;
    }
    Some(if deleted {
        Event::Deleted(at)
    } else {
        Event::Added(at)
    })
}

/// Pure: an ARP frame naming `ip` in a line of `tcpdump -n -tt` (epoch seconds first).
pub fn parse_arp(line: &str, ip: &str) -> Option<Event> {
    let mut words = line.split_whitespace();
    let ts = words.next()?;
    if words.next()? != "ARP," {
        return None;
    }
    let names = line
        .split(|c: char| c.is_whitespace() || c == ',')
        .any(|w| w == ip);
    if !names {
        return None;
    }
    let (s, us) = ts.split_once('.')?;
    let micros = s.parse::<i64>().ok()? * 1_000_000 + us.get(..6)?.parse::<i64>().ok()?;
    Some(Event::Arp(system_time(micros)?))
}

fn system_time(micros: i64) -> Option<SystemTime> {
    u64::try_from(micros)
        .ok()
        .map(|m| UNIX_EPOCH + Duration::from_micros(m))
}

/// The two observers of one namespace.
pub struct Capture {
    children: Vec<Child>,
    /// Events as they are parsed.
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl Capture {
    /// Starts both observers for address `ip` on `ifname` in `netns`, and waits a moment so
    /// they are listening before the first change.
    pub async fn start(netns: &str, ifname: &str, ip: &str) -> Result<Capture> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut mon = Command::new("ip");
        mon.env("TZ", "UTC")
            .args(["-n", netns, "-ts", "monitor", "address"]);
        let mut dump = Command::new("ip");
        dump.args(["netns", "exec", netns, "tcpdump", "-i", ifname])
            .args(["-n", "-l", "-tt", "--immediate-mode", "arp"]);
        let mut children = Vec::new();
        for (mut cmd, arp) in [(mon, false), (dump, true)] {
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .ctx("starting an observer (ip monitor / tcpdump)")?;
            let out = child
                .stdout
                .take()
                .ok_or_else(|| crate::Error::Other("observer has no stdout".into()))?;
            let (tx, ip) = (tx.clone(), ip.to_string());
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let ev = if arp {
                        parse_arp(&l, &ip)
                    } else {
                        parse_monitor(&l, &ip)
                    };
                    if let Some(ev) = ev {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                }
            });
            children.push(child);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(Capture { children, events })
    }

    /// Stops both observers.
    pub async fn stop(mut self) {
        for c in &mut self.children {
            let _ = c.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(micros)
    }

    #[test]
    fn monitor_lines() {
        let ip = "10.99.0.200";
        let add =
            "[2026-11-22T06:20:28.765752] 3: ens3    inet 10.99.0.200/32 scope global ens3:pgvip";
        let del = "[2026-11-22T06:20:29.781670] Deleted 3: ens3    inet 10.99.0.200/32 scope global ens3:pgvip";
        let t = 1_795_328_428_765_752;
        assert_eq!(parse_monitor(add, ip), Some(Event::Added(at(t))));
        assert_eq!(
            parse_monitor(del, ip),
            Some(Event::Deleted(at(t + 1_015_918)))
        );
        assert_eq!(parse_monitor(add, "10.99.0.20"), None);
        assert_eq!(
            parse_monitor("       valid_lft forever preferred_lft forever", ip),
            None
        );
        assert_eq!(
            parse_monitor(
                "[2026-11-22T06:20:29.435552] 3: ens3    inet6 fe80::1/64 scope link",
                ip
            ),
            None
        );
    }

    #[test]
    fn arp_lines() {
        let ip = "10.99.0.200";
        let l = "1795328428.770539 ARP, Request who-has 10.99.0.200 (ff:ff:ff:ff:ff:ff) tell 10.99.0.200, length 28";
        assert_eq!(
            parse_arp(l, ip),
            Some(Event::Arp(at(1_795_328_428_770_539)))
        );
        assert_eq!(parse_arp(l, "10.99.0.20"), None);
        assert_eq!(
            parse_arp("1795328428.770539 IP 10.99.0.10 > 10.99.0.200: ICMP", ip),
            None
        );
        assert_eq!(parse_arp("listening on ens3", ip), None);
    }
}
