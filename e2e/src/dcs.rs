//! Which DCS the testbed's Patroni uses, and the bench-only etcd DCS.
//!
//! The testbed's Patroni uses the Kubernetes DCS (the leader lock is a ConfigMap or Endpoints),
//! which pgvip follows. Tools that read etcd instead (Debian's vip-manager 1.0.2 reads etcd's
//! v2 keys API only) get a separate etcd: Debian's etcd 3.4 with the v2 API enabled (the
//! apiserver's etcd is 3.6, which has no v2 API), in the controller host's namespace on the
//! subnet, so Patroni and every node reach it over the fabric as they would a real DCS. Patroni
//! keeps its keys under [`NAMESPACE`] (its default), the leader key being
//! `/service/<scope>/leader` with the leader's member name as value.

use std::{process::Command, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    cmd::{self, spawn_detached},
    error::{Context, Error, Result},
    layout::Layout,
};

/// Which DCS Patroni uses.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum Dcs {
    /// The Kubernetes DCS against the testbed's apiserver (the default; what pgvip follows).
    #[default]
    Kubernetes,
    /// The bench-only etcd ([`start`]), through etcd's v2 API.
    Etcd,
}

/// Patroni's key prefix in etcd (its default `namespace`).
pub const NAMESPACE: &str = "/service/";

/// The etcd executable (Debian's `etcd-server`, 3.4: the last with the v2 API).
pub const ETCD: &str = "/usr/bin/etcd";

/// Client port of the DCS etcd, on the controller host's subnet address.
pub const CLIENT_PORT: u16 = 2379;

/// Peer port of the DCS etcd (one member).
pub const PEER_PORT: u16 = 2380;

/// The DCS etcd's client URL, as Patroni and vip-manager dial it.
pub fn endpoint(layout: &Layout) -> String {
    format!("http://{}:{CLIENT_PORT}", layout.controller_host.ip)
}

/// Patroni's `etcd.host` value (`host:port`).
pub fn host(layout: &Layout) -> String {
    format!("{}:{CLIENT_PORT}", layout.controller_host.ip)
}

/// The leader key Patroni writes (pure): `/service/<scope>/leader`.
pub fn leader_key(layout: &Layout) -> String {
    format!("{NAMESPACE}{}/leader", layout.scope)
}

/// Starts the DCS etcd in the controller host's namespace and waits until it answers
/// `/health` from the client namespace. Its pid file lives in the state directory, so
/// teardown stops it with everything else.
pub async fn start(layout: &Layout) -> Result<()> {
    let data = layout.path("dcs-etcd");
    std::fs::create_dir_all(&data).ctx("creating the DCS etcd's data dir")?;
    let client = endpoint(layout);
    let peer = format!("http://{}:{PEER_PORT}", layout.controller_host.ip);
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &layout.controller_host.netns, ETCD])
        .args(["--name", "dcs", "--enable-v2=true"])
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("dcs={peer}")]);
    spawn_detached(
        &mut c,
        &layout.path("dcs-etcd.pid"),
        &layout.path("logs/dcs-etcd.log"),
    )?;
    crate::cluster::wait_for(
        "the DCS etcd's /health",
        Duration::from_secs(30),
        || async {
            get(layout, "/health")
                .ok()
                .filter(|b| b.contains("true"))
                .map(|_| ())
        },
    )
    .await
}

/// GET `path` from the DCS etcd, from the client namespace (the root namespace cannot reach
/// testbed addresses).
fn get(layout: &Layout, path: &str) -> Result<String> {
    let url = format!("{}{path}", endpoint(layout));
    cmd::run_in(
        &layout.client.netns,
        "curl",
        &["-sS", "--max-time", "2", &url],
    )
}

/// The member named by Patroni's leader key, if one holds it.
pub fn leader(layout: &Layout) -> Result<Option<String>> {
    let body = get(layout, &format!("/v2/keys{}", leader_key(layout)))?;
    Ok(leader_from_v2(&body))
}

/// The value of an etcd v2 keys answer (`{"action":"get","node":{"value":…}}`), if it has a
/// non-empty one (pure).
pub fn leader_from_v2(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["node"]["value"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Patroni's DCS section for `dcs` (pure): the `kubernetes` block is the caller's; for etcd,
/// the `etcd` block and the key prefix.
pub fn patroni_etcd_section(layout: &Layout) -> serde_json::Value {
    serde_json::json!({ "host": host(layout) })
}

/// Why a DCS cannot be used, if it cannot (pure): etcd needs Debian's etcd 3.4.
pub fn check_installed(dcs: Dcs) -> Result<()> {
    if dcs == Dcs::Etcd && !std::path::Path::new(ETCD).exists() {
        return Err(Error::Other(format!(
            "{ETCD} missing: install Debian's etcd-server (.ci/setup does)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_key_and_value() {
        let l = Layout::standard("/s".into());
        assert_eq!(leader_key(&l), format!("/service/{}/leader", l.scope));
        assert_eq!(
            endpoint(&l),
            format!("http://{}:2379", l.controller_host.ip)
        );
        let got =
            r#"{"action":"get","node":{"key":"/service/pgvip/leader","value":"pg-1","ttl":18}}"#;
        assert_eq!(leader_from_v2(got).as_deref(), Some("pg-1"));
        let missing =
            r#"{"errorCode":100,"message":"Key not found","cause":"/service/pgvip/leader"}"#;
        assert_eq!(leader_from_v2(missing), None);
        assert_eq!(leader_from_v2(r#"{"node":{"value":""}}"#), None);
        assert_eq!(leader_from_v2("not json"), None);
    }
}
