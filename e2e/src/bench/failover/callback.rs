//! The common alternative to pgvip: a Patroni callback script. Patroni runs it on start, stop and
//! role change as the `postgres` user inside the node; on becoming primary it moves the VIP in
//! the cloud with a one-shot CLI call (`bench oci-assign`: a fresh process that reads the API key
//! and signs its own requests every time, as the OCI CLI does), then adds the address and sends a
//! gratuitous ARP with iputils `arping`; otherwise it removes the address. The script is rendered
//! by a pure function; `install` writes it per member with the credentials it needs, makes a
//! private set-user-ID copy of `ip` (what `sudo ip` grants in the usual setup; `ip` drops file
//! capabilities for non-root callers) and reloads Patroni with the callback configured;
//! `uninstall` reloads Patroni without it.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use pgvip_oci::{AuthConfig, MoveRequest, OciClient, OciConfig};

use crate::{
    cloud::CONTROLLER_USER,
    cmd::run,
    error::{Context, Error, Result},
    layout::{Layout, NodeLayout},
    patroni::PatroniOptions,
    Testbed,
};

/// Arguments of the one-shot cloud move (`bench oci-assign`), like `oci network vnic
/// assign-private-ip --unassign-if-already-assigned`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AssignArgs {
    /// The VIP.
    #[arg(long)]
    pub ip: String,
    /// Subnet OCID of the VIP.
    #[arg(long)]
    pub subnet: String,
    /// Instance OCID of the node that should hold it.
    #[arg(long)]
    pub instance: String,
    /// Region.
    #[arg(long)]
    pub region: String,
    /// Core Services endpoint.
    #[arg(long)]
    pub endpoint: String,
    /// Extra CA bundle (PEM) for the endpoint.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// Tenancy OCID.
    #[arg(long)]
    pub tenancy: String,
    /// User OCID.
    #[arg(long)]
    pub user: String,
    /// API key fingerprint.
    #[arg(long)]
    pub fingerprint: String,
    /// API private key (PEM).
    #[arg(long)]
    pub key_file: PathBuf,
}

/// Performs the move once and prints where the address is.
pub async fn oci_assign(a: &AssignArgs) -> Result<()> {
    let ip: IpAddr =
        a.ip.parse()
            .map_err(|e| Error::Other(format!("--ip {}: {e}", a.ip)))?;
    let mut cfg = OciConfig::new(
        Some(a.region.clone()),
        AuthConfig::ApiKey {
            tenancy: a.tenancy.clone(),
            user: a.user.clone(),
            fingerprint: a.fingerprint.clone(),
            key_path: a.key_file.clone(),
            passphrase_path: None,
        },
    );
    cfg.iaas_endpoint = Some(a.endpoint.clone());
    cfg.extra_ca_pem = Some(std::fs::read(&a.ca_file).ctx("reading the CA bundle")?);
    let oci = OciClient::new(cfg)
        .await
        .map_err(|e| Error::Other(format!("OCI client: {e}")))?;
    let done = oci
        .ensure_assigned(&MoveRequest {
            ip,
            subnet_id: a.subnet.clone(),
            provider_id: a.instance.clone(),
            display_name: None,
        })
        .await
        .map_err(|e| Error::Other(format!("assign {ip}: {e}")))?;
    println!(
        "{} on {} (changed: {})",
        done.ip, done.vnic_id, done.changed
    );
    Ok(())
}

/// Paths the script uses.
#[derive(Clone, Debug)]
pub struct ScriptPaths {
    /// Directory with the key, CA, `ip` copy and logs.
    pub dir: PathBuf,
    /// The bench binary (provides `oci-assign`).
    pub cli: PathBuf,
    /// `ip` that may change addresses (set-user-ID root copy).
    pub ip: PathBuf,
    /// iputils arping (has CAP_NET_RAW as installed).
    pub arping: PathBuf,
}

/// The callback script of `node` (pure). Patroni calls it with `<action> <role> <scope>`.
pub fn script(layout: &Layout, node: &NodeLayout, p: &ScriptPaths, fingerprint: &str) -> String {
    let d = p.dir.display();
    format!(
        r#"#!/bin/bash
# Patroni callback for {member}: <action> <role> <scope>.
action=$1 role=$2
exec >>"{d}/callback-{member}.log" 2>&1
echo "$(date +%T.%N) $action $role"
case "$action:$role" in
  on_stop:*) {ip} addr del {vip}/32 dev {ifname} 2>/dev/null ;;
  *:primary|*:master|*:promoted)
    {cli} oci-assign --ip {vip} --subnet {subnet} --instance {instance} \
      --region {region} --endpoint https://127.0.0.1:{port} --ca-file {d}/ca.crt \
      --tenancy {tenancy} --user {user} --fingerprint {fingerprint} --key-file {d}/api-key.pem || exit 1
    {ip} addr add {vip}/32 dev {ifname}
    {arping} -U -c 1 -I {ifname} {vip} >/dev/null
    echo "$(date +%T.%N) done"
    ;;
  *) {ip} addr del {vip}/32 dev {ifname} 2>/dev/null ;;
esac
exit 0
"#,
        member = node.member,
        ip = p.ip.display(),
        cli = p.cli.display(),
        arping = p.arping.display(),
        vip = layout.vip,
        ifname = node.ifname,
        subnet = layout.subnet_id,
        instance = node.instance_id,
        region = layout.region,
        port = layout.oci_port,
        tenancy = layout.tenancy_id,
        user = CONTROLLER_USER,
    )
}

fn dir(layout: &Layout) -> PathBuf {
    layout.path("bench-callback")
}

fn patroni_options(tb: &Testbed, callback: Option<String>) -> PatroniOptions {
    PatroniOptions {
        flavor: tb.flavor,
        use_endpoints: tb.use_endpoints,
        callback,
        ..Default::default()
    }
}

/// Rewrites every member's config (with or without the callback) and reloads Patroni.
async fn reconfigure(tb: &Testbed, callback: Option<String>) -> Result<()> {
    // `patronictl reload` needs every member's REST API: a member killed by the previous
    // measurement must be back first.
    for n in &tb.layout.nodes {
        if !crate::cmd::alive(&tb.layout.path(&format!("patroni-{}.pid", n.member))) {
            tb.start_member(n)?;
        }
    }
    tb.wait_healthy(Duration::from_secs(120)).await?;
    crate::patroni::prepare(
        &tb.layout,
        &patroni_options(tb, callback),
        &tb.layout.path("kubeconfig-patroni"),
    )?;
    tb.patronictl(&["reload", &tb.layout.scope, "--force"])?;
    // The REST call returns before every member has re-read its file.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Writes the scripts and credentials and configures Patroni to run them.
pub async fn install(tb: &Testbed) -> Result<()> {
    let l = &tb.layout;
    let d = dir(l);
    std::fs::create_dir_all(&d).ctx("creating callback dir")?;
    let paths = ScriptPaths {
        dir: d.clone(),
        // By its build path, not this process's image, so a rebuild during a run still works.
        cli: crate::pgvip::binary("bench")?,
        ip: d.join("ip"),
        arping: "/usr/bin/arping".into(),
    };
    for f in ["api-key.pem", "ca.crt"] {
        std::fs::copy(l.path(&format!("oci/{f}")), d.join(f)).ctx(format!("copying {f}"))?;
    }
    std::fs::copy("/usr/sbin/ip", &paths.ip).ctx("copying ip")?;
    let fp = std::fs::read_to_string(l.path("oci/api-key.fingerprint")).ctx("fingerprint")?;
    for n in &l.nodes {
        let p = d.join(format!("callback-{}.sh", n.member));
        std::fs::write(&p, script(l, n, &paths, fp.trim())).ctx("writing callback")?;
        run("chmod", &["0755", &p.to_string_lossy()])?;
    }
    run("chown", &["-R", "postgres:postgres", &d.to_string_lossy()])?;
    run("chmod", &["0700", &d.to_string_lossy()])?;
    // Root-owned and set-user-ID, like a sudo rule for `ip`; removed with the state directory.
    run("chown", &["root:root", &paths.ip.to_string_lossy()])?;
    run("chmod", &["4755", &paths.ip.to_string_lossy()])?;
    let cmd = d
        .join("callback-{member}.sh")
        .to_string_lossy()
        .into_owned();
    reconfigure(tb, Some(cmd)).await
}

/// Reloads Patroni without the callback (the scripts stay until teardown).
pub async fn uninstall(tb: &Testbed) -> Result<()> {
    reconfigure(tb, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_moves_then_configures_and_announces_only_on_promotion() {
        let l = Layout::standard("/s".into());
        let p = ScriptPaths {
            dir: "/s/cb".into(),
            cli: "/b/bench".into(),
            ip: "/s/cb/ip".into(),
            arping: "/usr/bin/arping".into(),
        };
        let s = script(&l, &l.nodes[1], &p, "aa:bb");
        let promote = s
            .find("*:primary|*:master|*:promoted)")
            .unwrap_or(usize::MAX);
        let assign = s.find("/b/bench oci-assign --ip 10.0.10.200").unwrap_or(0);
        let add = s
            .find("/s/cb/ip addr add 10.0.10.200/32 dev ens3\n")
            .unwrap_or(0);
        let garp = s
            .find("/usr/bin/arping -U -c 1 -I ens3 10.0.10.200")
            .unwrap_or(0);
        assert!(promote < assign && assign < add && add < garp, "{s}");
        assert!(s.contains(&format!("--instance {}", l.nodes[1].instance_id)));
        assert!(s.contains("--fingerprint aa:bb --key-file /s/cb/api-key.pem || exit 1"));
        assert!(s.contains("on_stop:*) /s/cb/ip addr del 10.0.10.200/32 dev ens3"));
        assert!(s.contains("callback-pg-1.log"));
    }
}
